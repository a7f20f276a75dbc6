/**
 * ggml Q5_1: blocks of 32 as fp16 d = (max−min)/31, fp16 min, a u32 `qh` of
 * fifth bits and 16 bytes of low nibbles; codes trunc((x−min)·(1/d) + 0.5)
 * — `quantize_row_q5_1_ref`.
 *
 * @module
 */

import { f16Bits, FLT_MAX } from "./_math.ts";
import { ggmlScheme, QK } from "./_ggml.ts";
import type { QuantScheme } from "./scheme.ts";

// C's (uint8_t) conversion as the reference defines it: non-finite → 0.
function toU8(v: number): number {
  return Number.isFinite(v) ? Math.trunc(v) & 255 : 0;
}

/**
 * Quantize float32 values (a multiple of 32) to Q5_1 blocks of 24 bytes.
 *
 * @example
 * ```ts
 * import { quantizeRowQ5_1 } from "./q5_1.ts";
 * const x = new Float32Array(32).map((_, i) => i);
 * const out = new Uint8Array(24);
 * quantizeRowQ5_1(x, out);
 * console.log(out[8] & 15); // 0
 * ```
 */
export function quantizeRowQ5_1(x: Float32Array, out: Uint8Array): void {
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
    const d = Math.fround(Math.fround(max - min) / 31);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 24;
    const hd = f16Bits(d);
    const hm = f16Bits(min);
    out[o] = hd & 255;
    out[o + 1] = hd >> 8;
    out[o + 2] = hm & 255;
    out[o + 3] = hm >> 8;
    let qh = 0;
    for (let j = 0; j < QK / 2; j++) {
      const x0 = Math.fround(Math.fround(x[base + j] - min) * id);
      const x1 = Math.fround(Math.fround(x[base + QK / 2 + j] - min) * id);
      const xi0 = toU8(Math.fround(x0 + 0.5));
      const xi1 = toU8(Math.fround(x1 + 0.5));
      out[o + 8 + j] = (xi0 & 15) | ((xi1 & 15) << 4);
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + QK / 2);
    }
    out[o + 4] = qh & 255;
    out[o + 5] = (qh >>> 8) & 255;
    out[o + 6] = (qh >>> 16) & 255;
    out[o + 7] = (qh >>> 24) & 255;
  }
}

/** The Q5_1 scheme. */
export const Q5_1_SCHEME: QuantScheme = ggmlScheme({
  name: "Q5_1",
  description: "ggml 5-bit blocks of 32 with fp16 scale and minimum (6 bits/weight)",
  blockBytes: 24,
  quantizeRow: quantizeRowQ5_1,
  simd: "q5_1",
  wgslBlock: `
fn to_u8(x: f32) -> u32 {
  if (!is_fin(x)) { return 0u; }
  let t = clamp(trunc(x), -2147483648.0, 2147483520.0);
  return u32(i32(t)) & 0xffu;
}
fn block(blk: u32, off: u32) {
  let base = blk * 32u;
  var mn = bitcast<f32>(0x7f7fffffu);
  var mx = bitcast<f32>(0xff7fffffu);
  for (var j = 0u; j < 32u; j = j + 1u) {
    let v = ldf(base + j);
    if (gt(mn, v)) { mn = v; }
    if (gt(v, mx)) { mx = v; }
  }
  let d = div_rn(fsub(mx, mn), 31.0);
  var id = 0.0;
  if (!is_zero(d)) { id = div_rn(1.0, d); }
  put16(off, f16_canon(d));
  put16(off + 2u, f16_canon(mn));
  var qh = 0u;
  for (var j = 0u; j < 16u; j = j + 1u) {
    let x0 = fmul(fsub(ldf(base + j), mn), id);
    let x1 = fmul(fsub(ldf(base + 16u + j), mn), id);
    let xi0 = to_u8(fadd(x0, 0.5));
    let xi1 = to_u8(fadd(x1, 0.5));
    put8(off + 8u + j, (xi0 & 15u) | ((xi1 & 15u) << 4u));
    qh = qh | (((xi0 & 0x10u) >> 4u) << j);
    qh = qh | (((xi1 & 0x10u) >> 4u) << (j + 16u));
  }
  put16(off + 4u, qh);
  put16(off + 6u, qh >> 16u);
}`,
});
