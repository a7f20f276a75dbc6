/**
 * Exact element conversions between floating-point dtypes, with PyTorch's
 * rounding (nearest, ties to even) and NaN/Inf/subnormal behaviour.
 *
 * @module
 */

import { type DType, dtypeInfo, isFloatDType } from "./dtype.ts";
import { UsageError } from "./errors.ts";
import { f32ToFp8, type Fp8DType, narrowFloatToF32 } from "./float8.ts";
import { bf16Simd, f16Simd } from "./simd/kernels.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error("ckpt needs a little-endian host");

/**
 * Round float32 bit patterns to bfloat16 (nearest, ties to even; NaN stays a
 * quiet NaN with its sign), as `torch.Tensor.bfloat16()` does.
 *
 * @example
 * ```ts
 * import { f32ToBf16 } from "./cast.ts";
 * const out = f32ToBf16(new Float32Array([1, 1.00390625]));
 * console.log(out); // Uint16Array [16256, 16256]
 * ```
 */
export function f32ToBf16(input: Float32Array, out?: Uint16Array): Uint16Array {
  const n = input.length;
  const result = out ?? new Uint16Array(n);
  const bits = new Uint32Array(input.buffer, input.byteOffset, n);
  // The WebAssembly SIMD kernel (same bytes) takes all but a tail of < 8.
  for (let i = bf16Simd(input, result); i < n; i++) {
    const u = bits[i];
    if ((u & 0x7fffffff) > 0x7f800000) {
      result[i] = (u >>> 16) | 0x0040;
    } else {
      result[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }
  }
  return result;
}

/**
 * Round float32 values to IEEE half precision bit patterns (nearest, ties to
 * even; overflow to ±Inf; NaN → sign | 0x7e00), the bits `Float16Array`
 * stores and `torch.Tensor.half()` computes for numbers.
 *
 * @example
 * ```ts
 * import { f32ToF16 } from "./cast.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(f32ToF16(new Float32Array([1, 65520, 2 ** -25])), new Uint16Array([0x3c00, 0x7c00, 0]));
 * ```
 */
export function f32ToF16(input: Float32Array, out?: Uint16Array): Uint16Array {
  const n = input.length;
  const result = out ?? new Uint16Array(n);
  // The WebAssembly SIMD kernel takes all but a tail of < 8; Float16Array's own
  // conversion (the reference, and the fallback without SIMD) does the rest.
  const done = f16Simd(input, result);
  if (done < n) {
    new Float16Array(result.buffer, result.byteOffset + done * 2, n - done).set(input.subarray(done));
  }
  return result;
}

/**
 * Widen bfloat16 bit patterns to float32 (exact).
 *
 * @example
 * ```ts
 * import { bf16ToF32 } from "./cast.ts";
 * console.log(bf16ToF32(new Uint16Array([0x3f80]))); // Float32Array [1]
 * ```
 */
export function bf16ToF32(input: Uint16Array, out?: Float32Array): Float32Array {
  const n = input.length;
  const result = out ?? new Float32Array(n);
  const bits = new Uint32Array(result.buffer, result.byteOffset, n);
  for (let i = 0; i < n; i++) bits[i] = input[i] << 16;
  return result;
}

/** Decoders from a float dtype's bytes to float32 values, keyed by dtype. */
export type ToF32 = (bytes: Uint8Array, out: Float32Array) => void;
/** Encoders from float32 values to a float dtype's bytes. */
export type FromF32 = (values: Float32Array, out: Uint8Array) => void;

function aligned(bytes: Uint8Array, width: number): Uint8Array {
  // Typed-array views need aligned offsets; copy only when the input is not.
  return bytes.byteOffset % width === 0 ? bytes : bytes.slice();
}

const TO_F32: Partial<Record<DType, ToF32>> = {
  F32: (bytes, out) => {
    out.set(new Float32Array(aligned(bytes, 4).buffer, aligned(bytes, 4).byteOffset, out.length));
  },
  F64: (bytes, out) => {
    const a = aligned(bytes, 8);
    out.set(new Float64Array(a.buffer, a.byteOffset, out.length));
  },
  F16: (bytes, out) => {
    const a = aligned(bytes, 2);
    out.set(new Float16Array(a.buffer, a.byteOffset, out.length));
  },
  BF16: (bytes, out) => {
    const a = aligned(bytes, 2);
    bf16ToF32(new Uint16Array(a.buffer, a.byteOffset, out.length), out);
  },
};

const FROM_F32: Partial<Record<DType, FromF32>> = {
  F32: (values, out) => {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  },
  F64: (values, out) => {
    new Float64Array(out.buffer, out.byteOffset, values.length).set(values);
  },
  F16: (values, out) => {
    f32ToF16(values, new Uint16Array(out.buffer, out.byteOffset, values.length));
  },
  BF16: (values, out) => {
    f32ToBf16(values, new Uint16Array(out.buffer, out.byteOffset, values.length));
  },
};

/**
 * Register conversions for another float dtype (used by the FP8/FP4/FP6
 * codecs so `castBytes` covers them too).
 *
 * @example
 * ```ts ignore
 * registerFloatCodec("F8_E5M2", decodeE5m2, encodeE5m2);
 * ```
 */
export function registerFloatCodec(dtype: DType, toF32: ToF32, fromF32?: FromF32): void {
  TO_F32[dtype] = toF32;
  if (fromF32) FROM_F32[dtype] = fromF32;
}

// The narrow floats: every one decodes; the FP8 ones with a sign also encode
// (PyTorch's non-saturating casts; `f32ToFp8` offers saturation).
for (
  const dtype of [
    "F8_E4M3",
    "F8_E5M2",
    "F8_E4M3FNUZ",
    "F8_E5M2FNUZ",
    "F8_E8M0",
    "F4",
    "F6_E2M3",
    "F6_E3M2",
  ] as const
) {
  registerFloatCodec(dtype, (bytes, out) => {
    narrowFloatToF32(bytes, dtype, out);
  });
}
for (const dtype of ["F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ"] as const satisfies Fp8DType[]) {
  FROM_F32[dtype] = (values, out) => {
    f32ToFp8(values, dtype, { out });
  };
}

/**
 * True when `castBytes` can convert from `from` to `to`.
 *
 * @example
 * ```ts
 * import { canCast } from "./cast.ts";
 * console.log(canCast("F32", "BF16")); // true
 * ```
 */
export function canCast(from: DType, to: DType): boolean {
  return from === to || (TO_F32[from] !== undefined && FROM_F32[to] !== undefined);
}

/** Options for {@linkcode castBytes}. */
export interface CastOptions {
  /** Where to write the result (at least the output byte length). @default a new array */
  out?: Uint8Array;
  /** Scratch float32 buffer of at least `count` elements, reused across calls. @default a new array */
  scratch?: Float32Array;
}

/**
 * Convert `count` elements from one float dtype to another. F64 → F32 → target
 * matches PyTorch, whose double-to-half casts also pass through float.
 *
 * @example
 * ```ts
 * import { castBytes } from "./cast.ts";
 * const f32 = new Uint8Array(new Float32Array([1.5, -2]).buffer);
 * const f16 = castBytes(f32, "F32", "F16", 2);
 * console.log(new Float16Array(f16.buffer)); // Float16Array [1.5, -2]
 * ```
 */
export function castBytes(
  bytes: Uint8Array,
  from: DType,
  to: DType,
  count: number,
  options: CastOptions = {},
): Uint8Array {
  const outBytes = (count * dtypeInfo(to).bits) / 8;
  const out = options.out ? options.out.subarray(0, outBytes) : new Uint8Array(outBytes);
  if (from === to) {
    out.set(bytes.subarray(0, outBytes));
    return out;
  }
  const decode = TO_F32[from];
  const encode = FROM_F32[to];
  if (!decode || !encode || !isFloatDType(from) || !isFloatDType(to)) {
    throw new UsageError(`Cannot cast ${from} to ${to}: only floating-point dtypes are cast`);
  }
  if (from === "F32" && to !== "F64") {
    // Fast path: no scratch copy for the most common cast.
    const a = aligned(bytes, 4);
    encode(new Float32Array(a.buffer, a.byteOffset, count), out);
    return out;
  }
  const values = options.scratch && options.scratch.length >= count
    ? options.scratch.subarray(0, count)
    : new Float32Array(count);
  decode(bytes, values);
  encode(values, out);
  return out;
}
