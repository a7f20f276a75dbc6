// The arithmetic of onnxruntime's quantizers, step for step, so that the
// codes, scales and zero points ckpt writes are the bytes onnxruntime writes:
// dynamic 8-bit weights (quantization/quant_utils.py: compute_scale_zp,
// quantize_nparray) and MatMulNBits 4-bit blocks (the MLAS blockwise
// quantizer behind matmul_nbits_quantizer.py).

import { NF4_VALUES } from "../../lib/quant/nf4.ts";
import { roundHalfEven } from "../../lib/quant/_math.ts";
import { int8RunSimd, minMaxSimd, SIMD_MIN_RUN } from "../../lib/simd/kernels.ts";

const F32_TINY = 1.1754943508222875e-38;
const ROUNDER = 6755399441055744;

/** Round half away from zero (C `roundf`). */
function roundAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** 8-bit weight types of dynamic quantization. */
export type Int8Type = "int8" | "uint8";

/** Scale and zero point for values in `[min, max]`: int8 symmetric over ±127, uint8 asymmetric over 0..255. */
export function scaleZeroPoint(
  min: number,
  max: number,
  type: Int8Type,
): { scale: number; zeroPoint: number } {
  let rmin = Math.min(min, 0);
  let rmax = Math.max(max, 0);
  const symmetric = type === "int8";
  const [qmin, qmax] = symmetric ? [-127, 127] : [0, 255];
  if (symmetric) {
    const absmax = Math.max(Math.abs(rmin), Math.abs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  // The range is a float32 difference, divided in float64.
  const scale = Math.fround(rmax - rmin) / (qmax - qmin);
  if (!(scale >= F32_TINY)) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = symmetric ? 0 : roundHalfEven(qmin - rmin / scale);
  return { scale: Math.fround(scale), zeroPoint };
}

/** Quantize every value into `out` as `round_half_even(x / scale) + zp`, clipped to the type. */
export function quantizeInto(
  values: Float32Array,
  scale: number,
  zeroPoint: number,
  type: Int8Type,
  out: Uint8Array,
): void {
  const lo = type === "int8" ? -128 : 0;
  const hi = type === "int8" ? 127 : 255;
  const n = values.length;
  // The SIMD kernel computes the same codes (x / scale in float32, clamped, rounded half to even)
  // and stops before a NaN, whose code here is 0.
  const done = n >= SIMD_MIN_RUN
    ? int8RunSimd(values, 0, n, scale, zeroPoint, lo - zeroPoint, hi - zeroPoint, out, {
      divide: true,
      stopAtNaN: true,
    })
    : 0;
  // The hot loop of 8-bit quantization. Adding and subtracting 1.5·2^52 rounds a float64 of magnitude
  // below 2^51 to an integer, half to even (the FPU's mode); a negative code wraps to its byte.
  for (let i = done; i < n; i++) {
    const q = Math.fround(values[i] / scale) + ROUNDER - ROUNDER + zeroPoint;
    out[i] = q < lo ? lo : q > hi ? hi : q;
  }
}

/** Smallest and largest of `count` values from `start` with `stride`. */
export function minMax(
  values: Float32Array,
  start = 0,
  stride = 1,
  count: number = values.length,
): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  if (stride === 1 && count >= SIMD_MIN_RUN) {
    // Which of ±0 the kernel keeps does not matter: the range is taken with 0 included.
    const simd = minMaxSimd(values, start, start + count, min, max);
    if (simd) return simd;
  }
  for (let k = 0, i = start; k < count; k++, i += stride) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return count === 0 ? [0, 0] : [min, max];
}

/** MatMulNBits tensors of a `[K, N]` float weight. */
export interface NBitsBlocks {
  /** `[N, kBlocks, blockSize / 2]`, low nibble first. */
  packed: Uint8Array;
  /** `[N, kBlocks]` float32. */
  scales: Float32Array;
  /** `[N, ceil(kBlocks / 2)]`, two 4-bit zero points a byte; undefined when symmetric. */
  zeroPoints: Uint8Array | undefined;
  kBlocks: number;
}

/**
 * Quantize a row-major `[K, N]` weight in blocks of `blockSize` along K (one
 * block per column), K padded with zeros to whole blocks.
 */
export function quantizeNBits(
  weight: Float32Array,
  K: number,
  N: number,
  blockSize: number,
  symmetric: boolean,
): NBitsBlocks {
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const packed = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  const zpRow = Math.ceil(kBlocks / 2);
  const zeroPoints = symmetric ? undefined : new Uint8Array(N * zpRow).fill(0x88);
  const column = new Float32Array(kBlocks * blockSize);
  for (let n = 0; n < N; n++) {
    column.fill(0);
    for (let k = 0; k < K; k++) column[k] = weight[k * N + n];
    for (let b = 0; b < kBlocks; b++) {
      let min = 3.4028234663852886e38;
      let max = -min;
      const start = b * blockSize;
      for (let i = start; i < start + blockSize; i++) {
        const v = column[i];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      let scale: number;
      let zp = 8;
      if (symmetric) {
        const m = Math.abs(max) > Math.abs(min) ? max : min;
        scale = Math.fround(m / -8);
      } else {
        const lo = Math.min(min, 0);
        const hi = Math.max(max, 0);
        scale = Math.fround(Math.fround(hi - lo) / 15);
        const zf = scale !== 0 ? Math.fround(0 - Math.fround(lo / scale)) : lo;
        zp = zf < 0 ? 0 : zf > 15 ? 15 : roundAway(zf);
        const at = n * zpRow + (b >> 1);
        zeroPoints![at] = b & 1 ? (zeroPoints![at] & 0x0f) | (zp << 4) : (zeroPoints![at] & 0xf0) | zp;
      }
      scales[n * kBlocks + b] = scale;
      const reciprocal = scale ? Math.fround(1 / scale) : 0;
      const out = (n * kBlocks + b) * blob;
      // Rows past K (the padding) stay 0; an odd K's last pair takes the zero point as its high nibble.
      for (let i = 0; i < blockSize && start + i < K; i += 2) {
        const q0 = clamp15(roundAway(Math.fround(Math.fround(column[start + i] * reciprocal) + zp)));
        const q1 = start + i + 1 < K
          ? clamp15(roundAway(Math.fround(Math.fround(column[start + i + 1] * reciprocal) + zp)))
          : zp;
        packed[out + i / 2] = (q0 & 0xf) | (q1 << 4);
      }
    }
  }
  return { packed, scales, zeroPoints, kBlocks };
}

function clamp15(v: number): number {
  return v < 0 ? 0 : v > 15 ? 15 : v;
}

/**
 * float32 values as float16 bits, after clamping as onnxruntime's float16
 * converter does: magnitudes below `minPositive` (but not 0) become
 * ±minPositive, magnitudes above `maxFinite` (but finite) become ±maxFinite.
 */
export function toFloat16Clamped(
  values: Float32Array,
  minPositive = 5.96e-8,
  maxFinite = 65504,
): Uint16Array {
  // numpy compares float32 arrays with these bounds as float32.
  minPositive = Math.fround(minPositive);
  maxFinite = Math.fround(maxFinite);
  const out = new Float16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    if (v > 0 && v < minPositive) v = minPositive;
    else if (v < 0 && v > -minPositive) v = -minPositive;
    else if (v > maxFinite && v < Infinity) v = maxFinite;
    else if (v < -maxFinite && v > -Infinity) v = -maxFinite;
    out[i] = v;
  }
  return new Uint16Array(out.buffer);
}

/** The float32 midpoints between neighbouring codes: a value's code is how many of them it exceeds. */
const NF4_BOUNDS = Float32Array.from(NF4_VALUES.subarray(1), (c, i) => (NF4_VALUES[i] + c) / 2);

function nf4(x: number): number {
  let code = 0;
  while (code < 15 && x > NF4_BOUNDS[code]) code++;
  return code;
}

/**
 * MatMulBnb4 tensors of a row-major `[K, N]` float weight: the weight
 * transposed to `[N, K]`, flattened, in blocks of `blockSize` with a float32
 * absmax each; NF4 codes two a byte, the first in the high nibble.
 */
export function quantizeBnb4(weight: Float32Array, K: number, N: number, blockSize: number): {
  packed: Uint8Array;
  absmax: Float32Array;
} {
  const numel = K * N;
  const t = new Float32Array(numel);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) t[n * K + k] = weight[k * N + n];
  const blocks = Math.ceil(numel / blockSize);
  const packed = new Uint8Array(Math.ceil(numel / 2));
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize;
    const end = Math.min(start + blockSize, numel);
    let amax = 0;
    for (let i = start; i < end; i++) amax = Math.max(amax, Math.abs(t[i]));
    absmax[b] = amax;
    const r = amax ? Math.fround(1 / Math.fround(amax)) : 0;
    for (let i = start; i < end; i += 2) {
      const hi = nf4(Math.fround(t[i] * r));
      const lo = nf4(i + 1 < end ? Math.fround(t[i + 1] * r) : 0);
      packed[i >> 1] = (hi << 4) | lo;
    }
  }
  return { packed, absmax };
}
