/**
 * ggml Q5_0: blocks of 32 as fp16 d = m/−16, a u32 `qh` of fifth bits (bit
 * j for element j) and 16 bytes of low nibbles (element j low, j+16 high);
 * codes min(31, trunc(x·(1/d) + 16.5)) — `quantize_row_q5_0_ref`.
 *
 * @module
 */

import { f16Bits } from "./_math.ts";
import { ggmlScheme, QK, toI8 } from "./_ggml.ts";
import type { QuantScheme } from "./scheme.ts";

/**
 * Quantize float32 values (a multiple of 32) to Q5_0 blocks of 22 bytes.
 *
 * @example
 * ```ts
 * import { quantizeRowQ5_0 } from "./q5_0.ts";
 * const out = new Uint8Array(22);
 * quantizeRowQ5_0(new Float32Array(32).fill(-1), out);
 * console.log(out[6]); // 0
 * ```
 */
export function quantizeRowQ5_0(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK;
  for (let i = 0; i < nb; i++) {
    const base = i * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[base + j];
      const av = Math.abs(v);
      if (amax < av) {
        amax = av;
        max = v;
      }
    }
    const d = Math.fround(max / -16);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 22;
    const h = f16Bits(d);
    out[o] = h & 255;
    out[o + 1] = h >> 8;
    let qh = 0;
    for (let j = 0; j < QK / 2; j++) {
      const x0 = Math.fround(x[base + j] * id);
      const x1 = Math.fround(x[base + QK / 2 + j] * id);
      const xi0 = Math.min(31, toI8(Math.fround(x0 + 16.5))) & 255;
      const xi1 = Math.min(31, toI8(Math.fround(x1 + 16.5))) & 255;
      out[o + 6 + j] = (xi0 & 15) | ((xi1 & 15) << 4);
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + QK / 2);
    }
    out[o + 2] = qh & 255;
    out[o + 3] = (qh >>> 8) & 255;
    out[o + 4] = (qh >>> 16) & 255;
    out[o + 5] = (qh >>> 24) & 255;
  }
}

/** The Q5_0 scheme. */
export const Q5_0_SCHEME: QuantScheme = ggmlScheme({
  name: "Q5_0",
  description: "ggml 5-bit blocks of 32, symmetric, fp16 scale (5.5 bits/weight)",
  blockBytes: 22,
  quantizeRow: quantizeRowQ5_0,
  simd: "q5_0",
  wgslBlock: `
fn block(blk: u32, off: u32) {
  let base = blk * 32u;
  var amax = 0.0;
  var mx = 0.0;
  for (var j = 0u; j < 32u; j = j + 1u) {
    let v = ldf(base + j);
    let av = fabs(v);
    if (gt(av, amax)) {
      amax = av;
      mx = v;
    }
  }
  let d = div_rn(mx, -16.0);
  var id = 0.0;
  if (!is_zero(d)) { id = div_rn(1.0, d); }
  put16(off, f16_canon(d));
  var qh = 0u;
  for (var j = 0u; j < 16u; j = j + 1u) {
    let x0 = fmul(ldf(base + j), id);
    let x1 = fmul(ldf(base + 16u + j), id);
    let xi0 = u32(min(31, to_i8(fadd(x0, 16.5)))) & 0xffu;
    let xi1 = u32(min(31, to_i8(fadd(x1, 16.5)))) & 0xffu;
    put8(off + 6u + j, (xi0 & 15u) | ((xi1 & 15u) << 4u));
    qh = qh | (((xi0 & 0x10u) >> 4u) << j);
    qh = qh | (((xi1 & 0x10u) >> 4u) << (j + 16u));
  }
  put16(off + 2u, qh);
  put16(off + 4u, qh >> 16u);
}`,
});
