/**
 * ggml Q4_1: blocks of 32 as fp16 d = (max−min)/15, fp16 min, and 4-bit codes
 * min(15, trunc((x−min)·(1/d) + 0.5)) — `quantize_row_q4_1_ref`.
 *
 * @module
 */

import { f16Bits, FLT_MAX } from "./_math.ts";
import { ggmlScheme, QK, toI8 } from "./_ggml.ts";
import type { QuantScheme } from "./scheme.ts";

/**
 * Quantize float32 values (a multiple of 32) to Q4_1 blocks of 20 bytes.
 *
 * @example
 * ```ts
 * import { quantizeRowQ4_1 } from "./q4_1.ts";
 * const x = new Float32Array(32).map((_, i) => i);
 * const out = new Uint8Array(20);
 * quantizeRowQ4_1(x, out);
 * console.log(out[4] & 15); // 0
 * ```
 */
export function quantizeRowQ4_1(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK;
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < QK; j++) {
      const v = x[base + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = Math.fround(Math.fround(max - min) / 15);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 20;
    const hd = f16Bits(d);
    const hm = f16Bits(min);
    out[o] = hd & 255;
    out[o + 1] = hd >> 8;
    out[o + 2] = hm & 255;
    out[o + 3] = hm >> 8;
    for (let j = 0; j < QK / 2; j++) {
      const x0 = Math.fround(Math.fround(x[base + j] - min) * id);
      const x1 = Math.fround(Math.fround(x[base + QK / 2 + j] - min) * id);
      const xi0 = Math.min(15, toI8(Math.fround(x0 + 0.5))) & 255;
      const xi1 = Math.min(15, toI8(Math.fround(x1 + 0.5))) & 255;
      out[o + 4 + j] = (xi0 | (xi1 << 4)) & 255;
    }
  }
}

/** The Q4_1 scheme. */
export const Q4_1_SCHEME: QuantScheme = ggmlScheme({
  name: "Q4_1",
  description: "ggml 4-bit blocks of 32 with fp16 scale and minimum (5 bits/weight)",
  blockBytes: 20,
  quantizeRow: quantizeRowQ4_1,
  simd: "q4_1",
  wgslBlock: `
fn block(blk: u32, off: u32) {
  let base = blk * 32u;
  var mn = bitcast<f32>(0x7f7fffffu);
  var mx = bitcast<f32>(0xff7fffffu);
  for (var j = 0u; j < 32u; j = j + 1u) {
    let v = ldf(base + j);
    if (gt(mn, v)) { mn = v; }
    if (gt(v, mx)) { mx = v; }
  }
  let d = div_rn(fsub(mx, mn), 15.0);
  var id = 0.0;
  if (!is_zero(d)) { id = div_rn(1.0, d); }
  put16(off, f16_canon(d));
  put16(off + 2u, f16_canon(mn));
  for (var j = 0u; j < 16u; j = j + 1u) {
    let x0 = fmul(fsub(ldf(base + j), mn), id);
    let x1 = fmul(fsub(ldf(base + 16u + j), mn), id);
    let xi0 = u32(min(15, to_i8(fadd(x0, 0.5)))) & 0xffu;
    let xi1 = u32(min(15, to_i8(fadd(x1, 0.5)))) & 0xffu;
    put8(off + 4u + j, xi0 | (xi1 << 4u));
  }
}`,
});
