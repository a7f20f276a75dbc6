/**
 * Writing one tensor's bytes to a sink, the way every writer does it: bytes
 * that lie unchanged in a source (`location`) are copied in pieces, so a
 * tensor larger than the piece is never held whole; anything else is read
 * once into a reused buffer.
 *
 * @module
 */

import type { ScratchBuffer } from "./scratch_buffer.ts";
import type { TensorEntry } from "./tensor.ts";

/**
 * Write `entry`'s bytes to `sink`; `onPiece` sees each piece as it is
 * written (for a checksum). A read that returns other than `byteLength`
 * bytes breaks the entry's contract: a `RangeError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeEntryBytes } from "./write_entry_bytes.ts";
 * import { memorySink } from "./byte_sink.ts";
 * import { bytesSource } from "./byte_source.ts";
 * import { ScratchBuffer } from "./scratch_buffer.ts";
 * const data = new Uint8Array(10).map((_, i) => i);
 * const entry = {
 *   name: "w", dtype: "U8" as const, shape: [10], byteLength: 10,
 *   location: { source: bytesSource(data), offset: 0 },
 *   read: () => Promise.resolve(data),
 * };
 * const sink = memorySink();
 * const pieces: number[] = [];
 * await writeEntryBytes(entry, sink, new ScratchBuffer(), 4, (p) => pieces.push(p.length));
 * assert.deepEqual(sink.bytes(), data);
 * assert.deepEqual(pieces, [4, 4, 2]);
 * ```
 */
export async function writeEntryBytes(
  entry: TensorEntry,
  sink: { write(chunk: Uint8Array): Promise<void> },
  scratch: ScratchBuffer,
  chunkBytes: number,
  onPiece?: (piece: Uint8Array) => void,
): Promise<void> {
  const length = entry.byteLength;
  const span = entry.location;
  if (span && length > chunkBytes) {
    const chunk = scratch.take(chunkBytes);
    for (let done = 0; done < length;) {
      const n = Math.min(chunkBytes, length - done);
      const piece = await span.source.read(span.offset + done, n, chunk);
      onPiece?.(piece);
      await sink.write(piece);
      done += n;
    }
    return;
  }
  const bytes = await entry.read(scratch.take(length));
  if (bytes.byteLength !== length) {
    throw new RangeError(`Tensor '${entry.name}' read ${bytes.byteLength} bytes, but declares ${length}`);
  }
  onPiece?.(bytes);
  await sink.write(bytes);
}
