/**
 * ggml Q3_K: super-blocks of 256 as sixteen sub-blocks of 16, each with a
 * signed 6-bit scale from `make_q3_quants`, quantized against one fp16 `d`,
 * and 3-bit codes (two low bits in `qs`, the high bit in `hmask`): 110 bytes
 * (hmask[32], qs[64], scales[12], d) — what `quantize_row_q3_K_ref` writes.
 *
 * @module
 */

import { ggmlScheme } from "./_ggml.ts";
import { fp16Bits, fp16Value, makeQ3Quants, nearestInt, putF16, QK_K } from "./_kquant.ts";
import { kquantWgsl, WGSL_KQUANT, WGSL_Q3, WGSL_Q3_K_BLOCK } from "./_kquant_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

const fr = Math.fround;
const L = new Int8Array(QK_K);
const SCALES = new Float32Array(16);

/**
 * Quantize float32 values (a multiple of 256) to Q3_K super-blocks of 110 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeRowQ3_K } from "./q3_k.ts";
 * const out = new Uint8Array(110);
 * quantizeRowQ3_K(new Float32Array(256).fill(1), out);
 * assert.equal(out[0], 0); // equal values: every code -4 (high bits clear)
 * ```
 */
export function quantizeRowQ3_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK_K;
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 110;
    const sc = o + 96;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      const scale = makeQ3Quants(16, 4, x, xb + 16 * j, L, 16 * j);
      SCALES[j] = scale;
      const abs = Math.abs(scale);
      if (abs > amax) {
        amax = abs;
        maxScale = scale;
      }
    }
    out.fill(0, sc, sc + 12);
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        let l = (nearestInt(fr(iscale * SCALES[j])) << 24) >> 24;
        l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
        if (j < 8) out[sc + j] = l & 0xf;
        else out[sc + j - 8] |= (l & 0xf) << 4;
        out[sc + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
      }
      putF16(out, o + 108, fp16Bits(fr(1 / iscale)));
    } else {
      putF16(out, o + 108, 0);
    }
    const d0 = fp16Value(out[o + 108] | (out[o + 109] << 8));
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? out[sc + j] & 0xf : out[sc + j - 8] >> 4;
      const s = (low | (((out[sc + 8 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
      const d = fr(d0 * s);
      if (d === 0) continue; // C: !d is false for NaN
      const xo = xb + 16 * j;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xo + ii] / d));
        L[16 * j + ii] = (l < -4 ? -4 : l > 3 ? 3 : l) + 4;
      }
    }
    out.fill(0, o, o + 32);
    for (let j = 0; j < QK_K; j++) {
      if (L[j] > 3) {
        out[o + (j & 31)] |= 1 << (j >> 5);
        L[j] -= 4;
      }
    }
    for (let j = 0, q = o + 32; j < QK_K; j += 128, q += 32) {
      for (let l = 0; l < 32; l++) {
        out[q + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
      }
    }
  }
}

/** The Q3_K scheme. */
export const Q3_K_SCHEME: QuantScheme = ggmlScheme({
  name: "Q3_K",
  description:
    "ggml 3-bit K-quant: super-blocks of 256, 6-bit scales for sub-blocks of 16 (3.4375 bits/weight)",
  blockBytes: 110,
  blockElems: QK_K,
  quantizeRow: quantizeRowQ3_K,
  simd: "q3_k",
  wgslBlock: kquantWgsl(WGSL_KQUANT, WGSL_Q3, WGSL_Q3_K_BLOCK),
});
