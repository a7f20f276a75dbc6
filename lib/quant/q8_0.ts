/**
 * ggml Q8_0: blocks of 32 as an fp16 scale d = amax/127 and 32 int8 codes
 * roundf(x·(1/d)) — byte for byte what `quantize_row_q8_0_ref` writes.
 *
 * @module
 */

import { f16Bits, roundHalfAway } from "./_math.ts";
import { ggmlScheme, QK, toI8 } from "./_ggml.ts";
import type { QuantScheme } from "./scheme.ts";

/**
 * Quantize float32 values (a multiple of 32) to Q8_0 blocks of 34 bytes.
 *
 * @example
 * ```ts
 * import { quantizeRowQ8_0 } from "./q8_0.ts";
 * const out = new Uint8Array(34);
 * quantizeRowQ8_0(new Float32Array(32).fill(1), out);
 * console.log(out[2]); // 127
 * ```
 */
export function quantizeRowQ8_0(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK;
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const v = Math.abs(x[base + j]);
      amax = amax > v ? amax : v;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 34;
    const h = f16Bits(d);
    out[o] = h & 255;
    out[o + 1] = h >> 8;
    if (id - id === 0) {
      // Finite scale: every product is within ±128 (NaN gives 0 through `| 0`),
      // so roundf is floor(|p| + 0.5) with the sign put back.
      for (let j = 0; j < QK; j++) {
        const p = Math.fround(x[base + j] * id);
        const r = ((p < 0 ? -p : p) + 0.5) | 0; // exact in double: floor(|p| + 0.5)
        out[o + 2 + j] = p < 0 ? -r : r;
      }
    } else {
      for (let j = 0; j < QK; j++) {
        out[o + 2 + j] = toI8(roundHalfAway(Math.fround(x[base + j] * id))) & 255;
      }
    }
  }
}

/** The Q8_0 scheme. */
export const Q8_0_SCHEME: QuantScheme = ggmlScheme({
  name: "Q8_0",
  description: "ggml 8-bit blocks of 32 with an fp16 scale (8.5 bits/weight)",
  blockBytes: 34,
  quantizeRow: quantizeRowQ8_0,
  simd: "q8_0",
  wgslBlock: `
fn block(blk: u32, off: u32) {
  let base = blk * 32u;
  var amax = 0.0;
  for (var j = 0u; j < 32u; j = j + 1u) {
    let v = fabs(ldf(base + j));
    amax = select(v, amax, gt(amax, v));
  }
  let d = div_rn(amax, 127.0);
  var id = 0.0;
  if (!is_zero(d)) { id = div_rn(1.0, d); }
  put16(off, f16_canon(d));
  for (var j = 0u; j < 32u; j = j + 1u) {
    let p = fmul(ldf(base + j), id);
    var q = 0;
    if (is_fin(p)) { q = to_i8(round_away(p)); }
    put8(off + 2u + j, u32(q));
  }
}`,
});
