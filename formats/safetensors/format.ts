/**
 * The safetensors format descriptor for the registry: sniffing, opening
 * (single files and sharded indexes) and writing (single files or shards).
 *
 * @module
 */

import { fileSink, withSink } from "../../lib/byte_sink.ts";
import type { OpenOptions, TensorFormat, WriteOptions } from "../../lib/format.ts";
import type { TensorStream } from "../../lib/tensor.ts";
import { HEADER_LENGTH_BYTES } from "./decode_safetensors_header.ts";
import { openSafetensors, type OpenSafetensorsOptions } from "./open_safetensors.ts";
import { openSafetensorsIndex } from "./open_safetensors_index.ts";
import { writeSafetensors } from "./write_safetensors.ts";
import { writeSafetensorsShards } from "./write_safetensors_shards.ts";
import { refuseInputs } from "./_paths.ts";

/**
 * True when `head` starts like a safetensors file: an 8-byte little-endian
 * header length that fits the file, then `{` after optional spaces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sniffSafetensors } from "./format.ts";
 * const head = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]);
 * assert.equal(sniffSafetensors(head, head.length), true);
 * ```
 */
export function sniffSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < HEADER_LENGTH_BYTES + 1 || size < HEADER_LENGTH_BYTES + 2) return false;
  const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (length < 2n || length > BigInt(size - HEADER_LENGTH_BYTES)) return false;
  let i = HEADER_LENGTH_BYTES;
  while (i < head.length && head[i] === 0x20) i++;
  return i < head.length && head[i] === 0x7b;
}

/** Options of the safetensors format's writers. */
export interface SafetensorsFormatWriteOptions extends WriteOptions {
  /** Pad the header so tensor data starts on this many bytes. @default 8 */
  align?: number;
}

function writeOptionsOf(options: SafetensorsFormatWriteOptions): { align?: number; maxShardSize?: number } {
  return { align: options.align, maxShardSize: options.maxShardSize };
}

/**
 * safetensors: `.safetensors` files and sharded checkpoints opened through
 * their `.safetensors.index.json`. Writing with `maxShardSize` set (or to an
 * `.index.json` path) produces shards and an index.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { safetensorsFormat } from "./format.ts";
 * assert.equal(safetensorsFormat.name, "safetensors");
 * assert.deepEqual(safetensorsFormat.extensions, [".safetensors", ".safetensors.index.json"]);
 * ```
 */
export const safetensorsFormat: TensorFormat<OpenSafetensorsOptions, SafetensorsFormatWriteOptions> = {
  name: "safetensors",
  extensions: [".safetensors", ".safetensors.index.json"],
  sniff: sniffSafetensors,
  open: (source, options) => openSafetensors(source, options),
  claimsPath: (path: string): boolean => /\.safetensors\.index\.json$/i.test(path),
  openPath: (path: string, options?: OpenOptions) => openSafetensorsIndex(path, options),
  write: (stream: TensorStream, sink, options: SafetensorsFormatWriteOptions = {}) =>
    writeSafetensors(stream, sink, writeOptionsOf(options)),
  async writePath(
    stream: TensorStream,
    path: string,
    options: SafetensorsFormatWriteOptions = {},
  ): Promise<void> {
    const { align, maxShardSize } = writeOptionsOf(options);
    const input = [...(typeof options.input === "string" ? [options.input] : []), ...(options.protect ?? [])];
    if (maxShardSize !== undefined || /\.index\.json$/i.test(path)) {
      await writeSafetensorsShards(stream, path, { align, maxShardSize, protect: input });
      return;
    }
    await refuseInputs([path], input);
    await withSink(
      await fileSink(path, { protect: input }),
      (sink) => writeSafetensors(stream, sink, { align }),
    );
  },
};
