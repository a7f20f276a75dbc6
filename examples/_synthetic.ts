// Deterministic synthetic weights for the examples, so every run prints the same numbers.

import { elementCount } from "../lib/dtype.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";

/** Normal samples from a seeded generator (mulberry32 + Box–Muller). */
export function normals(count: number, seed: number, scale: number): Float32Array {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = scale * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

/** A float32 tensor of seeded normal values. */
export function randomTensor(name: string, shape: number[], seed: number, scale = 0.02): TensorEntry {
  const values = normals(elementCount(shape), seed, scale);
  return tensorFromBytes(name, "F32", shape, new Uint8Array(values.buffer));
}
