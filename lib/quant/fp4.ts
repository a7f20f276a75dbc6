/**
 * FP4 as bitsandbytes defines it (E2M1 with its own bias): bit 3 the sign,
 * magnitudes [0, 0.0625, 8, 12, 4, 6, 2, 3]/12 for codes 0…7, chosen by
 * bitsandbytes' `dQuantizeFP4` decision tree; blocks of 64 with a float32
 * absmax, first element of each pair in the high nibble (see `_bnb4.ts`).
 *
 * @module
 */

import { bnb4Scheme } from "./_bnb4.ts";
import { wgslF32 } from "./_wgsl.ts";
import type { QuantScheme } from "./scheme.ts";

/** The magnitudes of codes 0…7 as bitsandbytes' dequantization tree returns them (float32). */
export const FP4_VALUES: Float32Array = new Float32Array([
  0,
  5.208333333e-3,
  0.66666667,
  1,
  0.33333333,
  0.5,
  0.16666667,
  0.25,
]);

const T = [0.29166667, 0.583333, 0.8333333, 0.4166667, 0.0859375, 0.20833333, 0.00260417].map(Math.fround);

// dQuantizeFP4 is a binary search over these magnitudes' midpoints: the
// rank of |x| among them (sorted) picks the code, counted branch-free.
const [R0, R1, R2, R3, R4, R5, R6] = [...T].sort((a, b) => a - b);
const RANK_TO_CODE = new Uint8Array([0, 1, 6, 7, 4, 5, 2, 3]);

/**
 * The FP4 code of a normalized value (NaN → 0), as `dQuantizeFP4`.
 *
 * @example
 * ```ts
 * import { fp4Code } from "./fp4.ts";
 * console.log(fp4Code(1), fp4Code(-1), fp4Code(0)); // 3 11 0
 * ```
 */
export function fp4Code(x: number): number {
  const a = x < 0 ? -x : x;
  const rank = +(a > R0) + +(a > R1) + +(a > R2) + +(a > R3) + +(a > R4) + +(a > R5) + +(a > R6);
  return RANK_TO_CODE[rank] + (x < 0 ? 8 : 0);
}

const t = T.map(wgslF32);

/** The FP4 scheme. */
export const FP4_SCHEME: QuantScheme = bnb4Scheme({
  name: "FP4",
  description: "bitsandbytes 4-bit float, blocks of 64 with an fp32 absmax",
  encode(x, from, to, n, inv, out) {
    const last = Math.min(to, n) & ~1;
    for (let i = from; i < last; i += 2) {
      out[i >> 1] = (fp4Code(Math.fround(x[i] * inv)) << 4) | fp4Code(Math.fround(x[i + 1] * inv));
    }
    if (last < to && last < n) {
      out[last >> 1] = (fp4Code(Math.fround(x[last] * inv)) << 4) | fp4Code(Math.fround(0 * inv));
    }
  },
  dequant: (c, absmax) => Math.fround(FP4_VALUES[c & 7] * absmax) * (c & 8 ? -1 : 1),
  wgslCode: `
fn code(x: f32) -> u32 {
  if (is_nan(x)) { return 0u; }
  let sign = select(0u, 8u, x < 0.0);
  let a = fabs(x);
  if (a > ${t[0]}) {
    if (a > ${t[1]}) { return select(2u, 3u, a > ${t[2]}) + sign; }
    return select(4u, 5u, a > ${t[3]}) + sign;
  }
  if (a > ${t[4]}) { return select(6u, 7u, a > ${t[5]}) + sign; }
  return select(0u, 1u, a > ${t[6]}) + sign;
}`,
});
