/**
 * `ckpt scan`: list the Python globals each file's pickles would import and
 * judge each file, without running anything.
 *
 * @module
 */

import { type Command, EXIT } from "./_command.ts";
import { parseCommandArgs, printJson } from "./_output.ts";
import { fileSource } from "../lib/byte_source.ts";
import { UsageError } from "../lib/errors.ts";
import type { ScanVerdict } from "../formats/pickle/mod.ts";
import { scanCheckpoint } from "../formats/torch/mod.ts";

interface FileReport {
  path: string;
  verdict: ScanVerdict;
  globals: string[];
  findings: string[];
}

const WHY: Record<string, string> = {
  safe: "allowlisted",
  unknown: "not on the allowlist",
  dangerous: "known code-execution, file or network route",
};

/** `ckpt scan FILE… [--json]`. */
export const scanCommand: Command = {
  name: "scan",
  summary: "list the globals a pickle-based file would import, and judge it",
  help: `ckpt scan — list the globals a pickle-based file would import, and judge it

Usage: ckpt scan FILE... [options]

Reads every pickle in each file (every member of zip and 7z archives, nested
ones too, legacy PyTorch files, plain pickles of any protocol, numpy object
arrays, pickles after the first STOP and pickles nested as bytes) without
running anything, and gives a verdict per file:
  safe       torch 2.x's torch.load(weights_only=True) would load it, or
             it holds no pickle (safetensors, GGUF, numeric npy)
  unknown    torch would refuse it (globals outside its allowlist, opcodes or
             constructs it does not accept), none known to be dangerous, or a
             malformed container that loaders may read differently
  dangerous  globals that can run code, open files or reach the network
  error      the file could not be read whole (truncated, corrupt)
The format is read from the bytes, never from the extension.

Options:
  --json           print {"files":[{"path","verdict","globals","findings"}]}
  --allow NAME     count module.name as safe too (repeatable)
  -h, --help       show this help

Exit codes: 0 every file safe, 1 any file unknown or dangerous, 2 a file could
not be read (or bad usage).

Example:
  ckpt scan pytorch_model.bin downloads/*.pt --json

Permissions: --allow-read.`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, {
      json: { type: "boolean" },
      allow: { type: "string", multiple: true },
    });
    if (positionals.length === 0) throw new UsageError("Missing FILE (see --help)");
    const allowGlobals = (values.allow as string[] | undefined) ?? [];
    for (const name of allowGlobals) {
      if (!/^[\w.]+\.\w+$/.test(name)) throw new UsageError(`--allow needs module.name, not '${name}'`);
    }
    const reports: FileReport[] = [];
    const verdicts = new Map<string, string>();
    for (const path of positionals) {
      try {
        const source = await fileSource(path);
        try {
          const scan = await scanCheckpoint(source, { allowGlobals });
          for (const g of scan.globals) verdicts.set(g.name, g.verdict);
          reports.push({
            path,
            verdict: scan.verdict,
            globals: scan.globals.map((g) => g.name),
            findings: [
              ...scan.globals.filter((g) => g.verdict !== "safe").map((g) =>
                `${g.name}: ${g.verdict} (${WHY[g.verdict]})`
              ),
              ...scan.findings,
            ],
          });
        } finally {
          await source.close();
        }
      } catch (error) {
        const message = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
        reports.push({ path, verdict: "error", globals: [], findings: [message] });
      }
    }
    if (values.json) {
      printJson({ files: reports });
    } else {
      for (const r of reports) {
        console.log(`${r.path}: ${r.verdict}`);
        for (const g of r.globals) console.log(`  ${g.padEnd(48)} ${verdicts.get(g) ?? ""}`);
        for (const f of r.findings) {
          if (!r.globals.some((g) => f.startsWith(`${g}: `))) console.log(`  - ${f}`);
        }
      }
    }
    if (reports.some((r) => r.verdict === "error")) {
      for (const r of reports.filter((x) => x.verdict === "error")) {
        console.error(
          `ckpt scan: cannot read ${r.path}: ${r.findings[r.findings.length - 1] ?? "unknown error"}`,
        );
      }
      return EXIT.badInput;
    }
    return reports.every((r) => r.verdict === "safe") ? EXIT.ok : EXIT.findings;
  },
};
