/**
 * k-bit min/max quantization (k = 1…8), per tensor: codes
 * q = clamp(round_half_even((x − min) · s), 0, 2^k − 1) with the float32
 * factor s = (2^k − 1)/(max − min) computed once, packed tightly as a
 * little-endian bit stream (element i at bits i·k … i·k + k − 1, first
 * element in the lowest bits of the first byte). Dequantization is
 * min + q · step with step = (max − min)/(2^k − 1).
 *
 * Stored as U8 codes of shape [ceil(n·k/8)] with `<name>.min` and
 * `<name>.scale` (the step) as F32 scalars. NaN is ignored by min/max and
 * gets code 0; a constant tensor (or one with an infinite range) gets all
 * codes 0.
 *
 * @module
 */

import { elementCount } from "../dtype.ts";
import { RNE_MAGIC, roundHalfEven } from "./_math.ts";
import { makePlan } from "./_plan.ts";
import { channelMinMax } from "./_stats.ts";
import { WGSL_ENTRY, WGSL_PRELUDE } from "./_wgsl.ts";
import type { QuantPlan, QuantResult, QuantScheme, StatsParams } from "./scheme.ts";

/** min, the quantizing factor s and the dequantizing step from the tensor's min and max. */
export function minmaxParams(
  bits: number,
  min: number,
  max: number,
): { min: number; factor: number; step: number } {
  const levels = 2 ** bits - 1;
  if (min === Infinity) return { min: 0, factor: 0, step: 0 };
  const range = Math.fround(max - min);
  const finite = Number.isFinite(range) && range > 0;
  return {
    min,
    factor: finite ? Math.fround(levels / range) : 0,
    step: finite ? Math.fround(range / levels) : 0,
  };
}

function packCodes(
  bits: number,
  x: Float32Array,
  count: number,
  min: number,
  factor: number,
  out: Uint8Array,
): void {
  const levels = 2 ** bits - 1;
  if (factor === 0) return;
  if (bits === 8) {
    for (let i = 0; i < count; i++) {
      const v = x[i];
      if (v !== v) continue;
      const r = roundHalfEven(Math.fround(Math.fround(v - min) * factor));
      out[i] = r < 0 ? 0 : r > 255 ? 255 : r;
    }
    return;
  }
  // A little-endian bit accumulator: whole bytes leave from its low end.
  let acc = 0;
  let filled = 0;
  let o = 0;
  for (let i = 0; i < count; i++) {
    const v = x[i];
    let r = 0;
    if (v === v) {
      const p = Math.fround(Math.fround(v - min) * factor);
      r = p + RNE_MAGIC - RNE_MAGIC;
      r = r < 0 ? 0 : r > levels ? levels : r;
    }
    acc |= r << filled;
    filled += bits;
    if (filled >= 8) {
      out[o++] = acc & 255;
      acc >>>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) out[o] = acc & 255;
}

/** Unpack k-bit codes (LSB-first) into integers. */
export function unpackCodes(bits: number, bytes: Uint8Array, count: number, out: Uint8Array): Uint8Array {
  const mask = (1 << bits) - 1;
  for (let i = 0, bit = 0; i < count; i++, bit += bits) {
    const byte = bit >> 3;
    const word = bytes[byte] | ((bytes[byte + 1] ?? 0) << 8);
    out[i] = (word >> (bit & 7)) & mask;
  }
  return out;
}

function wgslFor(bits: number): string {
  return `${WGSL_PRELUDE}
@group(0) @binding(3) var<storage, read_write> side: array<u32>;
fn quantize_unit(unit: u32) {
  let mn = bitcast<f32>(side[0]);
  let s = bitcast<f32>(side[1]);
  var acc: array<u32, ${bits + 1}>;
  for (var w = 0u; w <= ${bits}u; w = w + 1u) { acc[w] = 0u; }
  if (!is_zero(s)) {
    for (var j = 0u; j < 32u; j = j + 1u) {
      let i = unit * 32u + j;
      if (i >= params.count) { break; }
      let x = ldf(i);
      if (is_nan(x)) { continue; }
      let v = fmul(fsub(x, mn), s);
      let q = u32(clamp(round(v), 0.0, ${2 ** bits - 1}.0));
      let pos = j * ${bits}u;
      let w = pos >> 5u;
      let sh = pos & 31u;
      acc[w] = acc[w] | (q << sh);
      if (sh + ${bits}u > 32u) { acc[w + 1u] = acc[w + 1u] | (q >> (32u - sh)); }
    }
  }
  for (var w = 0u; w < ${bits}u; w = w + 1u) { dst[unit * ${bits}u + w] = acc[w]; }
}
${WGSL_ENTRY}`;
}

function minmaxScheme(bits: number): QuantScheme {
  const name = `minmax${bits}`;
  const companions = [
    { suffix: ".min", dtype: "F32", shape: [] },
    { suffix: ".scale", dtype: "F32", shape: [] },
  ] as const;
  const finish = (p: { min: number; step: number }) => [
    new Uint8Array(new Float32Array([p.min]).buffer),
    new Uint8Array(new Float32Array([p.step]).buffer),
  ];
  return {
    name,
    storage: "codes",
    settingKeys: [],
    description: `${bits}-bit codes between the tensor's min and max, packed tightly`,
    unsupported: () => undefined,
    plan(shape, settings): QuantPlan {
      const n = elementCount(shape);
      const bytes = Math.ceil((n * bits) / 8);
      return makePlan(name, shape, settings, {
        dtype: "U8",
        outShape: [bytes],
        byteLength: bytes,
        companions: companions.map((c) => ({ ...c, shape: [] })),
      });
    },
    quantize(plan, values): QuantResult {
      const mm = channelMinMax(plan, values);
      const p = minmaxParams(bits, mm.min[0], mm.max[0]);
      const out = new Uint8Array(plan.byteLength);
      packCodes(bits, values, plan.count, p.min, p.factor, out);
      return { data: out, companions: finish(p) };
    },
    dequantize(plan, result, out) {
      const target = out ?? new Float32Array(plan.count);
      const min = new Float32Array(result.companions[0].slice(0, 4).buffer)[0];
      const step = new Float32Array(result.companions[1].slice(0, 4).buffer)[0];
      const codes = unpackCodes(bits, result.data, plan.count, new Uint8Array(plan.count));
      for (let i = 0; i < plan.count; i++) target[i] = min + Math.fround(codes[i] * step);
      return target;
    },
    gpu: {
      kind: "stats",
      kernel: { wgsl: wgslFor(bits), unitElems: 32, unitWords: bits, auxPerUnit: 0 },
      params(_plan, min, max): StatsParams {
        const p = minmaxParams(bits, min[0], max[0]);
        const side = new Uint32Array(new Float32Array([p.min, p.factor]).buffer);
        return { side, companions: finish(p) };
      },
      uniforms: () => [0, 0],
    },
  };
}

/** minmax1 … minmax8, by bit width (index 0 is minmax1). */
export const MINMAX_SCHEMES: readonly QuantScheme[] = [1, 2, 3, 4, 5, 6, 7, 8].map(minmaxScheme);
