// Per-channel min/max (NaN ignored) for the two-pass schemes, on the CPU and
// as a WGSL reduction over order-preserving u32 keys with atomics.

import { WGSL_ENTRY, WGSL_PARAMS } from "./_wgsl.ts";
import { absMaxSimd, minMaxSimd, SIMD_MIN_RUN } from "../simd/kernels.ts";
import type { QuantPlan, UnitKernel } from "./scheme.ts";

/** Per-channel minimum and maximum of the non-NaN values (+Inf/−Inf when a channel has none). */
export function channelMinMax(plan: QuantPlan, x: Float32Array): { min: Float32Array; max: Float32Array } {
  const { channels, inner } = plan;
  const min = new Float32Array(channels).fill(Infinity);
  const max = new Float32Array(channels).fill(-Infinity);
  const n = plan.count;
  const span = channels * inner;
  for (let start = 0; start < n; start += span) {
    for (let c = 0; c < channels; c++) {
      let lo = min[c];
      let hi = max[c];
      const from = start + c * inner;
      const to = from + inner;
      const simd = inner >= SIMD_MIN_RUN ? minMaxSimd(x, from, to, lo, hi) : undefined;
      if (simd) {
        [min[c], max[c]] = simd;
        continue;
      }
      for (let i = from; i < to; i++) {
        const v = x[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      min[c] = lo;
      max[c] = hi;
    }
  }
  // -0 and +0 compare equal, so which one a scan keeps depends on order; fix it.
  for (let c = 0; c < channels; c++) {
    min[c] = min[c] + 0;
    max[c] = max[c] + 0;
  }
  return { min, max };
}

/**
 * Per-channel −max|x| and max|x| of the non-NaN values (+Inf/−Inf when a
 * channel has none): all a symmetric scale needs, in one comparison per
 * element instead of two.
 */
export function channelAbsMax(plan: QuantPlan, x: Float32Array): { min: Float32Array; max: Float32Array } {
  const { channels, inner } = plan;
  const max = new Float32Array(channels).fill(-Infinity);
  const n = plan.count;
  const span = channels * inner;
  for (let start = 0; start < n; start += span) {
    for (let c = 0; c < channels; c++) {
      const from = start + c * inner;
      const to = from + inner;
      const simd = inner >= SIMD_MIN_RUN ? absMaxSimd(x, from, to, max[c]) : undefined;
      if (simd !== undefined) {
        max[c] = simd;
        continue;
      }
      let hi = max[c];
      for (let i = from; i < to; i++) {
        const v = Math.abs(x[i]);
        if (v > hi) hi = v;
      }
      max[c] = hi;
    }
  }
  const min = new Float32Array(channels);
  for (let c = 0; c < channels; c++) min[c] = max[c] === -Infinity ? Infinity : -max[c];
  return { min, max };
}

/** Decode the reduction kernel's keys (min key, max key per channel) into floats. */
export function decodeMinMaxKeys(
  keys: Uint32Array,
  channels: number,
): { min: Float32Array; max: Float32Array } {
  const bits = new Uint32Array(2 * channels);
  for (let i = 0; i < 2 * channels; i++) {
    const k = keys[i];
    bits[i] = k & 0x80000000 ? k & 0x7fffffff : ~k >>> 0;
  }
  const f = new Float32Array(bits.buffer);
  const min = new Float32Array(channels);
  const max = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    min[c] = keys[2 * c] === 0xffffffff ? Infinity : f[2 * c] + 0;
    max[c] = keys[2 * c + 1] === 0 ? -Infinity : f[2 * c + 1] + 0;
  }
  return { min, max };
}

/** Initial key words for the reduction: min keys at their largest, max keys at 0. */
export function initialMinMaxKeys(channels: number): Uint32Array {
  const keys = new Uint32Array(2 * channels);
  for (let c = 0; c < channels; c++) keys[2 * c] = 0xffffffff;
  return keys;
}

const REDUCE_WGSL = /* wgsl */ `
${WGSL_PARAMS}@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read_write> side: array<atomic<u32>>;

fn key(u: u32) -> u32 {
  if ((u & 0x80000000u) != 0u) { return ~u; }
  return u | 0x80000000u;
}
fn flush(c: u32, lo: u32, hi: u32) {
  if (lo != 0xffffffffu) {
    atomicMin(&side[2u * c], lo);
    atomicMax(&side[2u * c + 1u], hi);
  }
}
fn quantize_unit(unit: u32) {
  let start = unit * 64u;
  let end = min(start + 64u, params.count);
  var c = ((params.base + start) / params.inner) % params.channels;
  var lo = 0xffffffffu;
  var hi = 0u;
  for (var i = start; i < end; i = i + 1u) {
    let ch = ((params.base + i) / params.inner) % params.channels;
    if (ch != c) {
      flush(c, lo, hi);
      c = ch;
      lo = 0xffffffffu;
      hi = 0u;
    }
    let u = src[i];
    if ((u & 0x7fffffffu) <= 0x7f800000u) {
      let k = key(u);
      lo = min(lo, k);
      hi = max(hi, k);
    }
  }
  flush(c, lo, hi);
}
${WGSL_ENTRY}`;

/** The min/max reduction kernel: 64 elements an invocation, results in the side buffer. */
export const MIN_MAX_KERNEL: UnitKernel = { wgsl: REDUCE_WGSL, unitElems: 64, unitWords: 0, auxPerUnit: 0 };
