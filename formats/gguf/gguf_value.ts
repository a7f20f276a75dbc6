/**
 * GGUF metadata values: their wire types, a typed representation that
 * round-trips exactly, and the mapping to and from ckpt's string metadata.
 *
 * String metadata mapping (documented in the README):
 * - GGUF → strings: strings as they are; integers in decimal (64-bit ones
 *   exactly); f32/f64 as the shortest decimal that reads back to the same
 *   value; bools as `true`/`false`; arrays as JSON (nested arrays nest; 64-bit
 *   integers beyond 2^53 become JSON strings). Keys `ckpt.<k>` become `<k>`;
 *   all other keys are kept as they are.
 * - strings → GGUF: keys with a dot (`general.name`, `llama.context_length`)
 *   are kept, other keys become `ckpt.<k>`; values are written as GGUF
 *   strings, except `general.alignment`, which is a u32. Keys whose value is
 *   unchanged from a GGUF file that was read keep their original type.
 *
 * @module
 */

/** The 13 GGUF value types, by wire id (0 … 12). */
export const GGUF_VALUE_TYPES: readonly GgufType[] = Object.freeze([
  "u8",
  "i8",
  "u16",
  "i16",
  "u32",
  "i32",
  "f32",
  "bool",
  "string",
  "array",
  "u64",
  "i64",
  "f64",
]);

/** A GGUF value type. */
export type GgufType =
  | "u8"
  | "i8"
  | "u16"
  | "i16"
  | "u32"
  | "i32"
  | "f32"
  | "bool"
  | "string"
  | "array"
  | "u64"
  | "i64"
  | "f64";

/** An array value: its item type and items (arrays of arrays nest). */
export interface GgufArray {
  /** Type of every item. */
  readonly itemType: GgufType;
  /** The items: numbers, bigints (u64/i64), booleans, strings or nested arrays. */
  readonly items: readonly GgufItem[];
}

/** One value: a number (8–32-bit integers, f32, f64), a bigint (u64, i64), a boolean, a string, or an array. */
export type GgufItem = number | bigint | boolean | string | GgufArray;

/** One metadata entry of a GGUF file. */
export interface GgufKeyValue {
  /** The key, e.g. `general.architecture`. */
  readonly key: string;
  /** The value's type. */
  readonly type: GgufType;
  /** The value; for `array`, a {@linkcode GgufArray}. */
  readonly value: GgufItem;
}

/** Bytes of one scalar of each fixed-size type (0 for string and array). */
export const GGUF_TYPE_SIZE: Readonly<Record<GgufType, number>> = Object.freeze({
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  string: 0,
  array: 0,
  u64: 8,
  i64: 8,
  f64: 8,
});

function shortestF32(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return String(s);
  }
  return String(v);
}

function itemToJson(type: GgufType, item: GgufItem): unknown {
  if (type === "array") {
    const arr = item as GgufArray;
    return arr.items.map((x) => itemToJson(arr.itemType, x));
  }
  if (typeof item === "bigint") {
    return item >= BigInt(Number.MIN_SAFE_INTEGER) && item <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(item)
      : item.toString();
  }
  if (type === "f32" && typeof item === "number" && Number.isFinite(item)) return Number(shortestF32(item));
  if (typeof item === "number" && !Number.isFinite(item)) return String(item);
  return item;
}

/**
 * A value as ckpt's string metadata shows it (see the module doc).
 *
 * @example
 * ```ts
 * import { ggufValueToString } from "./gguf_value.ts";
 * console.log(ggufValueToString("f32", Math.fround(0.1))); // 0.1
 * console.log(ggufValueToString("array", { itemType: "string", items: ["a", "b"] })); // ["a","b"]
 * ```
 */
export function ggufValueToString(type: GgufType, value: GgufItem): string {
  switch (type) {
    case "string":
      return value as string;
    case "bool":
      return value ? "true" : "false";
    case "f32":
      return shortestF32(value as number);
    case "array":
      return JSON.stringify(itemToJson(type, value));
    default:
      return String(value);
  }
}

/**
 * The string-metadata key for a GGUF key: `ckpt.<k>` becomes `<k>`.
 *
 * @example
 * ```ts
 * import { metadataKeyFromGguf } from "./gguf_value.ts";
 * console.log(metadataKeyFromGguf("ckpt.format"), metadataKeyFromGguf("general.name")); // format general.name
 * ```
 */
export function metadataKeyFromGguf(key: string): string {
  return key.startsWith("ckpt.") && key.length > 5 && !key.slice(5).includes(".") ? key.slice(5) : key;
}

/**
 * The GGUF key for a string-metadata key: keys without a dot go under `ckpt.`.
 *
 * @example
 * ```ts
 * import { ggufKeyFromMetadata } from "./gguf_value.ts";
 * console.log(ggufKeyFromMetadata("format"), ggufKeyFromMetadata("general.name")); // ckpt.format general.name
 * ```
 */
export function ggufKeyFromMetadata(key: string): string {
  return key.includes(".") ? key : `ckpt.${key}`;
}

// Typed key/values of files that were read, keyed by their metadata object:
// transforms pass the metadata object through, so a GGUF → GGUF conversion
// keeps every value's type without the stream carrying GGUF-specific fields.
const TYPED = new WeakMap<object, readonly GgufKeyValue[]>();

/**
 * Remember the typed key/values behind a metadata object (done by `openGguf`).
 *
 * @example
 * ```ts
 * import { attachGgufKeyValues, ggufKeyValuesOf } from "./gguf_value.ts";
 * const metadata = { "general.name": "x" };
 * attachGgufKeyValues(metadata, [{ key: "general.name", type: "string", value: "x" }]);
 * console.log(ggufKeyValuesOf(metadata)?.length); // 1
 * ```
 */
export function attachGgufKeyValues(metadata: Record<string, string>, kv: readonly GgufKeyValue[]): void {
  TYPED.set(metadata, kv);
}

/**
 * The typed key/values behind a metadata object, if it came from a GGUF file.
 *
 * @example
 * ```ts
 * import { ggufKeyValuesOf } from "./gguf_value.ts";
 * console.log(ggufKeyValuesOf({})); // undefined
 * ```
 */
export function ggufKeyValuesOf(metadata: Record<string, string>): readonly GgufKeyValue[] | undefined {
  return TYPED.get(metadata);
}
