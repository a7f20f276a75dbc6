/**
 * The .npy header codec: magic and version (1.0, 2.0, 3.0), the header
 * dict (`descr`, `fortran_order`, `shape`) parsed as a strict Python
 * literal (never evaluated), the dtype mapping, and numpy's exact header
 * layout on write (sorted keys, growth spaces, padded to 64 bytes).
 *
 * @module
 */

import { byteLengthOf, type DType } from "../../lib/dtype.ts";
import { FormatError, LimitError, UsageError } from "../../lib/errors.ts";
import type { FieldReader } from "../../lib/binary/field_reader.ts";
import { FieldWriter } from "../../lib/binary/field_writer.ts";
import { checkMagic } from "../../lib/binary/magic.ts";
import { parsePyLiteral, PyLiteralError, type PyValue } from "./_py_literal.ts";

/** The .npy magic: `\x93NUMPY`. */
export const NPY_MAGIC = "\x93NUMPY";
/** Default bound on an .npy header, in bytes. */
export const NPY_MAX_HEADER_BYTES = 1024 * 1024;
/** numpy aligns the data start to this many bytes. */
export const NPY_ALIGN = 64;
// numpy leaves room to grow the first (or, in Fortran order, the last) axis
// in place: its header has spaces up to 21 digits for that dimension.
const GROWTH_AXIS_MAX_DIGITS = 21;

/** A parsed .npy header. */
export interface NpyHeader {
  /** Format version as `[major, minor]`. */
  readonly version: readonly [number, number];
  /** The numpy type string, e.g. `<f4`. */
  readonly descr: string;
  /** Our dtype for it. */
  readonly dtype: DType;
  /** True when the bytes are big-endian. */
  readonly bigEndian: boolean;
  /** True when the bytes are in column-major (Fortran) order. */
  readonly fortranOrder: boolean;
  /** The shape, outermost first. */
  readonly shape: readonly number[];
  /** Offset of the first data byte from the start of the .npy. */
  readonly dataOffset: number;
  /** Bytes of data. */
  readonly byteLength: number;
}

const KIND_TO_DTYPE: Record<string, DType> = {
  b1: "BOOL",
  u1: "U8",
  i1: "I8",
  u2: "U16",
  i2: "I16",
  u4: "U32",
  i4: "I32",
  u8: "U64",
  i8: "I64",
  f2: "F16",
  f4: "F32",
  f8: "F64",
  c8: "C64",
  c16: "C128",
};

const DTYPE_TO_DESCR: Partial<Record<DType, string>> = {
  BOOL: "|b1",
  U8: "|u1",
  I8: "|i1",
  U16: "<u2",
  I16: "<i2",
  U32: "<u4",
  I32: "<i4",
  U64: "<u8",
  I64: "<i8",
  F16: "<f2",
  F32: "<f4",
  F64: "<f8",
  C64: "<c8",
  C128: "<c16",
};

/**
 * The numpy type string for a dtype, or `undefined` when numpy has no such
 * type (BF16, the FP8/FP6/FP4 types).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { npyDescr } from "./npy_header.ts";
 * assert.equal(npyDescr("F32"), "<f4");
 * assert.equal(npyDescr("BF16"), undefined); // numpy has no bfloat16
 * ```
 */
export function npyDescr(dtype: DType): string | undefined {
  return DTYPE_TO_DESCR[dtype];
}

function fail(message: string, offset: number): never {
  throw new FormatError(`Cannot decode npy: ${message}`, { offset, format: "npy" });
}

/**
 * Read an .npy header from a reader positioned at its magic. Throws
 * `FormatError` for a bad magic, version, header dict, or a dtype ckpt has no
 * type for (structured arrays, strings, objects, complex128, …).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeNpyHeader, readNpyHeader } from "./npy_header.ts";
 * import { FieldReader } from "../../lib/binary/field_reader.ts";
 * const header = readNpyHeader(new FieldReader(encodeNpyHeader("F32", [2, 3])));
 * assert.deepEqual([header.descr, header.shape, header.dataOffset], ["<f4", [2, 3], 128]);
 * ```
 */
