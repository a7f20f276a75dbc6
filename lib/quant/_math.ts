// Float32 arithmetic helpers shared by the CPU references. Every operation
// that C or WGSL does in float32 is done here as a double operation rounded
// with Math.fround: for +, -, *, / of two float32 values the double result
// rounded to float32 equals the float32 operation (no double-rounding error).

const F16 = new Float16Array(1);
const U16 = new Uint16Array(F16.buffer);

/** IEEE half bits of a float32 value, round to nearest even; NaN → 0x7e00. */
export function f16Bits(x: number): number {
  if (x !== x) return 0x7e00;
  F16[0] = x;
  return U16[0];
}

/** Float32 value of IEEE half bits. */
export function f16Value(bits: number): number {
  U16[0] = bits;
  return F16[0];
}

/**
 * 1.5 · 2^52: adding and subtracting it rounds a double to an integer with
 * ties to even, exactly, for |x| < 2^51.
 */
export const RNE_MAGIC = 6755399441055744;

/**
 * Round half to even (nearbyint in the default rounding mode, numpy's
 * `round`, ONNX QuantizeLinear). NaN and ±Inf come back as they are.
 *
 * @example
 * ```ts
 * import { roundHalfEven } from "./_math.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   [0.5, 1.5, 2.5, -2.5, 2 ** 51 + 0.5, 2 ** 51 + 1.5].map(roundHalfEven),
 *   [0, 2, 2, -2, 2 ** 51, 2 ** 51 + 2],
 * );
 * ```
 */
export function roundHalfEven(x: number): number {
  if (Math.abs(x) < 2 ** 51) return x + RNE_MAGIC - RNE_MAGIC;
  // From 2^51 doubles are multiples of 0.5, and halves end at 2^52.
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** C `roundf`: half away from zero. */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** The largest finite float32, C's FLT_MAX. */
export const FLT_MAX = 3.4028234663852886e38;

/** float32 machine epsilon, torch.finfo(torch.float32).eps. */
export const F32_EPS = 2 ** -23;

/** Bits of a float32 number. */
export function f32Bits(x: number): number {
  F32[0] = x;
  return U32[0];
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** View a byte array as float32 values, copying only when it is misaligned. */
export function asF32(bytes: Uint8Array, count: number): Float32Array {
  const a = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice(0, count * 4);
  return new Float32Array(a.buffer, a.byteOffset, count);
}

/** The bytes of a typed array. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
