// A GGUF file's tensors: each entry checked and given its ggml type and byte
// size, the tensor infos written after the key/values, and the bodies written
// aligned — shared by the single-file writer and the split writer.

import type { ScratchBuffer } from "../../lib/scratch_buffer.ts";
import { UsageError } from "../../lib/errors.ts";
import { ggmlByteLength, type GgmlType, ggmlTypeByName } from "../../lib/ggml_blocks.ts";
import type { TensorEntry } from "../../lib/tensor.ts";
import { writeEntryBytes } from "../../lib/write_entry_bytes.ts";
import { alignTo } from "../../lib/binary/align.ts";
import type { FieldWriter } from "../../lib/binary/field_writer.ts";
import { GGML_TYPE_OF_DTYPE, writeString } from "./_encode_value.ts";
import { GGUF_MAX_DIMS, GGUF_MAX_NAME } from "./open_gguf.ts";

const UTF8 = new TextEncoder();

/** An entry that can hand out its bytes in pieces, so a writer never holds the whole tensor. */
export interface ChunkedTensorEntry extends TensorEntry {
  /** The tensor's bytes in order, each piece at most about `maxBytes` long (whole rows). */
  chunks(maxBytes: number): AsyncIterable<Uint8Array>;
}

/** One tensor as a GGUF file stores it. */
export interface PlannedTensor {
  readonly entry: TensorEntry;
  readonly type: GgmlType;
  /** Bytes of its data, before alignment padding. */
  readonly size: number;
}

/** Check every entry (its type, name, rank, size, and that names are unique) and plan it. */
export function planGgufTensors(entries: readonly TensorEntry[]): PlannedTensor[] {
  const names = new Set<string>();
  return entries.map((entry) => {
    if (names.has(entry.name)) {
      throw new UsageError(`Cannot write GGUF: duplicate tensor name '${entry.name}'`);
    }
    names.add(entry.name);
    const typeName = entry.encoding ?? GGML_TYPE_OF_DTYPE[entry.dtype];
    const type = typeName === undefined ? undefined : ggmlTypeByName(typeName);
    if (!type) {
      throw new UsageError(
        entry.encoding
          ? `Cannot write tensor '${entry.name}' to GGUF: unknown encoding '${entry.encoding}'`
          : `Cannot write tensor '${entry.name}' to GGUF: dtype ${entry.dtype} has no GGUF type (cast it to F32, F16 or BF16 first)`,
      );
    }
    if (UTF8.encode(entry.name).length >= GGUF_MAX_NAME) {
      throw new UsageError(
        `Cannot write tensor '${entry.name}' to GGUF: names must be shorter than ${GGUF_MAX_NAME} bytes`,
      );
    }
    if (entry.shape.length > GGUF_MAX_DIMS) {
      throw new UsageError(
        `Cannot write tensor '${entry.name}' to GGUF: it has ${entry.shape.length} dimensions, more than ${GGUF_MAX_DIMS}`,
      );
    }
    const size = ggmlByteLength(type.name, entry.shape);
    if (size !== entry.byteLength) {
      throw new UsageError(
        `Cannot write tensor '${entry.name}' to GGUF: ${type.name} of shape [${
          entry.shape.join(", ")
        }] takes ${size} bytes but the entry has ${entry.byteLength}`,
      );
    }
    return { entry, type, size };
  });
}

/** The tensor infos (dims innermost first, offsets of aligned data), then padding to `alignment`. */
export function writeTensorInfos(w: FieldWriter, tensors: readonly PlannedTensor[], alignment: number): void {
  let offset = 0;
  for (const { entry, type, size } of tensors) {
    writeString(w, entry.name);
    w.u32(entry.shape.length);
    for (let j = entry.shape.length - 1; j >= 0; j--) w.u64(entry.shape[j]);
    w.i32(type.id);
    w.u64(offset);
    offset += alignTo(size, alignment);
  }
  w.pad(alignment);
}

/**
 * Every tensor's bytes, each padded to `alignment`: a chunked entry piece by
 * piece, any other as `writeEntryBytes` writes it.
 */
export async function writeTensorBodies(
  sink: { write(chunk: Uint8Array): Promise<void> },
  tensors: readonly PlannedTensor[],
  alignment: number,
  scratch: ScratchBuffer,
  chunkBytes: number,
): Promise<void> {
  const zeros = new Uint8Array(alignment);
  for (const { entry, size } of tensors) {
    const chunked = (entry as Partial<ChunkedTensorEntry>).chunks;
    if (chunked) {
      let written = 0;
      for await (const piece of chunked.call(entry, chunkBytes)) {
        await sink.write(piece);
        written += piece.length;
      }
      if (written !== size) {
        throw new UsageError(
          `Cannot write tensor '${entry.name}' to GGUF: read ${written} bytes, expected ${size}`,
        );
      }
    } else {
      // The plan's size is the entry's byteLength, which writeEntryBytes holds it to.
      await writeEntryBytes(entry, sink, scratch, chunkBytes);
    }
    const pad = alignTo(size, alignment) - size;
    if (pad) await sink.write(zeros.subarray(0, pad));
  }
}
