/**
 * Edit a safetensors file's `__metadata__` without rewriting its tensors
 * when the new header fits in the old header's space.
 *
 * @module
 */

import { fileSink } from "../../lib/byte_sink.ts";
import { fileSource } from "../../lib/byte_source.ts";
import { UsageError } from "../../lib/errors.ts";
import { encodeSafetensorsHeader } from "./encode_safetensors_header.ts";
import { openSafetensors } from "./open_safetensors.ts";

/** Changes to make to a file's metadata. Deletions apply before additions. */
export interface SafetensorsMetadataEdit {
  /** Keys to add or replace. @default {} */
  set?: Readonly<Record<string, string>>;
  /** Keys to remove; each must exist. @default [] */
  delete?: readonly string[];
}

/** What {@linkcode editSafetensorsMetadata} did. */
export interface SafetensorsMetadataEditResult {
  /** The metadata now in the file. */
  readonly metadata: Record<string, string>;
  /** True when only the header bytes were rewritten in place; false when the file was rewritten. */
  readonly inPlace: boolean;
}

const COPY_CHUNK_BYTES = 16 * 1024 * 1024;

/** Largest power of two (8 to 4096) dividing `offset`: the alignment a rewrite keeps. */
function alignmentOf(offset: number): number {
  let align = 8;
  while (align < 4096 && offset % (align * 2) === 0) align *= 2;
  return align;
}

/**
 * Apply `edit` to the metadata of the safetensors file at `path`. When the
 * new header is no longer than the old one, it is written over the old one
 * in place, padded with spaces (file size and tensor bytes unchanged);
 * otherwise the file is rewritten through a temporary file renamed over it,
 * keeping the data section's alignment. Needs `--allow-read --allow-write`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { editSafetensorsMetadata } from "./edit_safetensors_metadata.ts";
 * import { encodeSafetensors } from "./encode_safetensors.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * const tensors = [tensorFromBytes("w", "U8", [2], new Uint8Array([1, 2]))];
 * await Deno.writeFile(path, await encodeSafetensors({ metadata: { format: "pt" }, tensors }));
 * const grown = await editSafetensorsMetadata(path, { set: { license: "apache-2.0" } });
 * assert.equal(grown.inPlace, false); // the header outgrew its space: the file was rewritten
 * const result = await editSafetensorsMetadata(path, { set: { license: "mit" } });
 * assert.deepEqual(result, { metadata: { format: "pt", license: "mit" }, inPlace: true });
 * await Deno.remove(path);
 * ```
 */
export async function editSafetensorsMetadata(
  path: string,
  edit: SafetensorsMetadataEdit,
): Promise<SafetensorsMetadataEditResult> {
  const source = await fileSource(path);
  try {
    const file = await openSafetensors(source, { closeSource: false });
    const metadata: Record<string, string> = { ...file.metadata };
    for (const key of edit.delete ?? []) {
      if (!Object.hasOwn(metadata, key)) {
        throw new UsageError(`Cannot delete metadata key '${key}' from ${path}: it has no such key`);
      }
      delete metadata[key];
    }
    for (const [key, value] of Object.entries(edit.set ?? {})) {
      if (typeof value !== "string") throw new UsageError(`Metadata value for '${key}' must be a string`);
      Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
    }
    const { header } = file;
    const inPlaceHeader = encodeSafetensorsHeader(metadata, header.tensors, {
      minHeaderBytes: header.headerBytes,
    });
    if (inPlaceHeader.length === header.dataOffset) {
      const handle = await Deno.open(path, { write: true });
      try {
        let done = 0;
        while (done < inPlaceHeader.length) done += await handle.write(inPlaceHeader.subarray(done));
        await handle.sync();
      } finally {
        handle.close();
      }
      return { metadata, inPlace: true };
    }
    const newHeader = encodeSafetensorsHeader(metadata, header.tensors, {
      align: alignmentOf(header.dataOffset),
    });
    const sink = await fileSink(path);
    try {
      await sink.write(newHeader);
      const chunk = new Uint8Array(Math.min(COPY_CHUNK_BYTES, Math.max(header.dataBytes, 1)));
      for (let done = 0; done < header.dataBytes;) {
        const n = Math.min(chunk.length, header.dataBytes - done);
        await sink.write(await source.read(header.dataOffset + done, n, chunk));
        done += n;
      }
    } catch (error) {
      await sink.abort();
      throw error;
    }
    await sink.close();
    return { metadata, inPlace: false };
  } finally {
    await source.close();
  }
}
