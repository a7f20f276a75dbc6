// What NF4 and FP4 share, as bitsandbytes' kQuantizeBlockwise does it for
// 4-bit types: blocks of 64 (the last one padded with zeros), absmax per block
// (fmaxf, so NaN is skipped; starting from -FLT_MAX), each value multiplied by
// the float32 reciprocal 1/absmax and mapped to a code by a fixed decision
// tree, two codes a byte with the first element in the HIGH nibble.
//
// Optional double quantization of the absmax values (documented variant, not
// bitsandbytes' dynamic 8-bit map): subtract their mean (float64, stored as
// float32 `<name>.absmax_offset`), then per block of 256 a symmetric int8 code
// round_half_even(v · 127/amax) with `<name>.absmax_scale` = amax/127.

import { FLT_MAX, roundHalfEven } from "./_math.ts";
import { makePlan } from "./_plan.ts";
import { WGSL_ENTRY, WGSL_PRELUDE } from "./_wgsl.ts";
import type { CompanionSpec, QuantPlan, QuantResult, QuantScheme } from "./scheme.ts";
import { elementCount } from "../dtype.ts";

/** Elements per absmax block. */
export const BNB_BLOCK = 64;
/** absmax values per block of the double quantization. */
export const NESTED_BLOCK = 256;

function companionsFor(blocks: number, doubleQuant: boolean): CompanionSpec[] {
  if (!doubleQuant) return [{ suffix: ".absmax", dtype: "F32", shape: [blocks] }];
  return [
    { suffix: ".absmax", dtype: "I8", shape: [blocks] },
    { suffix: ".absmax_scale", dtype: "F32", shape: [Math.ceil(blocks / NESTED_BLOCK)] },
    { suffix: ".absmax_offset", dtype: "F32", shape: [] },
  ];
}

/** Companion bytes for per-block absmax values, nested-quantized when asked. */
export function absmaxCompanions(absmax: Float32Array, doubleQuant: boolean): Uint8Array[] {
  if (!doubleQuant) return [new Uint8Array(absmax.buffer, absmax.byteOffset, absmax.byteLength)];
  const n = absmax.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += absmax[i];
  const offset = Math.fround(n ? sum / n : 0);
  const codes = new Int8Array(n);
  const scales = new Float32Array(Math.ceil(n / NESTED_BLOCK));
  for (let b = 0; b < scales.length; b++) {
    const from = b * NESTED_BLOCK;
    const to = Math.min(n, from + NESTED_BLOCK);
    let amax = 0;
    for (let i = from; i < to; i++) amax = Math.max(amax, Math.abs(Math.fround(absmax[i] - offset)));
    const scale = Math.fround(amax / 127);
    const factor = amax > 0 ? Math.fround(127 / amax) : 0;
    scales[b] = scale;
    for (let i = from; i < to; i++) {
      const q = roundHalfEven(Math.fround(Math.fround(absmax[i] - offset) * factor));
      codes[i] = Math.max(-127, Math.min(127, q));
    }
  }
  return [
    new Uint8Array(codes.buffer),
    new Uint8Array(scales.buffer),
    new Uint8Array(new Float32Array([offset]).buffer),
  ];
}

/** The absmax values back from their companions. */
export function absmaxFrom(
  companions: readonly Uint8Array[],
  blocks: number,
  doubleQuant: boolean,
): Float32Array {
  const c0 = companions[0];
  if (!doubleQuant) return new Float32Array(c0.slice(0, blocks * 4).buffer);
  const codes = new Int8Array(c0.buffer, c0.byteOffset, blocks);
  const scales = new Float32Array(companions[1].slice().buffer);
  const offset = new Float32Array(companions[2].slice(0, 4).buffer)[0];
  const out = new Float32Array(blocks);
  for (let i = 0; i < blocks; i++) {
    out[i] = Math.fround(codes[i] * scales[Math.floor(i / NESTED_BLOCK)]) + offset;
  }
  return out;
}

