/**
 * A bounds-checked little-endian cursor over bytes: the field reader every
 * packed header parser (GGUF, npy, a format of your own) is built on.
 *
 * @module
 */

import { FormatError, LimitError, TruncatedError } from "../errors.ts";

/** Options for {@linkcode FieldReader}. */
export interface FieldReaderOptions {
  /** Format name for error messages. @default "packed" */
  format?: string;
  /** Offset of `bytes[0]` in the whole input, so errors report file offsets. @default 0 */
  base?: number;
  /**
   * Size of the whole input, when `bytes` is only a window of it. Reads past
   * the window but within the input throw {@linkcode NeedMoreBytes} (so a
   * caller can fetch a larger window), reads past the input throw
   * `TruncatedError`. @default base + bytes.length
   */
  totalSize?: number;
}

/**
 * Thrown when a read passes the end of the window a {@linkcode FieldReader}
 * was given but not the end of the input: fetch more bytes and parse again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FieldReader, NeedMoreBytes } from "./field_reader.ts";
 * const r = new FieldReader(new Uint8Array(2), { totalSize: 100 });
 * assert.throws(() => r.u32(), NeedMoreBytes);
 * assert.throws(() => r.u32(), { message: "The window ends before byte 4", needed: 4 });
 * ```
 */
export class NeedMoreBytes extends Error {
  /** Input bytes (from the input's start) the failed read needed. */
  readonly needed: number;
  /** Create the signal. */
  constructor(needed: number) {
    super(`The window ends before byte ${needed}`);
    this.name = "NeedMoreBytes";
    this.needed = needed;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Little-endian field reader over a `Uint8Array`. Every read checks the
 * bytes are there first; `remaining` is the real size left in the input, so
 * a count read from the file can be checked against it before anything is
 * allocated.
 *
 * @example Reading a tiny header
 * ```ts
 * import assert from "node:assert/strict";
 * import { FieldReader } from "./field_reader.ts";
 * const r = new FieldReader(new Uint8Array([3, 0, 0, 0, 104, 105, 33]));
 * const n = r.u32();
 * assert.equal(r.utf8(n), "hi!");
 * assert.equal(r.offset, 7);
 * ```
 */
export class FieldReader {
  #bytes: Uint8Array;
  #view: DataView;
  #pos = 0;
  #base: number;
  #total: number;
  #format: string;

  /** Read `bytes`, which start at `options.base` in the input. */
  constructor(bytes: Uint8Array, options: FieldReaderOptions = {}) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#base = options.base ?? 0;
    this.#total = options.totalSize ?? this.#base + bytes.length;
    this.#format = options.format ?? "packed";
  }

  /** Current position in the whole input. */
  get offset(): number {
    return this.#base + this.#pos;
  }

  /** Bytes left in the whole input after the current position. */
  get remaining(): number {
    return this.#total - this.offset;
  }

  /** The format name used in messages. */
  get format(): string {
    return this.#format;
  }

  /** Move to an absolute input offset (within the window's bounds). */
  seek(offset: number): void {
    const pos = offset - this.#base;
    if (!Number.isSafeInteger(pos) || pos < 0) {
      throw new RangeError(`Cannot seek to ${offset}: before the start of the window at ${this.#base}`);
    }
    if (offset > this.#total) {
      throw new TruncatedError(
        `Cannot decode ${this.#format}: offset ${offset} is past the end of the input (${this.#total} bytes)`,
        { offset },
      );
    }
    this.#pos = pos;
  }

  /** Skip `length` bytes. */
  skip(length: number): void {
    this.#take(length);
  }

  #take(length: number): number {
    const start = this.#pos;
    const end = start + length;
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new LimitError(
        `Cannot decode ${this.#format}: invalid length ${length} at offset ${this.offset}`,
      );
    }
    if (end > this.#bytes.length) {
      if (this.#base + end > this.#total) {
        throw new TruncatedError(
          `Cannot decode ${this.#format}: needs ${length} bytes at offset ${this.offset} but the input ends at ${this.#total}`,
          { offset: this.offset },
        );
      }
      throw new NeedMoreBytes(this.#base + end);
    }
    this.#pos = end;
    return start;
  }

