/**
 * NF4 as bitsandbytes defines it: 16 normal-float code values, blocks of 64
 * with a float32 absmax, the code chosen by bitsandbytes' `dQuantizeNF4`
 * decision tree (its exact float32 thresholds), first element of each pair in
 * the high nibble. See `_bnb4.ts` for the shared blockwise rules.
 *
 * @module
 */

import { bnb4Scheme } from "./_bnb4.ts";
import { wgslF32 } from "./_wgsl.ts";
import { nf4Simd } from "../simd/kernels.ts";
import type { QuantScheme } from "./scheme.ts";

/** The 16 NF4 values, code order. */
export const NF4_VALUES: Float32Array = new Float32Array([
  -1,
  -0.6961928009986877,
  -0.5250730514526367,
  -0.39491748809814453,
  -0.28444138169288635,
  -0.18477343022823334,
  -0.09105003625154495,
  0,
  0.07958029955625534,
  0.16093020141124725,
  0.24611230194568634,
  0.33791524171829224,
  0.44070982933044434,
  0.5626170039176941,
  0.7229568362236023,
  1,
]);

// The tree's thresholds as float32 (C literals with an f suffix), in the
// order: root, then the 1-branch, the 0-branch, as dQuantizeNF4 nests them.
const T = [
  0.03979014977812767,
  0.3893125355243683,
  0.6427869200706482,
  0.8614784181118011,
  0.5016634166240692,
  0.2035212516784668,
  0.2920137718319893,
  0.1202552504837513,
  -0.33967943489551544,
  -0.13791173323988914,
  -0.045525018125772476,
  -0.23460740596055984,
  -0.6106329262256622,
  -0.4599952697753906,
  -0.8480964004993439,
].map(Math.fround);

// The tree's 15 thresholds sorted: they are the midpoints between
// neighbouring codes, and dQuantizeNF4 is a binary search over them, so the
// code is the number of thresholds x exceeds (NaN exceeds none: code 0).
// Counting is branch-free, which random weights need: the tree mispredicts.
const [M0, M1, M2, M3, M4, M5, M6, M7, M8, M9, M10, M11, M12, M13, M14] = [...T].sort((a, b) => a - b);

/**
 * The NF4 code of a normalized value (NaN → 0), as `dQuantizeNF4`.
 *
 * @example
 * ```ts
 * import { nf4Code } from "./nf4.ts";
 * console.log(nf4Code(1), nf4Code(0), nf4Code(-1)); // 15 7 0
 * ```
 */
export function nf4Code(x: number): number {
  return +(x > M0) + +(x > M1) + +(x > M2) + +(x > M3) + +(x > M4) + +(x > M5) + +(x > M6) + +(x > M7) +
    +(x > M8) + +(x > M9) + +(x > M10) + +(x > M11) + +(x > M12) + +(x > M13) + +(x > M14);
}

const t = T.map(wgslF32);

/** The NF4 scheme. */
export const NF4_SCHEME: QuantScheme = bnb4Scheme({
  name: "NF4",
  description: "bitsandbytes 4-bit NormalFloat, blocks of 64 with an fp32 absmax",
  encode(x, from, to, n, inv, out) {
    const last = Math.min(to, n) & ~1;
    for (let i = from; i < last; i += 2) {
      out[i >> 1] = (nf4Code(Math.fround(x[i] * inv)) << 4) | nf4Code(Math.fround(x[i + 1] * inv));
    }
    if (last < to && last < n) {
      out[last >> 1] = (nf4Code(Math.fround(x[last] * inv)) << 4) | nf4Code(Math.fround(0 * inv));
    }
  },
  dequant: (c, absmax) => Math.fround(NF4_VALUES[c] * absmax),
  simdBlocks: nf4Simd,
  wgslCode: `
fn code(x: f32) -> u32 {
  if (is_nan(x)) { return 0u; }
  if (x > ${t[0]}) {
    if (x > ${t[1]}) {
      if (x > ${t[2]}) { return select(14u, 15u, x > ${t[3]}); }
      return select(12u, 13u, x > ${t[4]});
    }
    if (x > ${t[5]}) { return select(10u, 11u, x > ${t[6]}); }
    return select(8u, 9u, x > ${t[7]});
  }
  if (x > ${t[8]}) {
    if (x > ${t[9]}) { return select(6u, 7u, x > ${t[10]}); }
    return select(4u, 5u, x > ${t[11]});
  }
  if (x > ${t[12]}) { return select(2u, 3u, x > ${t[13]}); }
  return select(0u, 1u, x > ${t[14]});
}`,
});
