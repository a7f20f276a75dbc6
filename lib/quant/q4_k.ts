/**
 * ggml Q4_K: super-blocks of 256 as eight sub-blocks of 32, each with a
 * 6-bit scale and min found by `make_qkx2_quants` (weights √(mean x²) + |x|),
 * those scales and mins quantized against fp16 `d` and `dmin`, and 4-bit
 * codes: 144 bytes (d, dmin, scales[12], qs[128]) — what
 * `quantize_row_q4_K_ref` writes.
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
import { kquantWgsl, WGSL_K4, WGSL_KQUANT, WGSL_Q4_K_BLOCK, WGSL_QKX2 } from "./_kquant_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

const fr = Math.fround;
const L = new Uint8Array(QK_K);
const LAUX = new Uint8Array(32);
const WEIGHTS = new Float32Array(32);
const SCALES = new Float32Array(8);
const MINS = new Float32Array(8);

/**
 * Quantize float32 values (a multiple of 256) to Q4_K super-blocks of 144 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeRowQ4_K } from "./q4_k.ts";
 * const out = new Uint8Array(144);
 * quantizeRowQ4_K(new Float32Array(256).map((_, i) => i % 16), out);
 * assert.equal(out[16] & 15, 0); // the first value, 0, is code 0
 * ```
 */
export function quantizeRowQ4_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK_K;
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 144;
    for (let j = 0; j < 8; j++) {
      const xo = xb + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l] * x[xo + l]));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) WEIGHTS[l] = avX + Math.abs(x[xo + l]);
      SCALES[j] = makeQkx2Quants(32, 15, x, xo, WEIGHTS, L, 32 * j, LAUX, -1, fr(0.1), 20, false);
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
        L[32 * j + ii] = l < 0 ? 0 : l > 15 ? 15 : l;
      }
    }
    for (let j = 0, q = o + 16; j < QK_K; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) out[q + l] = L[j + l] | (L[j + l + 32] << 4);
    }
  }
}

/** The Q4_K scheme. */
export const Q4_K_SCHEME: QuantScheme = ggmlScheme({
  name: "Q4_K",
  description: "ggml 4-bit K-quant: super-blocks of 256, 6-bit sub-block scales and mins (4.5 bits/weight)",
  blockBytes: 144,
  blockElems: QK_K,
  quantizeRow: quantizeRowQ4_K,
  simd: "q4_k",
  wgslBlock: kquantWgsl(WGSL_KQUANT, WGSL_QKX2, WGSL_K4, WGSL_Q4_K_BLOCK),
});
