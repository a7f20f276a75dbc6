/**
 * Narrow floats: FP8 (E4M3FN, E5M2, their FNUZ variants, E8M0), FP6 (E2M3,
 * E3M2) and FP4 (E2M1), decoded to float32 through lookup tables and encoded
 * from float32 bit patterns with round to nearest, ties to even.
 *
 * Out-of-range values follow PyTorch's casts by default: E4M3FN has no
 * infinity, so a value that rounds past 448 (|x| > 464, and ±Inf) becomes NaN;
 * E5M2 overflows to ±Inf. With `saturate` (ONNX `Cast(saturate=1)`) they
 * clamp to the largest finite value instead, ±Inf included. NaN stays NaN and
 * keeps its sign; the FNUZ variants have one NaN (0x80) and no negative zero.
 *
 * Packing of the sub-byte types: F4 holds two elements a byte, the first in
 * the low nibble; F6 holds four elements in three bytes, as a little-endian
 * bit stream, first element in the lowest bits.
 *
 * @module
 */

import type { DType } from "./dtype.ts";

/** Options for the FP8 encoders. */
export interface Fp8EncodeOptions {
  /** Clamp out-of-range values (and ±Inf) to the largest finite value, as ONNX `Cast(saturate=1)`. @default false */
  saturate?: boolean;
  /** Where to write the codes (at least `input.length` bytes). @default a new array */
  out?: Uint8Array;
}

/** The FP8 dtypes ckpt can encode to. */
export type Fp8DType = "F8_E4M3" | "F8_E5M2" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ";

interface MiniFormat {
  readonly mantissaBits: number;
  readonly bias: number;
  /** Largest finite magnitude code. */
  readonly maxCode: number;
  /** Code for NaN (before the sign). */
  readonly nanCode: number;
  /** Code an overflow becomes without saturation (before the sign). */
  readonly overflowCode: number;
  /** Unsigned-zero formats: one NaN at 0x80, no -0, no sign on NaN. */
  readonly unsignedZero: boolean;
}

const FORMATS: Readonly<Record<Fp8DType, MiniFormat>> = {
  F8_E4M3: {
    mantissaBits: 3,
    bias: 7,
    maxCode: 0x7e,
    nanCode: 0x7f,
    overflowCode: 0x7f,
    unsignedZero: false,
  },
  F8_E5M2: {
    mantissaBits: 2,
    bias: 15,
    maxCode: 0x7b,
    nanCode: 0x7f,
    overflowCode: 0x7c,
    unsignedZero: false,
  },
  F8_E4M3FNUZ: {
    mantissaBits: 3,
    bias: 8,
    maxCode: 0x7f,
    nanCode: 0x80,
    overflowCode: 0x80,
    unsignedZero: true,
  },
  F8_E5M2FNUZ: {
    mantissaBits: 2,
    bias: 16,
    maxCode: 0x7f,
    nanCode: 0x80,
    overflowCode: 0x80,
    unsignedZero: true,
  },
};

/**
 * Encode one float32 bit pattern as an FP8 code (the scalar reference the
 * tables and the WGSL kernels are built from).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFp8Bits } from "./float8.ts";
 * const bits = new Uint32Array(new Float32Array([1]).buffer)[0];
 * assert.equal(encodeFp8Bits(bits, "F8_E4M3"), 0x38);
 * ```
 */
export function encodeFp8Bits(bits: number, dtype: Fp8DType, saturate = false): number {
  const f = FORMATS[dtype];
  const u = bits >>> 0;
  const sign = (u >>> 24) & 0x80;
  const abs = u & 0x7fffffff;
  if (abs > 0x7f800000) return f.unsignedZero ? f.nanCode : f.nanCode | sign;
  let code: number;
  if (abs === 0x7f800000) {
    code = 0x7fffffff;
  } else {
    const m = f.mantissaBits;
    const e = abs >>> 23;
    if (e >= 128 - f.bias) {
      // Normal target: rebias, then round the mantissa at bit 23 - m.
      const shift = 23 - m;
      const t = abs - ((127 - f.bias) << 23);
      code = (t + ((1 << (shift - 1)) - 1) + ((t >>> shift) & 1)) >>> shift;
    } else if (e === 0) {
      code = 0; // float32 subnormals are far below every FP8 subnormal
    } else {
      // Subnormal target: the value in units of the smallest subnormal.
      const mant = (abs & 0x7fffff) | 0x800000;
      const s = 151 - f.bias - m - e;
      if (s > 25) {
        code = 0;
      } else {
        const half = 1 << (s - 1);
        const rem = mant & ((1 << s) - 1);
        code = mant >>> s;
        if (rem > half || (rem === half && (code & 1) === 1)) code++;
      }
    }
  }
  if (code > f.maxCode) {
    if (saturate) code = f.maxCode;
    else return f.unsignedZero ? f.overflowCode : f.overflowCode | sign;
  }
  if (code === 0 && f.unsignedZero) return 0;
  return code | sign;
}

// One table per (dtype, saturate), indexed by the top 16 bits of the float32
// and whether any of the low 16 bits is set: the rounding bit of every FP8
// format lies at bit 16 or above, so the low half only acts as a sticky bit.
const encodeTables = new Map<string, Uint8Array>();

