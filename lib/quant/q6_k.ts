/**
 * ggml Q6_K: super-blocks of 256 as sixteen sub-blocks of 16, each with an
 * int8 scale from `make_qx_quants`'s 19-step search, quantized against one
 * fp16 `d`, and 6-bit codes split into low nibbles and high bit pairs: 210
 * bytes (ql[128], qh[64], scales[16], d) — what `quantize_row_q6_K_ref` writes.
 *
 * @module
 */

import { ggmlScheme } from "./_ggml.ts";
import { fp16Bits, fp16Value, GROUP_MAX_EPS, makeQxQuants, nearestInt, putF16, QK_K } from "./_kquant.ts";
import { kquantWgsl, WGSL_KQUANT, WGSL_Q6_K_BLOCK, WGSL_QX } from "./_kquant_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

const fr = Math.fround;
const L = new Int8Array(QK_K);
const SCALES = new Float32Array(16);

/**
 * Quantize float32 values (a multiple of 256) to Q6_K super-blocks of 210 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeRowQ6_K } from "./q6_k.ts";
 * const out = new Uint8Array(210);
 * quantizeRowQ6_K(new Float32Array(256), out);
 * assert.deepEqual([...new Set(out)], [0]); // an all-zero super-block is all zero bytes
 * ```
 */
export function quantizeRowQ6_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / QK_K;
  for (let i = 0; i < nb; i++) {
    const xb = i * QK_K;
    const o = i * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xb + 16 * ib, L, 16 * ib);
      SCALES[ib] = scale;
      const abs = Math.abs(scale);
      if (abs > maxAbsScale) {
        maxAbsScale = abs;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + 210);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const dBits = fp16Bits(fr(1 / iscale));
    putF16(out, o + 208, dBits);
    const d0 = fp16Value(dBits);
    for (let ib = 0; ib < 16; ib++) {
      const q = nearestInt(fr(iscale * SCALES[ib]));
      out[o + 192 + ib] = (q < 127 ? q : 127) & 255;
    }
    for (let j = 0; j < 16; j++) {
      const d = fr(d0 * ((out[o + 192 + j] << 24) >> 24));
      if (d === 0) continue; // C: !d is false for NaN
      const xo = xb + 16 * j;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[xo + ii] / d));
        L[16 * j + ii] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
      }
    }
    for (let j = 0, ql = o, qh = o + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l];
        const b = L[j + l + 32];
        const c = L[j + l + 64];
        const e = L[j + l + 96];
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = ((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6)) & 255;
      }
    }
  }
}

/** The Q6_K scheme. */
export const Q6_K_SCHEME: QuantScheme = ggmlScheme({
  name: "Q6_K",
  description:
    "ggml 6-bit K-quant: super-blocks of 256, int8 scales for sub-blocks of 16 (6.5625 bits/weight)",
  blockBytes: 210,
  blockElems: QK_K,
  quantizeRow: quantizeRowQ6_K,
  simd: "q6_k",
  wgslBlock: kquantWgsl(WGSL_KQUANT, WGSL_QX, WGSL_Q6_K_BLOCK),
});