/** Define NF4 or FP4 from its scalar code function, its values and its WGSL `fn code(p: f32) -> u32`. */
export function bnb4Scheme(spec: {
  name: string;
  description: string;
  /** Codes of x[from..to) (zero past `n`) times `inv`, two a byte into out[from/2 …]; a per-scheme loop so the code function inlines. */
  encode(x: Float32Array, from: number, to: number, n: number, inv: number, out: Uint8Array): void;
  dequant(code: number, absmax: number): number;
  /** Codes and absmax of the first `blocks` whole blocks by a SIMD kernel; false when it cannot run. */
  simdBlocks?(x: Float32Array, blocks: number, out: Uint8Array, absmax: Float32Array): boolean;
  wgslCode: string;
}): QuantScheme {
  const wgsl = `${WGSL_PRELUDE}
@group(0) @binding(3) var<storage, read_write> side: array<u32>;
${spec.wgslCode}
fn quantize_unit(unit: u32) {
  let base = unit * 64u;
  var am = bitcast<f32>(0xff7fffffu);
  for (var j = 0u; j < 64u; j = j + 1u) {
    let a = fabs(ldf(base + j));
    if (!is_nan(a) && a > am) { am = a; }
  }
  let inv = div_rn(1.0, am);
  side[unit] = bitcast<u32>(am);
  for (var w = 0u; w < 8u; w = w + 1u) {
    var word = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
      let i = base + w * 8u + k * 2u;
      let hi = code(fmul(ldf(i), inv));
      let lo = code(fmul(ldf(i + 1u), inv));
      word = word | (((hi << 4u) | lo) << (8u * k));
    }
    dst[unit * 8u + w] = word;
  }
}
${WGSL_ENTRY}`;
  return {
    name: spec.name,
    storage: "codes",
    description: spec.description,
    settingKeys: ["doubleQuant"],
    unsupported: () => undefined,
    plan(shape, settings): QuantPlan {
      const n = elementCount(shape);
      const bytes = Math.ceil(n / 2);
      return makePlan(spec.name, shape, settings, {
        dtype: "U8",
        outShape: [bytes],
        byteLength: bytes,
        companions: companionsFor(Math.ceil(n / BNB_BLOCK), settings.doubleQuant),
      });
    },
    quantize(plan, x): QuantResult {
      const n = plan.count;
      const blocks = Math.ceil(n / BNB_BLOCK);
      const absmax = new Float32Array(blocks);
      const out = new Uint8Array(plan.byteLength);
      const whole = Math.floor(n / BNB_BLOCK);
      const done = whole > 0 && spec.simdBlocks?.(x, whole, out, absmax) ? whole : 0;
      for (let b = done; b < blocks; b++) {
        const from = b * BNB_BLOCK;
        const to = Math.min(n, from + BNB_BLOCK);
        let am = -FLT_MAX;
        for (let i = from; i < to; i++) {
          const a = Math.abs(x[i]);
          if (a > am) am = a;
        }
        if (to - from < BNB_BLOCK && am < 0) am = 0; // zero padding takes part
        absmax[b] = am;
        spec.encode(x, from, to, n, Math.fround(1 / am), out);
      }
      return { data: out, companions: absmaxCompanions(absmax, plan.settings.doubleQuant) };
    },
    dequantize(plan, result, out) {
      const n = plan.count;
      const target = out ?? new Float32Array(n);
      const absmax = absmaxFrom(result.companions, Math.ceil(n / BNB_BLOCK), plan.settings.doubleQuant);
      for (let i = 0; i < n; i++) {
        const byte = result.data[i >> 1];
        const c = i & 1 ? byte & 15 : byte >> 4;
        target[i] = spec.dequant(c, absmax[Math.floor(i / BNB_BLOCK)]);
      }
      return target;
    },
    gpu: {
      kind: "units",
      kernel: { wgsl, unitElems: BNB_BLOCK, unitWords: 8, auxPerUnit: 1 },
      finish(plan, data, aux): QuantResult {
        const blocks = Math.ceil(plan.count / BNB_BLOCK);
        const absmax = new Float32Array(aux!.buffer, aux!.byteOffset, blocks).slice();
        return { data, companions: absmaxCompanions(absmax, plan.settings.doubleQuant) };
      },
    },
  };
}