export function readNpyHeader(r: FieldReader, options: { maxHeaderBytes?: number } = {}): NpyHeader {
  const start = r.offset;
  checkMagic(r.bytes(6), NPY_MAGIC, "npy");
  const versionAt = r.offset;
  const major = r.u8();
  const minor = r.u8();
  if (minor !== 0 || major < 1 || major > 3) fail(`unsupported version ${major}.${minor}`, versionAt);
  const lengthAt = r.offset;
  const headerLength = major === 1 ? r.u16() : r.u32();
  const max = options.maxHeaderBytes ?? NPY_MAX_HEADER_BYTES;
  if (headerLength > max || headerLength > r.remaining) {
    throw new LimitError(
      `Cannot decode npy: header length ${headerLength} at offset ${lengthAt} exceeds ${
        headerLength > max ? `the limit of ${max} bytes` : `the ${r.remaining} bytes that remain`
      }`,
      { limit: Math.min(max, r.remaining), actual: headerLength },
    );
  }
  const textAt = r.offset;
  const text = major === 3 ? r.utf8(headerLength) : r.latin1(headerLength);
  let parsed: PyValue;
  try {
    parsed = parsePyLiteral(text);
  } catch (error) {
    if (!(error instanceof PyLiteralError)) throw error;
    return fail(`invalid header dict: ${error.message}`, textAt + error.position);
  }
  if (!(parsed instanceof Map)) return fail("the header is not a dict", textAt);
  const keys = [...parsed.keys()].sort().join(",");
  if (keys !== "descr,fortran_order,shape") {
    fail(
      `the header must have exactly the keys descr, fortran_order and shape (found ${keys || "none"})`,
      textAt,
    );
  }
  const descr = parsed.get("descr");
  const fortran = parsed.get("fortran_order");
  const shapeValue = parsed.get("shape");
  if (typeof descr !== "string") {
    return fail("descr is not a string: structured dtypes are not supported", textAt);
  }
  if (typeof fortran !== "boolean") fail("fortran_order is not True or False", textAt);
  if (
    shapeValue === null || typeof shapeValue !== "object" || !("tuple" in shapeValue) ||
    !shapeValue.tuple.every((d) => typeof d === "number" && d >= 0)
  ) {
    return fail("shape is not a tuple of non-negative integers", textAt);
  }
  const shape = shapeValue.tuple as number[];
  const m = /^([<>|=])([a-zA-Z]\d+)$/.exec(descr);
  const dtype = m ? KIND_TO_DTYPE[m[2]] : undefined;
  if (!m || !dtype) return fail(`dtype '${descr}' has no ckpt equivalent`, textAt);
  // '|' only makes sense for one-byte types; '=' is the writer's native order,
  // and numpy writes '<' or '>' for multi-byte types, so read '=' as little.
  const bigEndian = m[1] === ">" && m[2] !== "b1" && m[2] !== "u1" && m[2] !== "i1";
  let byteLength: number;
  try {
    byteLength = byteLengthOf(dtype, shape);
  } catch (cause) {
    return fail(`shape (${shape.join(", ")}) is too large (${(cause as Error).message})`, textAt);
  }
  return {
    version: [major, minor],
    descr,
    dtype,
    bigEndian,
    fortranOrder: fortran as boolean,
    shape,
    dataOffset: r.offset - start,
    byteLength,
  };
}

function reprShape(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(", ")})`;
}

/** Options for {@linkcode encodeNpyHeader}. */
export interface EncodeNpyHeaderOptions {
  /** Format version; numpy's choice (1.0 unless the header needs more) when absent. @default the oldest that fits */
  version?: 1 | 2 | 3;
  /** Mark the data as column-major. @default false */
  fortranOrder?: boolean;
}

/**
 * An .npy header exactly as `numpy.save` writes it: the dict with sorted
 * keys, spaces to let the growth axis reach 21 digits, space padding and a
 * newline so the data starts on a multiple of 64 bytes; version 1.0 unless
 * the header needs a 4-byte length (2.0) or UTF-8 (3.0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeNpyHeader } from "./npy_header.ts";
 * const bytes = encodeNpyHeader("F32", [3]);
 * assert.equal(bytes.length, 128);
 * assert.equal(bytes[bytes.length - 1], 0x0a); // the header ends with a newline
 * ```
 */
export function encodeNpyHeader(
  dtype: DType,
  shape: readonly number[],
  options: EncodeNpyHeaderOptions = {},
): Uint8Array {
  const descr = npyDescr(dtype);
  if (!descr) {
    throw new UsageError(
      `Cannot write ${dtype} to npy: numpy has no such type (cast it to F32 or F16 first)`,
    );
  }
  const fortran = options.fortranOrder ?? false;
  let text = `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, 'shape': ${
    reprShape(shape)
  }, }`;
  if (shape.length > 0) {
    text += " ".repeat(
      Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[fortran ? shape.length - 1 : 0]).length),
    );
  }
  const latin1 = ![...text].some((c) => c.charCodeAt(0) > 0xff);
  const wrap = (major: 1 | 2 | 3): Uint8Array | undefined => {
    const body = major === 3 ? new TextEncoder().encode(text) : Uint8Array.from(text, (c) => c.charCodeAt(0));
    const prefix = 6 + 2 + (major === 1 ? 2 : 4);
    const hlen = body.length + 1;
    const padlen = NPY_ALIGN - ((prefix + hlen) % NPY_ALIGN);
    if (major === 1 && hlen + padlen > 0xffff) return undefined;
    const w = new FieldWriter();
    w.bytes(Uint8Array.from(NPY_MAGIC, (c) => c.charCodeAt(0)));
    w.u8(major);
    w.u8(0);
    if (major === 1) w.u16(hlen + padlen);
    else w.u32(hlen + padlen);
    w.bytes(body);
    w.bytes(new Uint8Array(padlen).fill(0x20));
    w.u8(0x0a);
    return w.toBytes();
  };
  if (options.version !== undefined) {
    if (options.version !== 3 && !latin1) {
      throw new UsageError(`Cannot write npy version ${options.version}.0: the header is not latin-1`);
    }
    const out = wrap(options.version);
    if (!out) throw new UsageError(`Cannot write npy version 1.0: the header is longer than 65535 bytes`);
    return out;
  }
  if (!latin1) return wrap(3)!;
  return wrap(1) ?? wrap(2)!;
}