function encodeTable(dtype: Fp8DType, saturate: boolean): Uint8Array {
  const key = `${dtype}:${saturate}`;
  let table = encodeTables.get(key);
  if (!table) {
    table = new Uint8Array(131072);
    for (let hi = 0; hi < 65536; hi++) {
      table[hi << 1] = encodeFp8Bits(hi << 16, dtype, saturate);
      table[(hi << 1) | 1] = encodeFp8Bits((hi << 16) | 1, dtype, saturate);
    }
    encodeTables.set(key, table);
  }
  return table;
}

/**
 * Encode float32 values as FP8 codes of `dtype`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { f32ToFp8 } from "./float8.ts";
 * const values = new Float32Array([1, 500]);
 * assert.deepEqual(f32ToFp8(values, "F8_E4M3"), new Uint8Array([0x38, 0x7f])); // 500 is out of range: NaN
 * assert.deepEqual(f32ToFp8(values, "F8_E4M3", { saturate: true }), new Uint8Array([0x38, 0x7e])); // 448
 * ```
 */
export function f32ToFp8(input: Float32Array, dtype: Fp8DType, options: Fp8EncodeOptions = {}): Uint8Array {
  const n = input.length;
  const out = options.out ?? new Uint8Array(n);
  const table = encodeTable(dtype, options.saturate ?? false);
  const bits = new Uint32Array(input.buffer, input.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const u = bits[i];
    out[i] = table[((u >>> 15) & 0x1fffe) | (((u & 0xffff) + 0xffff) >>> 16)];
  }
  return out;
}

function buildDecode(count: number, value: (code: number) => number): Float32Array {
  const table = new Float32Array(count);
  for (let c = 0; c < count; c++) table[c] = value(c);
  return table;
}

function signedMini(code: number, expBits: number, manBits: number, bias: number): number {
  const sign = (code >> (expBits + manBits)) & 1 ? -1 : 1;
  const exp = (code >> manBits) & ((1 << expBits) - 1);
  const man = code & ((1 << manBits) - 1);
  const magnitude = exp === 0
    ? man * 2 ** (1 - bias - manBits)
    : (1 + man / 2 ** manBits) * 2 ** (exp - bias);
  return sign * magnitude;
}

/** Float32 value of every code, per dtype (NaN and Inf codes included). */
const DECODE: Readonly<Partial<Record<DType, Float32Array>>> = {
  F8_E4M3: buildDecode(256, (c) => ((c & 0x7f) === 0x7f ? NaN : signedMini(c, 4, 3, 7))),
  F8_E5M2: buildDecode(256, (c) => {
    if ((c & 0x7c) === 0x7c) return (c & 3) ? NaN : (c & 0x80 ? -Infinity : Infinity);
    return signedMini(c, 5, 2, 15);
  }),
  F8_E4M3FNUZ: buildDecode(256, (c) => (c === 0x80 ? NaN : signedMini(c, 4, 3, 8))),
  F8_E5M2FNUZ: buildDecode(256, (c) => (c === 0x80 ? NaN : signedMini(c, 5, 2, 16))),
  F8_E8M0: buildDecode(256, (c) => (c === 0xff ? NaN : 2 ** (c - 127))),
  F4: buildDecode(16, (c) => signedMini(c, 2, 1, 1)),
  F6_E2M3: buildDecode(64, (c) => signedMini(c, 2, 3, 1)),
  F6_E3M2: buildDecode(64, (c) => signedMini(c, 3, 2, 3)),
};

/**
 * The float32 value of every code of a narrow float dtype (256 for FP8, 64
 * for FP6, 16 for FP4), or `undefined` for other dtypes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narrowFloatValues } from "./float8.ts";
 * assert.equal(narrowFloatValues("F8_E4M3")![0x7e], 448);
 * ```
 */
export function narrowFloatValues(dtype: DType): Float32Array | undefined {
  return DECODE[dtype];
}

/**
 * Decode `out.length` elements of a narrow float dtype (FP8, FP6 or FP4,
 * packed as described in the module doc) to float32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narrowFloatToF32 } from "./float8.ts";
 * const out = new Float32Array(2);
 * narrowFloatToF32(new Uint8Array([0x38, 0xfe]), "F8_E4M3", out);
 * assert.deepEqual(out, new Float32Array([1, -448]));
 * ```
 */
export function narrowFloatToF32(bytes: Uint8Array, dtype: DType, out: Float32Array): Float32Array {
  const table = DECODE[dtype];
  if (!table) throw new TypeError(`${dtype} is not a narrow float dtype`);
  const n = out.length;
  if (table.length === 256) {
    for (let i = 0; i < n; i++) out[i] = table[bytes[i]];
  } else if (table.length === 16) {
    for (let i = 0; i < n; i++) out[i] = table[(bytes[i >> 1] >> ((i & 1) << 2)) & 15];
  } else {
    for (let i = 0; i < n; i++) {
      const bit = i * 6;
      const byte = bit >> 3;
      const word = bytes[byte] | ((bytes[byte + 1] ?? 0) << 8);
      out[i] = table[(word >> (bit & 7)) & 63];
    }
  }
  return out;
}
