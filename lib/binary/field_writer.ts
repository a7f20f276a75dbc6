/**
 * A little-endian field writer that grows as it goes: the counterpart of
 * {@linkcode FieldReader} for building headers.
 *
 * @module
 */

import { LimitError } from "../errors.ts";

const UTF8 = new TextEncoder();

/**
 * Little-endian field writer into a growing buffer. `toBytes()` returns what
 * was written; `position` counts bytes so far (for alignment).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FieldWriter } from "./field_writer.ts";
 * const w = new FieldWriter();
 * w.u32(2);
 * w.utf8("hi");
 * assert.deepEqual(w.toBytes(), new Uint8Array([2, 0, 0, 0, 104, 105]));
 * ```
 */
export class FieldWriter {
  #buf: Uint8Array = new Uint8Array(256);
  #view: DataView = new DataView(this.#buf.buffer);
  #pos = 0;

  /** Bytes written so far. */
  get position(): number {
    return this.#pos;
  }

  // Grows the buffer, so callers must take the offset before touching #view or #buf.
  #reserve(n: number): number {
    const start = this.#pos;
    if (start + n > this.#buf.length) {
      let capacity = this.#buf.length * 2;
      while (capacity < start + n) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#buf.subarray(0, start));
      this.#buf = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#pos = start + n;
    return start;
  }

  /** Unsigned 8-bit integer. */
  u8(value: number): void {
    const at = this.#reserve(1);
    this.#view.setUint8(at, value);
  }
  /** Signed 8-bit integer. */
  i8(value: number): void {
    const at = this.#reserve(1);
    this.#view.setInt8(at, value);
  }
  /** Unsigned 16-bit integer. */
  u16(value: number): void {
    const at = this.#reserve(2);
    this.#view.setUint16(at, value, true);
  }
  /** Signed 16-bit integer. */
  i16(value: number): void {
    const at = this.#reserve(2);
    this.#view.setInt16(at, value, true);
  }
  /** Unsigned 32-bit integer. */
  u32(value: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, value, true);
  }
  /** Signed 32-bit integer. */
  i32(value: number): void {
    const at = this.#reserve(4);
    this.#view.setInt32(at, value, true);
  }
  /** Unsigned 64-bit integer (a safe number or a bigint). */
  u64(value: number | bigint): void {
    const v = typeof value === "bigint" ? value : BigInt(value);
    if (v < 0n || v > 0xffffffffffffffffn) {
      throw new LimitError(`Value ${v} does not fit an unsigned 64-bit field`);
    }
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, v, true);
  }
  /** Signed 64-bit integer (a safe number or a bigint). */
  i64(value: number | bigint): void {
    const v = typeof value === "bigint" ? value : BigInt(value);
    if (v < -(2n ** 63n) || v >= 2n ** 63n) {
      throw new LimitError(`Value ${v} does not fit a signed 64-bit field`);
    }
    const at = this.#reserve(8);
    this.#view.setBigInt64(at, v, true);
  }
  /** 32-bit float. */
  f32(value: number): void {
    const at = this.#reserve(4);
    this.#view.setFloat32(at, value, true);
  }
  /** 64-bit float. */
  f64(value: number): void {
    const at = this.#reserve(8);
    this.#view.setFloat64(at, value, true);
  }
  /** Raw bytes. */
  bytes(value: Uint8Array): void {
    const at = this.#reserve(value.length);
    this.#buf.set(value, at);
  }
  /** Everything written so far (a copy). */
  toBytes(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
  /** A string as UTF-8 (no length prefix). Returns its byte length. */
  utf8(value: string): number {
    const encoded = UTF8.encode(value);
    this.bytes(encoded);
    return encoded.length;
  }
  /** `count` zero bytes. */
  zeros(count: number): void {
    const at = this.#reserve(count);
    this.#buf.fill(0, at, this.#pos);
  }
  /** Zero bytes up to the next multiple of `alignment` (counted from this writer's start plus `base`). */
  pad(alignment: number, base = 0): void {
    const rem = (base + this.#pos) % alignment;
    if (rem !== 0) this.zeros(alignment - rem);
  }
}
