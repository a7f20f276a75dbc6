/**
 * The dtype table: every element type ckpt knows, under safetensors' names,
 * with its width in bits and its kind.
 *
 * @module
 */

import { FormatError, LimitError, UsageError } from "./errors.ts";

/**
 * Names of the element types, as safetensors spells them; `C128` (complex
 * float64, which TensorFlow, numpy and torch have) is ckpt's own addition and
 * safetensors files neither hold nor get it.
 */
export type DType =
  | "BOOL"
  | "U8"
  | "I8"
  | "U16"
  | "I16"
  | "F16"
  | "BF16"
  | "U32"
  | "I32"
  | "F32"
  | "C64"
  | "C128"
  | "F64"
  | "U64"
  | "I64"
  | "F8_E4M3"
  | "F8_E5M2"
  | "F8_E8M0"
  | "F8_E4M3FNUZ"
  | "F8_E5M2FNUZ"
  | "F4"
  | "F6_E2M3"
  | "F6_E3M2";

/** What an element type holds. */
export type DTypeKind = "bool" | "uint" | "int" | "float" | "complex";

/** Facts about one element type. */
export interface DTypeInfo {
  /** The safetensors name. */
  readonly name: DType;
  /** Width of one element in bits (4 and 6 for the packed sub-byte types). */
  readonly bits: number;
  /** What the element holds. */
  readonly kind: DTypeKind;
}

function info(name: DType, bits: number, kind: DTypeKind): DTypeInfo {
  return Object.freeze({ name, bits, kind });
}

/** Every dtype, in safetensors' declaration order. */
export const DTYPES: Readonly<Record<DType, DTypeInfo>> = Object.freeze({
  BOOL: info("BOOL", 8, "bool"),
  F4: info("F4", 4, "float"),
  F6_E2M3: info("F6_E2M3", 6, "float"),
  F6_E3M2: info("F6_E3M2", 6, "float"),
  U8: info("U8", 8, "uint"),
  I8: info("I8", 8, "int"),
  F8_E5M2: info("F8_E5M2", 8, "float"),
  F8_E4M3: info("F8_E4M3", 8, "float"),
  F8_E8M0: info("F8_E8M0", 8, "float"),
  F8_E4M3FNUZ: info("F8_E4M3FNUZ", 8, "float"),
  F8_E5M2FNUZ: info("F8_E5M2FNUZ", 8, "float"),
  I16: info("I16", 16, "int"),
  U16: info("U16", 16, "uint"),
  F16: info("F16", 16, "float"),
  BF16: info("BF16", 16, "float"),
  I32: info("I32", 32, "int"),
  U32: info("U32", 32, "uint"),
  F32: info("F32", 32, "float"),
  C64: info("C64", 64, "complex"),
  C128: info("C128", 128, "complex"),
  F64: info("F64", 64, "float"),
  I64: info("I64", 64, "int"),
  U64: info("U64", 64, "uint"),
});

/**
 * True when `name` is a known dtype.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isDType } from "./dtype.ts";
 * assert.equal(isDType("BF16"), true);
 * assert.equal(isDType("bfloat16"), false);
 * ```
 */
export function isDType(name: unknown): name is DType {
  return typeof name === "string" && Object.hasOwn(DTYPES, name);
}

/**
 * Facts about a dtype; throws a `TypeError` for an unknown name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dtypeInfo } from "./dtype.ts";
 * assert.equal(dtypeInfo("F16").bits, 16);
 * ```
 */
export function dtypeInfo(name: DType): DTypeInfo {
  if (!isDType(name)) throw new UsageError(`Unknown dtype '${String(name)}'`);
  return DTYPES[name];
}

/**
 * Number of elements of a shape (1 for a 0-d tensor), checked to be a safe
 * integer; throws `LimitError` when the product overflows 2^53.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { elementCount } from "./dtype.ts";
 * assert.equal(elementCount([3, 4]), 12);
 * assert.equal(elementCount([]), 1); // a scalar
 * ```
 */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new FormatError(`Invalid dimension ${dim} in shape [${shape.join(", ")}]`);
    }
    count *= dim;
    if (!Number.isSafeInteger(count)) {
      throw new LimitError(
        `Shape [${shape.join(", ")}] has more elements than can be addressed (over 2^53)`,
        { limit: Number.MAX_SAFE_INTEGER, actual: count },
      );
    }
  }
  return count;
}

/**
 * Bytes taken by `shape` elements of `dtype`. Sub-byte dtypes must fill whole
 * bytes (as safetensors requires); throws `FormatError` otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { byteLengthOf } from "./dtype.ts";
 * assert.equal(byteLengthOf("BF16", [4, 8]), 64);
 * assert.equal(byteLengthOf("F4", [2, 4]), 4);
 * ```
 */
export function byteLengthOf(dtype: DType, shape: readonly number[]): number {
  const count = elementCount(shape);
  const bits = dtypeInfo(dtype).bits;
  const totalBits = BigInt(count) * BigInt(bits);
  if (totalBits % 8n !== 0n) {
    throw new FormatError(
      `A ${dtype} tensor of shape [${shape.join(", ")}] does not fill whole bytes (${totalBits} bits)`,
    );
  }
  const bytes = Number(totalBits / 8n);
  if (!Number.isSafeInteger(bytes)) {
    throw new LimitError(`Tensor of shape [${shape.join(", ")}] is too large to address`);
  }
  return bytes;
}

/**
 * True for dtypes whose elements are floating-point numbers (the ones a
 * `cast` changes; integers and bools pass through).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isFloatDType } from "./dtype.ts";
 * assert.equal(isFloatDType("BF16"), true);
 * assert.equal(isFloatDType("I64"), false);
 * ```
 */
export function isFloatDType(dtype: DType): boolean {
  return dtypeInfo(dtype).kind === "float";
}
