/**
 * ggml Q4_0: blocks of 32 as an fp16 scale d = m/−8 (m the value of largest
 * magnitude, first wins) and 4-bit codes min(15, trunc(x·(1/d) + 8.5)); byte
 * j holds element j (low nibble) and j+16 (high) — `quantize_row_q4_0_ref`.
 *
 * @module
 */

import { f16Bits } from "./_math.ts";
import { ggmlScheme, QK, toI8 } from "./_ggml.ts";
import type { QuantScheme } from "./scheme.ts";

/**
 * Quantize float32 values (a multiple of 32) to Q4_0 blocks of 18 bytes.
 *
 * @example
 * ```ts
 * import { quantizeRowQ4_0 } from "./q4_0.ts";
 * const out = new Uint8Array(18);
 * quantizeRowQ4_0(new Float32Array(32).fill(-1), out);
 * console.log(out[2]); // 0
 * ```
 */
export function quantizeRowQ4_0(x: Float32Array, out: Uint8Array): void {
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
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 18;
    const h = f16Bits(d);
    out[o] = h & 255;
    out[o + 1] = h >> 8;
    for (let j = 0; j < QK / 2; j++) {
      const x0 = Math.fround(x[base + j] * id);
      const x1 = Math.fround(x[base + QK / 2 + j] * id);
      const xi0 = Math.min(15, toI8(Math.fround(x0 + 8.5))) & 255;
      const xi1 = Math.min(15, toI8(Math.fround(x1 + 8.5))) & 255;
      out[o + 2 + j] = (xi0 | (xi1 << 4)) & 255;
    }
  }
}

/** The Q4_0 scheme. */
export const Q4_0_SCHEME: QuantScheme = ggmlScheme({
  name: "Q4_0",
  description: "ggml 4-bit blocks of 32, symmetric, fp16 scale (4.5 bits/weight)",
  blockBytes: 18,
  quantizeRow: quantizeRowQ4_0,
  simd: "q4_0",
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
  let d = div_rn(mx, -8.0);
  var id = 0.0;
  if (!is_zero(d)) { id = div_rn(1.0, d); }
  put16(off, f16_canon(d));
  for (var j = 0u; j < 16u; j = j + 1u) {
    let x0 = fmul(ldf(base + j), id);
    let x1 = fmul(ldf(base + 16u + j), id);
    let xi0 = u32(min(15, to_i8(fadd(x0, 8.5)))) & 0xffu;
    let xi1 = u32(min(15, to_i8(fadd(x1, 8.5)))) & 0xffu;
    put8(off + 2u + j, xi0 | (xi1 << 4u));
  }
}`,
});
