/**
 * Open a safetensors file lazily: only the header is read up front.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type TensorFile, tensorFile } from "../../lib/tensor.ts";
import {
  HEADER_LENGTH_BYTES,
  parseSafetensorsJson,
  readSafetensorsHeaderLength,
  type SafetensorsHeader,
} from "./decode_safetensors_header.ts";
import { sourceEntry } from "./_source_entry.ts";

/** A decoded safetensors file: a `TensorFile` plus its parsed header. */
export interface SafetensorsFile extends TensorFile {
  /** The validated header (offsets, lengths, whether `__metadata__` was present). */
  readonly header: SafetensorsHeader;
}

/** Options for {@linkcode openSafetensors}. */
export interface OpenSafetensorsOptions extends OpenOptions {
  /** Close the source when the file is closed. @default true */
  closeSource?: boolean;
}

/**
 * Decode a safetensors file's header from a source and return its tensors
 * as lazy entries (in data-offset order). Reads exactly two ranges — the
 * 8-byte length and the header — so listing a remote file over HTTP
 * downloads only its header. Rejects malformed headers with `FormatError`,
 * `LimitError` or `TruncatedError` naming the tensor at fault.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSafetensors } from "./open_safetensors.ts";
 * import { encodeSafetensors } from "./encode_safetensors.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const tensors = [tensorFromBytes("w", "U8", [3], new Uint8Array([1, 2, 3]))];
 * const file = await openSafetensors(bytesSource(await encodeSafetensors({ metadata: {}, tensors })));
 * assert.equal(file.tensors[0].name, "w");
 * assert.deepEqual(await file.tensors[0].read(), new Uint8Array([1, 2, 3]));
 * ```
 */
export async function openSafetensors(
  source: ByteSource,
  options: OpenSafetensorsOptions = {},
): Promise<SafetensorsFile> {
  const prefix = await source.read(0, Math.min(HEADER_LENGTH_BYTES, source.size));
  const headerBytes = readSafetensorsHeaderLength(prefix, source.size, {
    maxHeaderBytes: options.maxHeaderBytes,
    name: source.name,
  });
  const json = await source.read(HEADER_LENGTH_BYTES, headerBytes);
  const header = parseSafetensorsJson(json, source.size, source.name);
  const tensors = header.tensors.map((info) => sourceEntry(source, info, header.dataOffset));
  const closeSource = options.closeSource ?? true;
  return tensorFile({
    format: "safetensors",
    metadata: { ...header.metadata },
    tensors,
    fileBytes: source.size,
    header,
    close(): Promise<void> {
      return closeSource ? source.close() : Promise.resolve();
    },
  });
}
