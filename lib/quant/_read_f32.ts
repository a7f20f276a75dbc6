// A tensor's values as float32, for the quantizers.

import { castBytes } from "../cast.ts";
import type { TensorEntry } from "../tensor.ts";

/**
 * The `count` values of a float entry as float32: for F32 a view of the bytes
 * read (copied only when misaligned: schemes only read their input, and a
 * tensor-sized copy costs as much as quantizing it), else cast. With `into`
 * (at least 4 × count bytes), the F32 bytes are read into it and casts are
 * written into it.
 */
export async function readF32(entry: TensorEntry, count: number, into?: Uint8Array): Promise<Float32Array> {
  if (entry.dtype === "F32") {
    const bytes = await entry.read(into);
    const a = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
    return new Float32Array(a.buffer, a.byteOffset, count);
  }
  const out = castBytes(await entry.read(), entry.dtype, "F32", count, { out: into });
  return new Float32Array(out.buffer, out.byteOffset, count);
}
