/**
 * int8 quantization as PyTorch does it: scale and zero point from
 * MinMaxObserver / PerChannelMinMaxObserver (the range always includes 0,
 * scale floored at float32 eps, optional reduce_range), then
 * q = clamp(zp + round_half_even(x · fp32(1/scale)), qmin, qmax) as
 * `torch.quantize_per_tensor` / `quantize_per_channel` compute it.
 *
 * - symmetric (default): qint8, zero point 0, scale = max(−min, max)/127.5
 *   (63.5 with reduce_range); stored as I8 codes and `<name>.scale`.
 * - affine: quint8, scale = (max − min)/255 (127), zp = clamp(−round(min/scale));
 *   stored as U8 codes, `<name>.scale` and `<name>.zero_point` (U8).
 *
 * Per channel, the scale (and zero point) have one value per index of `axis`
 * (default 0, a weight's output channels); per tensor they are scalars.
 * Codes are clamped to the dtype's range even with reduce_range (which only
 * narrows the scale), as `quantize_per_tensor` does. Min and max ignore NaN;
 * a NaN input gives the dtype's minimum (what PyTorch's x86 cast of NaN
 * yields) and ±Inf saturate.
 *
 * @module
 */

import { elementCount } from "../dtype.ts";
import { F32_EPS, RNE_MAGIC, roundHalfEven } from "./_math.ts";
import { makePlan } from "./_plan.ts";
import { int8RunSimd, SIMD_MIN_RUN } from "../simd/kernels.ts";
import { channelAbsMax, channelMinMax } from "./_stats.ts";
import { WGSL_ENTRY, WGSL_PRELUDE } from "./_wgsl.ts";
import type { QuantPlan, QuantResult, QuantScheme, QuantSettings, StatsParams } from "./scheme.ts";

/** Quantization range for the settings, as PyTorch's observers set it. */
export function int8Range(settings: Readonly<QuantSettings>): { qmin: number; qmax: number } {
  if (settings.affine) return settings.reduceRange ? { qmin: 0, qmax: 127 } : { qmin: 0, qmax: 255 };
  return settings.reduceRange ? { qmin: -64, qmax: 63 } : { qmin: -128, qmax: 127 };
}

/**
 * Scale and zero point per channel from min and max, as
 * `MinMaxObserver._calculate_qparams` computes them in float32.
 *
 * @example
 * ```ts
 * import { int8QParams } from "./int8.ts";
 * const p = int8QParams(new Float32Array([-1]), new Float32Array([2]), { affine: true, reduceRange: false });
 * console.log(p.scale[0].toFixed(6), p.zeroPoint[0]); // 0.011765 85
 * ```
 */
export function int8QParams(
  min: Float32Array,
  max: Float32Array,
  settings: Pick<QuantSettings, "affine" | "reduceRange">,
): { scale: Float32Array; zeroPoint: Int32Array } {
  const { qmin, qmax } = int8Range(settings as QuantSettings);
  const n = min.length;
  const scale = new Float32Array(n);
  const zeroPoint = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    if (min[c] === Infinity && max[c] === -Infinity) {
      // An empty (all-NaN) channel: PyTorch's defaults.
      scale[c] = 1;
      zeroPoint[c] = 0;
      continue;
    }
    const minNeg = Math.min(min[c], 0);
    const maxPos = Math.max(max[c], 0);
    if (!settings.affine) {
      const m = Math.max(-minNeg, maxPos);
      scale[c] = Math.max(Math.fround(m / ((qmax - qmin) / 2)), F32_EPS);
      zeroPoint[c] = 0;
    } else {
      const s = Math.max(Math.fround(Math.fround(maxPos - minNeg) / (qmax - qmin)), F32_EPS);
      scale[c] = s;
      const zp = qmin - roundHalfEven(Math.fround(minNeg / s));
      zeroPoint[c] = Math.min(qmax, Math.max(qmin, zp));
    }
  }
  return { scale, zeroPoint };
}

// quantize_per_tensor/channel clamp to the dtype's range; reduce_range only
// narrows the observer's scale.
function storageRange(settings: Readonly<QuantSettings>): { qmin: number; qmax: number } {
  return settings.affine ? { qmin: 0, qmax: 255 } : { qmin: -128, qmax: 127 };
}

function quantizeWith(
  plan: QuantPlan,
  x: Float32Array,
  scale: Float32Array,
  zeroPoint: Int32Array,
  out: Uint8Array,
): void {
  const { qmin, qmax } = storageRange(plan.settings);
  const { channels, inner } = plan;
  const n = plan.count;
  const span = channels * inner;
  for (let start = 0; start < n; start += span) {
    for (let c = 0; c < channels; c++) {
      const from = start + c * inner;
      quantizeRun(x, from, from + inner, Math.fround(1 / scale[c]), zeroPoint[c], qmin, qmax, out);
    }
  }
}

