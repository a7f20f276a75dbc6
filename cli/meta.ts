/**
 * `ckpt meta`: print a tensor file's metadata, or edit a safetensors file's
 * metadata in place.
 *
 * @module
 */

import { type Command, EXIT } from "./_command.ts";
import { expectPositionals, formatTable, parseCommandArgs, printJson } from "./_output.ts";
import { UsageError } from "../lib/errors.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { editSafetensorsMetadata } from "../formats/safetensors/edit_safetensors_metadata.ts";

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function printMetadata(metadata: Record<string, string>): void {
  const entries = Object.entries(metadata);
  if (entries.length === 0) console.log("(no metadata)");
  else console.log(formatTable(entries));
}

/** `ckpt meta FILE [--set k=v]... [--delete k]... [--json]`. */
export const metaCommand: Command = {
  name: "meta",
  summary: "print or edit a file's metadata",
  help: `ckpt meta — print or edit a file's metadata

Usage: ckpt meta FILE [--set KEY=VALUE]... [--delete KEY]... [--json]

Without --set or --delete, prints the file's metadata (any format).
With them, edits a safetensors file's __metadata__: deletions first, then
additions. When the new header fits in the old one's space it is rewritten in
place (tensor bytes untouched, file size unchanged); otherwise the file is
rewritten through a temporary file that replaces it only when complete.

Options:
  --set KEY=VALUE   add or replace a key (repeatable)
  --delete KEY      remove a key (repeatable; it must exist)
  --json            print {"metadata": {...}} (and "inPlace" after an edit)
  -h, --help        show this help

Example:
  ckpt meta model.safetensors --set license=apache-2.0 --delete training_args

Permissions: --allow-read; --allow-write to edit.`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, {
      set: { type: "string", multiple: true },
      delete: { type: "string", multiple: true },
      json: { type: "boolean" },
    });
    const [path] = expectPositionals(positionals, ["FILE"]);
    const sets = strings(values.set);
    const deletes = strings(values.delete);
    if (sets.length === 0 && deletes.length === 0) {
      const file = await openTensorFile(path);
      try {
        if (values.json) printJson({ format: file.format, metadata: file.metadata });
        else printMetadata(file.metadata);
      } finally {
        await file.close();
      }
      return EXIT.ok;
    }
    const set: Record<string, string> = {};
    for (const pair of sets) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`Invalid --set '${pair}': use KEY=VALUE`);
      Object.defineProperty(set, pair.slice(0, eq), {
        value: pair.slice(eq + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    const probe = await openTensorFile(path);
    const format = probe.format;
    const sharded = /\.index\.json$/i.test(path);
    await probe.close();
    if (format !== "safetensors" || sharded) {
      throw new UsageError(
        `Cannot edit the metadata of ${path}: ckpt meta edits single safetensors files (this is ${
          sharded ? "a sharded index" : format
        })`,
      );
    }
    const result = await editSafetensorsMetadata(path, { set, delete: deletes });
    if (values.json) printJson({ format, metadata: result.metadata, inPlace: result.inPlace });
    else {
      printMetadata(result.metadata);
      console.error(
        result.inPlace ? "header rewritten in place" : "file rewritten (the new header was larger)",
      );
    }
    return EXIT.ok;
  },
};
