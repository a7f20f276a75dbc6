/**
 * Stream a tensor stream into a safetensors file: headers first, then each
 * tensor's bytes, holding at most one tensor in memory.
 *
 * @module
 */

import { ScratchBuffer } from "../../lib/scratch_buffer.ts";
import type { ByteSink } from "../../lib/byte_sink.ts";
import { byteLengthOf } from "../../lib/dtype.ts";
import { requirePlainEntry } from "../../lib/plain_entry.ts";
import { writeEntryBytes } from "../../lib/write_entry_bytes.ts";
import { UsageError } from "../../lib/errors.ts";
import type { WriteOptions } from "../../lib/format.ts";
import { collectStream, type TensorEntry, type TensorStream } from "../../lib/tensor.ts";
import type { SafetensorsTensorInfo } from "./decode_safetensors_header.ts";
import { encodeSafetensorsHeader } from "./encode_safetensors_header.ts";
import { writerOrder } from "./_order.ts";

/** Options for {@linkcode writeSafetensors}. */
export interface WriteSafetensorsOptions extends WriteOptions {
  /**
   * Pad the header so the data section starts on a multiple of this many
   * bytes (a positive multiple of 8; e.g. 64 or 4096 for direct I/O or mmap).
   * @default 8
   */
  align?: number;
  /**
   * Tensors read unchanged from a file and larger than this are copied in
   * chunks of this many bytes instead of being read whole.
   * @default {COPY_CHUNK_BYTES}
   */
  copyChunkBytes?: number;
  /**
   * The buffer tensors are read through, kept between calls: writing many
   * shards through one allocates it once.
   * @default a new one per call
   */
  scratch?: ScratchBuffer;
}

/** Tensors copied unchanged from a file are streamed in chunks of this size (16 MiB). */
export const COPY_CHUNK_BYTES = 16 * 1024 * 1024;

/** A tensor laid out for writing: its entry and its place in the data section. */
export interface SafetensorsLayout {
  /** Entries in the order they are written. */
  readonly entries: readonly TensorEntry[];
  /** Header information for each entry, in the same order. */
  readonly infos: readonly SafetensorsTensorInfo[];
  /** Total data bytes. */
  readonly dataBytes: number;
}

/**
 * Check entries and lay them out in the reference writer's order (dtype
 * descending in the Rust `Dtype` enum's order, then name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layoutSafetensors } from "./write_safetensors.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const layout = layoutSafetensors([
 *   tensorFromBytes("b", "U8", [2], new Uint8Array(2)),
 *   tensorFromBytes("a", "F32", [1], new Uint8Array(4)),
 * ]);
 * assert.deepEqual(layout.infos.map((t) => t.name), ["a", "b"]);
 * ```
 */
export function layoutSafetensors(tensors: readonly TensorEntry[]): SafetensorsLayout {
  const names = new Set<string>();
  for (const entry of tensors) {
    requirePlainEntry(entry, "safetensors");
    if (entry.dtype === "C128") {
      throw new UsageError(
        `Cannot write tensor '${entry.name}' as safetensors: it has no complex128 dtype (C64 is the widest complex)`,
      );
    }
    if (entry.name === "__metadata__") {
      throw new UsageError(`Cannot write a tensor named '__metadata__': safetensors reserves that name`);
    }
    if (names.has(entry.name)) {
      throw new UsageError(`Cannot write safetensors: duplicate tensor name '${entry.name}'`);
    }
    names.add(entry.name);
    const expected = byteLengthOf(entry.dtype, entry.shape);
    if (entry.byteLength !== expected) {
      throw new UsageError(
        `Cannot write tensor '${entry.name}': it declares ${entry.byteLength} bytes, but ${entry.dtype} [${
          entry.shape.join(", ")
        }] needs ${expected}`,
      );
    }
  }
  const entries = writerOrder(tensors);
  let offset = 0;
  const infos = entries.map((entry): SafetensorsTensorInfo => {
    const begin = offset;
    offset += entry.byteLength;
    return { name: entry.name, dtype: entry.dtype, shape: [...entry.shape], dataOffsets: [begin, offset] };
  });
  return { entries, infos, dataBytes: offset };
}

/**
 * Write a tensor stream to a sink as safetensors. Entries are collected
 * first (headers only), the header is written, then each tensor is read and
 * written in turn through one reused buffer. The output is byte-identical to
 * what the reference writer produces for the same tensors and metadata.
 * Block-quantized entries (with `encoding`) are refused with a `UsageError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeSafetensors } from "./write_safetensors.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const sink = memorySink();
 * await writeSafetensors({ metadata: { format: "pt" }, tensors: [
 *   tensorFromBytes("w", "F32", [2], new Uint8Array(8)),
 * ] }, sink);
 * assert.equal(sink.bytes().length, 104);
 * ```
 */
export async function writeSafetensors(
  stream: TensorStream,
  sink: ByteSink,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  const { metadata, tensors } = await collectStream(stream);
  const layout = layoutSafetensors(tensors);
  const header = encodeSafetensorsHeader(metadata, layout.infos, { align: options.align });
  await sink.write(header);
  await writeBodies(layout.entries, sink, options.copyChunkBytes ?? COPY_CHUNK_BYTES, options.scratch);
}

/**
 * Write each entry's bytes to the sink, in order, through one reused buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeBodies } from "./write_safetensors.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const sink = memorySink();
 * await writeBodies([tensorFromBytes("a", "U8", [2], new Uint8Array([1, 2]))], sink);
 * assert.deepEqual(sink.bytes(), new Uint8Array([1, 2]));
 * ```
 */
export async function writeBodies(
  entries: readonly TensorEntry[],
  sink: ByteSink,
  chunkBytes: number = COPY_CHUNK_BYTES,
  scratch: ScratchBuffer = new ScratchBuffer(),
): Promise<void> {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new UsageError(`Invalid copy chunk size ${chunkBytes}: use a positive number of bytes`);
  }
  for (const entry of entries) {
    if (entry.byteLength > 0) await writeEntryBytes(entry, sink, scratch, chunkBytes);
  }
}
