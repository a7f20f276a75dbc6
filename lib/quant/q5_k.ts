/**
 * ggml Q5_K: Q4_K's super-block of eight 32-element sub-blocks with 6-bit
 * scales and mins, and 5-bit codes (the fifth bits in `qh`): 176 bytes (d,
 * dmin, scales[12], qh[32], qs[128]) — what `quantize_row_q5_K_ref` writes.
 *
 * @module
 */

import { ggmlScheme } from "./_ggml.ts";
import { QK_K, quantizeScalesMinsK } from "./_kquant.ts";
import { kquantWgsl, WGSL_K4, WGSL_KQUANT, WGSL_Q5_K_BLOCK, WGSL_QKX2 } from "./_kquant_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

const L = new Uint8Array(QK_K);

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
    quantizeScalesMinsK(x, xb, 31, -0.5, 15, out, o, L);
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