// q = clamp(zp + rne(p), qmin, qmax) computed as zp + rne(clamp(p, qmin − zp, qmax − zp)):
// equal because rounding is monotonic and the bounds are integers. The
// clamp is written so NaN falls to the lower bound (qmin, as PyTorch), and
// after it |p| ≤ 255, so the magic-number rounding is exact and `| 0`
// hands the store an int32 (much faster than storing a double).
function quantizeRun(
  x: Float32Array,
  from: number,
  to: number,
  inv: number,
  zp: number,
  qmin: number,
  qmax: number,
  out: Uint8Array,
): void {
  const lo = qmin - zp;
  const hi = qmax - zp;
  if (to - from >= SIMD_MIN_RUN) from += int8RunSimd(x, from, to, inv, zp, lo, hi, out);
  for (let i = from; i < to; i++) {
    const p = Math.fround(x[i] * inv);
    const c = p > lo ? (p < hi ? p : hi) : lo;
    out[i] = zp + ((c + RNE_MAGIC - RNE_MAGIC) | 0);
  }
}

function params(plan: QuantPlan, min: Float32Array, max: Float32Array) {
  const { scale, zeroPoint } = int8QParams(min, max, plan.settings);
  const companions: Uint8Array[] = [new Uint8Array(scale.buffer)];
  if (plan.settings.affine) companions.push(Uint8Array.from(zeroPoint));
  return { scale, zeroPoint, companions };
}

const KERNEL_WGSL = `${WGSL_PRELUDE}
@group(0) @binding(3) var<storage, read_write> side: array<u32>;
fn quantize_unit(unit: u32) {
  let qmin = bitcast<i32>(params.a);
  let qmax = bitcast<i32>(params.b);
  var word = 0u;
  for (var k = 0u; k < 4u; k = k + 1u) {
    let i = unit * 4u + k;
    let ch = ((params.base + i) / params.inner) % params.channels;
    let inv = bitcast<f32>(side[ch]);
    let zp = bitcast<i32>(side[params.channels + ch]);
    let p = fmul(ldf(i), inv);
    var q = qmin;
    if (!is_nan(p)) {
      if (!is_fin(p)) {
        q = select(qmax, qmin, (bitcast<u32>(p) & 0x80000000u) != 0u);
      } else {
        let r = i32(clamp(round(p), -1073741824.0, 1073741824.0));
        q = clamp(zp + r, qmin, qmax);
      }
    }
    word = word | ((u32(q) & 0xffu) << (8u * k));
  }
  dst[unit] = word;
}
${WGSL_ENTRY}`;

/** The int8 scheme (symmetric qint8 by default; `affine` for quint8; `perChannel` along `axis`). */
export const INT8_SCHEME: QuantScheme = {
  name: "int8",
  storage: "codes",
  description: "8-bit integers with PyTorch MinMax-observer scale (and zero point when affine)",
  settingKeys: ["perChannel", "axis", "affine", "reduceRange"],
  unsupported: () => undefined,
  plan(shape, settings): QuantPlan {
    const perChannel = settings.perChannel && shape.length > 0;
    const draft = makePlan("int8", shape, settings, {
      dtype: "I8",
      outShape: shape,
      byteLength: 0,
      perChannel,
    });
    const paramShape = perChannel ? [draft.channels] : [];
    const codeType = settings.affine ? "U8" : "I8";
    return makePlan("int8", shape, settings, {
      dtype: codeType,
      outShape: shape,
      byteLength: elementCount(shape),
      perChannel,
      companions: settings.affine
        ? [
          { suffix: ".scale", dtype: "F32", shape: paramShape },
          { suffix: ".zero_point", dtype: codeType, shape: paramShape },
        ]
        : [{ suffix: ".scale", dtype: "F32", shape: paramShape }],
    });
  },
  quantize(plan, values): QuantResult {
    const { min, max } = plan.settings.affine ? channelMinMax(plan, values) : channelAbsMax(plan, values);
    const p = params(plan, min, max);
    const out = new Uint8Array(plan.count);
    quantizeWith(plan, values, p.scale, p.zeroPoint, out);
    return { data: out, companions: p.companions };
  },
  dequantize(plan, result, out) {
    const target = out ?? new Float32Array(plan.count);
    const c0 = result.companions[0];
    const scale = new Float32Array(c0.buffer.slice(c0.byteOffset, c0.byteOffset + c0.byteLength));
    const zp = result.companions[1];
    const signed = !plan.settings.affine;
    const { channels, inner } = plan;
    const span = channels * inner;
    for (let start = 0; start < plan.count; start += span) {
      for (let c = 0; c < channels; c++) {
        const s = scale[c];
        const z = zp ? zp[c] : 0;
        const from = start + c * inner;
        for (let i = from; i < from + inner; i++) {
          const q = signed ? (result.data[i] << 24) >> 24 : result.data[i];
          target[i] = (q - z) * s;
        }
      }
    }
    return target;
  },
  gpu: {
    kind: "stats",
    kernel: { wgsl: KERNEL_WGSL, unitElems: 4, unitWords: 1, auxPerUnit: 0 },
    params(plan, min, max): StatsParams {
      const p = params(plan, min, max);
      const c = plan.channels;
      const side = new Uint32Array(2 * c);
      const inv = new Float32Array(c);
      for (let i = 0; i < c; i++) inv[i] = 1 / p.scale[i];
      side.set(new Uint32Array(inv.buffer), 0);
      side.set(new Uint32Array(p.zeroPoint.buffer), c);
      return { side, companions: p.companions };
    },
    uniforms(plan) {
      const { qmin, qmax } = storageRange(plan.settings);
      return [qmin >>> 0, qmax >>> 0];
    },
  },
};
