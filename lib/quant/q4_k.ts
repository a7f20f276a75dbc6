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
import { QK_K, quantizeScalesMinsK } from "./_kquant.ts";
import { kquantWgsl, WGSL_K4, WGSL_KQUANT, WGSL_Q4_K_BLOCK, WGSL_QKX2 } from "./_kquant_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

const L = new Uint8Array(QK_K);

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
    quantizeScalesMinsK(x, xb, 15, -1, 20, out, o, L);
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