  /** Unsigned 8-bit integer. */
  u8(): number {
    return this.#bytes[this.#take(1)];
  }
  /** Signed 8-bit integer. */
  i8(): number {
    return this.#view.getInt8(this.#take(1));
  }
  /** Unsigned 16-bit integer. */
  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }
  /** Signed 16-bit integer. */
  i16(): number {
    return this.#view.getInt16(this.#take(2), true);
  }
  /** Unsigned 32-bit integer. */
  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }
  /** Signed 32-bit integer. */
  i32(): number {
    return this.#view.getInt32(this.#take(4), true);
  }
  /** Unsigned 64-bit integer as a bigint. */
  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8), true);
  }
  /** Signed 64-bit integer as a bigint. */
  i64(): bigint {
    return this.#view.getBigInt64(this.#take(8), true);
  }
  /** 32-bit float. */
  f32(): number {
    return this.#view.getFloat32(this.#take(4), true);
  }
  /** 64-bit float. */
  f64(): number {
    return this.#view.getFloat64(this.#take(8), true);
  }

  /**
   * Unsigned 64-bit integer that must fit a safe JS number; `what` names the
   * field in the error.
   */
  u64Number(what: string): number {
    const at = this.offset;
    const value = this.u64();
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LimitError(`Cannot decode ${this.#format}: ${what} ${value} at offset ${at} is too large`, {
        limit: Number.MAX_SAFE_INTEGER,
        actual: Number(value),
      });
    }
    return Number(value);
  }

  /**
   * A count of items of at least `minItemBytes` each, checked against the
   * bytes left in the input (and against `max`) before anything is
   * allocated for them.
   */
  count(value: number | bigint, minItemBytes: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
    const at = this.offset;
    const n = typeof value === "bigint" ? value : BigInt(value);
    if (n < 0n || n > BigInt(max)) {
      throw new LimitError(
        `Cannot decode ${this.#format}: ${what} ${n} before offset ${at} exceeds the limit of ${max}`,
        { limit: max, actual: Number(n) },
      );
    }
    if (n * BigInt(minItemBytes) > BigInt(this.remaining)) {
      throw new LimitError(
        `Cannot decode ${this.#format}: ${what} ${n} before offset ${at} needs at least ${
          n * BigInt(minItemBytes)
        } bytes but only ${this.remaining} remain`,
        { limit: this.remaining, actual: Number(n) * minItemBytes },
      );
    }
    return Number(n);
  }

  /** A view (not a copy) of the next `length` bytes. */
  bytes(length: number): Uint8Array {
    const start = this.#take(length);
    return this.#bytes.subarray(start, start + length);
  }

  /** The next `length` bytes decoded as strict UTF-8. */
  utf8(length: number): string {
    const at = this.offset;
    const raw = this.bytes(length);
    try {
      return UTF8.decode(raw);
    } catch (cause) {
      throw new FormatError(`Cannot decode ${this.#format}: invalid UTF-8 in a string at offset ${at}`, {
        offset: at,
        format: this.#format,
        cause,
      });
    }
  }

  /** The next `length` bytes decoded as latin-1 (each byte one code point). */
  latin1(length: number): string {
    const raw = this.bytes(length);
    let s = "";
    for (let i = 0; i < raw.length; i += 8192) {
      s += String.fromCharCode(...raw.subarray(i, Math.min(raw.length, i + 8192)));
    }
    return s;
  }

  /** A `FormatError` at the current (or given) offset, for a parser to throw. */
  error(message: string, offset: number = this.offset): FormatError {
    return new FormatError(`Cannot decode ${this.#format}: ${message}`, { offset, format: this.#format });
  }
}
