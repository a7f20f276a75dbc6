/**
 * ggml Q2_K: super-blocks of 256 as sixteen sub-blocks of 16, each with a
 * 4-bit scale and min found by `make_qkx2_quants` (weights |x|, absolute
 * error), quantized against fp16 `d` and `dmin`, and 2-bit codes: 84 bytes
 * (scales[16], qs[64], d, dmin) — what `quantize_row_q2_K_ref` writes.
 *
 * @module
 */

import { ggmlScheme } from "./_ggml.ts";
import { fp16Bits, fp16Value, makeQkx2Quants, nearestInt, putF16, QK_K, qkx2Min } from "./_kquant.ts";
import { kquantWgsl, WGSL_KQUANT, WGSL_Q2_K_BLOCK, WGSL_QKX2 } from "./_kquant_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

const fr = Math.fround;
const L = new Uint8Array(QK_K);
const LAUX = new Uint8Array(16);
const WEIGHTS = new Float32Array(16);
const SCALES = new Float32Array(16);
const MINS = new Float32Array(16);

/**
 * Quantize float32 values (a multiple of 256) to Q2_K super-blocks of 84 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeRowQ2_K } from "./q2_k.ts";
 * const out = new Uint8Array(84);
 * quantizeRowQ2_K(new Float32Array(256).map((_, i) => i % 4), out);
 * assert.equal(out[16], 0); // the first four codes, for values 0, 0, 0, 0
 * ```
 */
export function quantizeRowQ2_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK_K;
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 84;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      const xo = xb + 16 * j;
      for (let l = 0; l < 16; l++) WEIGHTS[l] = Math.abs(x[xo + l]);
      const scale = makeQkx2Quants(16, 3, x, xo, WEIGHTS, L, 16 * j, LAUX, -0.5, fr(0.1), 15, true);
      SCALES[j] = scale;
      MINS[j] = qkx2Min;
      if (scale > maxScale) maxScale = scale;
      if (qkx2Min > maxMin) maxMin = qkx2Min;
    }
    if (maxScale > 0) {
      const iscale = fr(15 / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(fr(iscale * SCALES[j])) & 255;
      putF16(out, o + 80, fp16Bits(fr(maxScale / 15)));
    } else {
      out.fill(0, o, o + 16);
      putF16(out, o + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = fr(15 / maxMin);
      for (let j = 0; j < 16; j++) out[o + j] |= nearestInt(fr(iscale * MINS[j])) << 4;
      putF16(out, o + 82, fp16Bits(fr(maxMin / 15)));
    } else {
      putF16(out, o + 82, 0);
    }
    const d0 = fp16Value(out[o + 80] | (out[o + 81] << 8));
    const m0 = fp16Value(out[o + 82] | (out[o + 83] << 8));
    for (let j = 0; j < 16; j++) {
      const d = fr(d0 * (out[o + j] & 0xf));
      if (d === 0) continue; // C: !d is false for NaN
      const dm = fr(m0 * (out[o + j] >> 4));
      const xo = xb + 16 * j;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(fr(x[xo + ii] + dm) / d));
        L[16 * j + ii] = l < 0 ? 0 : l > 3 ? 3 : l;
      }
    }
    for (let j = 0, q = o + 16; j < QK_K; j += 128, q += 32) {
      for (let l = 0; l < 32; l++) {
        out[q + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
      }
    }
  }
}

/** The Q2_K scheme. */
export const Q2_K_SCHEME: QuantScheme = ggmlScheme({
  name: "Q2_K",
  description: "ggml 2-bit K-quant: super-blocks of 256, 4-bit sub-block scales and mins (2.625 bits/weight)",
  blockBytes: 84,
  blockElems: QK_K,
  quantizeRow: quantizeRowQ2_K,
  simd: "q2_k",
  wgslBlock: kquantWgsl(WGSL_KQUANT, WGSL_QKX2, WGSL_Q2_K_BLOCK),
});
