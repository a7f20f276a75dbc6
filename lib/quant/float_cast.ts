/**
 * The cast schemes: F16, BF16, F8_E4M3 and F8_E5M2. Each is a plain dtype
 * change with round to nearest even (see `../float8.ts` for FP8 overflow
 * rules and the `saturate` setting); the WGSL kernels convert by bit
 * manipulation, never with `pack2x16float`, whose rounding of ties and
 * subnormals the WGSL spec leaves open.
 *
 * @module
 */

import { byteLengthOf, type DType } from "../dtype.ts";
import { castBytes, f32ToBf16, f32ToF16 } from "../cast.ts";
import { f32ToFp8, type Fp8DType } from "../float8.ts";
import { bytesOf } from "./_math.ts";
import { makePlan } from "./_plan.ts";
import { WGSL_ENTRY, WGSL_PRELUDE } from "./_wgsl.ts";
import type { QuantPlan, QuantResult, QuantScheme, UnitKernel } from "./scheme.ts";

function fp8Wgsl(dtype: Fp8DType): string {
  const [m, bias, maxCode, nanCode, overflowCode, uz] = dtype === "F8_E4M3"
    ? [3, 7, 0x7e, 0x7f, 0x7f, false]
    : [2, 15, 0x7b, 0x7f, 0x7c, false];
  // A port of encodeFp8Bits (../float8.ts) with the format's constants; `sat` comes from params.a.
  return `
fn fp8(u: u32, sat: bool) -> u32 {
  let sign = (u >> 24u) & 0x80u;
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return ${uz ? `${nanCode}u` : `${nanCode}u | sign`}; }
  var code = 0u;
  if (a == 0x7f800000u) {
    code = 0x7fffffffu;
  } else {
    let e = a >> 23u;
    if (e >= ${128 - bias}u) {
      let t = a - (${127 - bias}u << 23u);
      code = (t + ${(1 << (23 - m - 1)) - 1}u + ((t >> ${23 - m}u) & 1u)) >> ${23 - m}u;
    } else if (e != 0u) {
      let mant = (a & 0x7fffffu) | 0x800000u;
      let s = ${151 - bias - m}u - e;
      if (s <= 25u) {
        let half = 1u << (s - 1u);
        let rem = mant & ((1u << s) - 1u);
        code = mant >> s;
        if (rem > half || (rem == half && (code & 1u) == 1u)) { code = code + 1u; }
      }
    }
  }
  if (code > ${maxCode}u) {
    if (sat) { code = ${maxCode}u; } else { return ${overflowCode}u | sign; }
  }
  return code | sign;
}
fn quantize_unit(unit: u32) {
  let i = unit * 4u;
  let sat = params.a != 0u;
  dst[unit] = fp8(src[i], sat) | (fp8(src[i + 1u], sat) << 8u) | (fp8(src[i + 2u], sat) << 16u) |
    (fp8(src[i + 3u], sat) << 24u);
}
`;
}

const F16_KERNEL = `
fn quantize_unit(unit: u32) {
  let i = unit * 2u;
  dst[unit] = f16_bits(ldf(i)) | (f16_bits(ldf(i + 1u)) << 16u);
}
`;

const BF16_KERNEL = `
fn bf16(u: u32) -> u32 {
  if ((u & 0x7fffffffu) > 0x7f800000u) { return (u >> 16u) | 0x40u; }
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}
fn quantize_unit(unit: u32) {
  let i = unit * 2u;
  dst[unit] = bf16(src[i]) | (bf16(src[i + 1u]) << 16u);
}
`;

function castScheme(
  name: "F16" | "BF16" | "F8_E4M3" | "F8_E5M2",
  description: string,
  body: string,
  unitElems: number,
  encode: (plan: QuantPlan, values: Float32Array, out: Uint8Array) => void,
): QuantScheme {
  const dtype: DType = name;
  const kernel: UnitKernel = {
    wgsl: WGSL_PRELUDE + body + WGSL_ENTRY,
    unitElems,
    unitWords: 1,
    auxPerUnit: 0,
  };
  return {
    name,
    storage: "cast",
    description,
    // Only the FP8 targets have a range to saturate to.
    settingKeys: name.startsWith("F8") ? ["saturate"] : [],
    unsupported: () => undefined,
    plan: (shape, settings) =>
      makePlan(name, shape, settings, { dtype, outShape: shape, byteLength: byteLengthOf(dtype, shape) }),
    quantize(plan, values): QuantResult {
      const out = new Uint8Array(plan.byteLength);
      encode(plan, values, out);
      return { data: out, companions: [] };
    },
    dequantize(plan, result, out) {
      const target = out ?? new Float32Array(plan.count);
      castBytes(result.data, dtype, "F32", plan.count, { out: bytesOf(target) });
      return target;
    },
    gpu: {
      kind: "units",
      kernel,
      uniforms: (plan) => [plan.settings.saturate ? 1 : 0, 0],
      finish: (_plan, data) => ({ data, companions: [] }),
    },
  };
}

/** Cast to IEEE half precision. */
export const F16_SCHEME: QuantScheme = castScheme(
  "F16",
  "IEEE float16, round to nearest even",
  F16_KERNEL,
  2,
  (_plan, values, out) => {
    f32ToF16(values, new Uint16Array(out.buffer, out.byteOffset, values.length));
  },
);

/** Cast to bfloat16. */
export const BF16_SCHEME: QuantScheme = castScheme(
  "BF16",
  "bfloat16, round to nearest even",
  BF16_KERNEL,
  2,
  (_plan, values, out) => {
    f32ToBf16(values, new Uint16Array(out.buffer, out.byteOffset, values.length));
  },
);

/** Cast to FP8 E4M3FN (max 448; NaN past it unless `saturate`). */
export const F8_E4M3_SCHEME: QuantScheme = castScheme(
  "F8_E4M3",
  "FP8 E4M3FN (max 448), PyTorch overflow rules or saturation",
  fp8Wgsl("F8_E4M3"),
  4,
  (plan, values, out) => {
    f32ToFp8(values, "F8_E4M3", { out, saturate: plan.settings.saturate });
  },
);

/** Cast to FP8 E5M2 (max 57344; Inf past it unless `saturate`). */
export const F8_E5M2_SCHEME: QuantScheme = castScheme(
  "F8_E5M2",
  "FP8 E5M2 (max 57344), PyTorch overflow rules or saturation",
  fp8Wgsl("F8_E5M2"),
  4,
  (plan, values, out) => {
    f32ToFp8(values, "F8_E5M2", { out, saturate: plan.settings.saturate });
  },
);
