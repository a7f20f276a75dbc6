/**
 * Header codecs: a JSON header (UTF-8, optionally space-padded to an
 * alignment, as safetensors and npy pad theirs) and length-prefixed binary
 * blocks read through a {@linkcode FieldReader}.
 *
 * @module
 */

import { FormatError, LimitError } from "../../lib/errors.ts";
import type { FieldReader } from "../../lib/binary/field_reader.ts";
import type { FieldWriter } from "../../lib/binary/field_writer.ts";

/** Options for {@linkcode encodeJsonHeader}. */
export interface EncodeJsonHeaderOptions {
  /** Pad with trailing spaces so `prefixBytes` plus the header is a multiple of this. @default 1 (no padding) */
  padTo?: number;
  /** Bytes that will precede the header in the file (magic, length field), counted for `padTo`. @default 0 */
  prefixBytes?: number;
}

/**
 * A JSON value as UTF-8 bytes, space-padded when asked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeJsonHeader } from "./header_codec.ts";
 * const bytes = encodeJsonHeader({ a: 1 }, { padTo: 8 });
 * assert.equal(new TextDecoder().decode(bytes), '{"a":1} '); // padded with a space to 8 bytes
 * ```
 */
export function encodeJsonHeader(value: unknown, options: EncodeJsonHeaderOptions = {}): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(value));
  const padTo = options.padTo ?? 1;
  const rem = ((options.prefixBytes ?? 0) + text.length) % padTo;
  if (rem === 0) return text;
  const out = new Uint8Array(text.length + padTo - rem).fill(0x20);
  out.set(text);
  return out;
}

/** Options for {@linkcode decodeJsonHeader}. */
export interface DecodeJsonHeaderOptions {
  /** Format name for messages. @default "packed" */
  format?: string;
  /** Input offset of the header's first byte, for messages. @default 0 */
  offset?: number;
}

/**
 * Parse a JSON header that must be an object (strict UTF-8; surrounding
 * spaces allowed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeJsonHeader } from "./header_codec.ts";
 * assert.deepEqual(decodeJsonHeader(new TextEncoder().encode('{"a":1}  ')), { a: 1 });
 * ```
 */
export function decodeJsonHeader(
  bytes: Uint8Array,
  options: DecodeJsonHeaderOptions = {},
): Record<string, unknown> {
  const format = options.format ?? "packed";
  const offset = options.offset ?? 0;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new FormatError(`Cannot decode ${format} header: it is not valid UTF-8`, { offset, format, cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new FormatError(`Cannot decode ${format} header: invalid JSON (${(cause as Error).message})`, {
      offset,
      format,
      cause,
    });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FormatError(`Cannot decode ${format} header: it is not a JSON object`, { offset, format });
  }
  return value as Record<string, unknown>;
}

/** Width of a length prefix in bytes. */
export type PrefixWidth = 2 | 4 | 8;

/**
 * Write `payload` preceded by its length as a little-endian integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeLengthPrefixed } from "./header_codec.ts";
 * import { FieldWriter } from "../../lib/binary/field_writer.ts";
 * const w = new FieldWriter();
 * writeLengthPrefixed(w, new Uint8Array([9, 9]), 4);
 * assert.deepEqual(w.toBytes(), new Uint8Array([2, 0, 0, 0, 9, 9]));
 * ```
 */
export function writeLengthPrefixed(writer: FieldWriter, payload: Uint8Array, width: PrefixWidth): void {
  const max = width === 2 ? 0xffff : width === 4 ? 0xffffffff : Number.MAX_SAFE_INTEGER;
  if (payload.length > max) {
    throw new LimitError(`A block of ${payload.length} bytes does not fit a ${width}-byte length prefix`, {
      limit: max,
      actual: payload.length,
    });
  }
  if (width === 2) writer.u16(payload.length);
  else if (width === 4) writer.u32(payload.length);
  else writer.u64(payload.length);
  writer.bytes(payload);
}

/** Options for {@linkcode readLengthPrefixed}. */
export interface ReadLengthPrefixedOptions {
  /** Width of the length field. @default 8 */
  width?: PrefixWidth;
  /** Largest length to accept. @default the bytes left in the input */
  maxBytes?: number;
  /** What the block is, for messages. @default "block" */
  what?: string;
}

/**
 * Read a length-prefixed block (a view), checking the length against the
 * input's remaining size and `maxBytes` first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLengthPrefixed } from "./header_codec.ts";
 * import { FieldReader } from "../../lib/binary/field_reader.ts";
 * const r = new FieldReader(new Uint8Array([2, 0, 0, 0, 9, 9]));
 * assert.deepEqual(readLengthPrefixed(r, { width: 4 }), new Uint8Array([9, 9]));
 * ```
 */
export function readLengthPrefixed(reader: FieldReader, options: ReadLengthPrefixedOptions = {}): Uint8Array {
  const width = options.width ?? 8;
  const what = options.what ?? "block";
  const at = reader.offset;
  const length = width === 2 ? reader.u16() : width === 4 ? reader.u32() : reader.u64Number(`${what} length`);
  const max = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  if (length > max) {
    throw new LimitError(
      `Cannot decode ${reader.format}: ${what} at offset ${at} declares ${length} bytes, over the limit of ${max}`,
      { limit: max, actual: length },
    );
  }
  if (length > reader.remaining) {
    throw new LimitError(
      `Cannot decode ${reader.format}: ${what} at offset ${at} declares ${length} bytes but only ${reader.remaining} remain`,
      { limit: reader.remaining, actual: length },
    );
  }
  return reader.bytes(length);
}
