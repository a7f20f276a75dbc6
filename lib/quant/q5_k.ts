/**
 * ggml Q5_K: Q4_K's super-block of eight 32-element sub-blocks with 6-bit
 * scales and mins, and 5-bit codes (the fifth bits in `qh`): 176 bytes (d,
 * dmin, scales[12], qh[32], qs[128]) — what `quantize_row_q5_K_ref` writes.
 *
 * @module
 */

import { ggmlScheme } from "./_ggml.ts";
import {
  fp16Value,
  makeQkx2Quants,
  nearestInt,
  packScalesMinsK4,
  QK_K,
  qkx2Min,
  scaleMinK4,
} from "./_kquant.ts";
import { kquantWgsl, WGSL_K4, WGSL_KQUANT, WGSL_Q5_K_BLOCK, WGSL_QKX2 } from "./_kquant_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

const fr = Math.fround;
const L = new Uint8Array(QK_K);
const LAUX = new Uint8Array(32);
const WEIGHTS = new Float32Array(32);
const SCALES = new Float32Array(8);
const MINS = new Float32Array(8);

/**
 * Quantize float32 values (a multiple of 256) to Q5_K super-blocks of 176 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeRowQ5_K } from "./q5_k.ts";
 * const out = new Uint8Array(176);
 * quantizeRowQ5_K(new Float32Array(256).map((_, i) => i % 32), out);
 * assert.equal(out[48] & 15, 0); // the first value, 0, is code 0
 * ```
 */
export function quantizeRowQ5_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK_K;
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 176;
    for (let j = 0; j < 8; j++) {
      const xo = xb + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l] * x[xo + l]));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) WEIGHTS[l] = avX + Math.abs(x[xo + l]);
      SCALES[j] = makeQkx2Quants(32, 31, x, xo, WEIGHTS, L, 32 * j, LAUX, -0.5, fr(0.1), 15, false);
      MINS[j] = qkx2Min;
    }
    packScalesMinsK4(SCALES, MINS, out, o);
    const d0 = fp16Value(out[o] | (out[o + 1] << 8));
    const m0 = fp16Value(out[o + 2] | (out[o + 3] << 8));
    for (let j = 0; j < 8; j++) {
      const sm = scaleMinK4(j, out, o + 4);
      const d = fr(d0 * (sm & 255));
      if (d === 0) continue; // C: !d is false for NaN
      const dm = fr(m0 * (sm >> 8));
      const xo = xb + 32 * j;
      for (let ii = 0; ii < 32; ii++) {
        const l = nearestInt(fr(fr(x[xo + ii] + dm) / d));
        L[32 * j + ii] = l < 0 ? 0 : l > 31 ? 31 : l;
      }
    }
    const qh = o + 16;
    out.fill(0, qh, qh + 32);
    let m1 = 1;
    let m2 = 2;
    for (let n = 0, ql = o + 48; n < QK_K; n += 64, ql += 32) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j];
        if (l1 > 15) {
          l1 -= 16;
          out[qh + j] |= m1;
        }
        let l2 = L[n + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          out[qh + j] |= m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
}

/** The Q5_K scheme. */
export const Q5_K_SCHEME: QuantScheme = ggmlScheme({
  name: "Q5_K",
  description: "ggml 5-bit K-quant: super-blocks of 256, 6-bit sub-block scales and mins (5.5 bits/weight)",
  blockBytes: 176,
  blockElems: QK_K,
  quantizeRow: quantizeRowQ5_K,
  simd: "q5_k",
  wgslBlock: kquantWgsl(WGSL_KQUANT, WGSL_QKX2, WGSL_K4, WGSL_Q5_K_BLOCK),
});
