/**
 * A writer of LevelDB-format tables (uncompressed blocks, as TensorFlow's
 * checkpoint writer makes them): the `.index` file of a checkpoint.
 *
 * @module
 */

import { crc32c, maskCrc32c } from "../../lib/crc32c.ts";
import { UsageError } from "../../lib/errors.ts";
import { TABLE_FOOTER_BYTES, TABLE_MAGIC } from "./decode_table.ts";

/** Options for {@linkcode encodeTable}. */
export interface EncodeTableOptions {
  /** Start a new data block once one reaches this many bytes. @default 262144 (TensorFlow's) */
  blockBytes?: number;
  /** Store a full key every this many entries. @default 16 (LevelDB's) */
  restartInterval?: number;
}

class Bytes {
  #buf = new Uint8Array(256);
  length = 0;
  #grow(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
  }
  bytes(data: Uint8Array): void {
    this.#grow(data.length);
    this.#buf.set(data, this.length);
    this.length += data.length;
  }
  byte(b: number): void {
    this.#grow(1);
    this.#buf[this.length++] = b;
  }
  varint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }
  u32(value: number): void {
    this.byte(value & 0xff);
    this.byte((value >>> 8) & 0xff);
    this.byte((value >>> 16) & 0xff);
    this.byte((value >>> 24) & 0xff);
  }
  view(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
}

class BlockBuilder {
  readonly out = new Bytes();
  #restarts: number[] = [0];
  #count = 0;
  #last: Uint8Array = new Uint8Array(0);
  entries = 0;
  constructor(readonly interval: number) {}
  add(key: Uint8Array, value: Uint8Array): void {
    let shared = 0;
    if (this.#count < this.interval) {
      const n = Math.min(key.length, this.#last.length);
      while (shared < n && key[shared] === this.#last[shared]) shared++;
    } else {
      this.#restarts.push(this.out.length);
      this.#count = 0;
    }
    this.out.varint(shared);
    this.out.varint(key.length - shared);
    this.out.varint(value.length);
    this.out.bytes(key.subarray(shared));
    this.out.bytes(value);
    this.#last = key;
    this.#count++;
    this.entries++;
  }
  /** Bytes the block will take once finished (entries, restart array, count), as LevelDB estimates it. */
  estimate(): number {
    return this.out.length + this.#restarts.length * 4 + 4;
  }
  finish(): Uint8Array {
    for (const r of this.#restarts) this.out.u32(r);
    this.out.u32(this.#restarts.length);
    return this.out.view();
  }
}

// LevelDB's bytewise comparator shortens index keys: a separator is any key
// in [last of this block, first of the next); a successor any key ≥ the last.
function shortestSeparator(start: Uint8Array, limit: Uint8Array): Uint8Array {
  const n = Math.min(start.length, limit.length);
  let i = 0;
  while (i < n && start[i] === limit[i]) i++;
  if (i < n) {
    const b = start[i];
    if (b < 0xff && b + 1 < limit[i]) {
      const out = start.slice(0, i + 1);
      out[i] = b + 1;
      return out;
    }
  }
  return start;
}

function shortSuccessor(key: Uint8Array): Uint8Array {
  for (let i = 0; i < key.length; i++) {
    if (key[i] !== 0xff) {
      const out = key.slice(0, i + 1);
      out[i]++;
      return out;
    }
  }
  return key;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Encode key/value pairs, which must be in strictly increasing key order
 * (bytewise), as a LevelDB-format table: data blocks, an empty metaindex
 * block, an index block and the footer. Blocks are stored uncompressed with
 * their masked CRC-32C, as TensorFlow writes checkpoint indexes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeTable } from "./encode_table.ts";
 * import { decodeTable } from "./decode_table.ts";
 * const enc = new TextEncoder();
 * const table = encodeTable([[enc.encode(""), enc.encode("header")], [enc.encode("w"), enc.encode("entry")]]);
 * assert.equal(decodeTable(table).length, 2);
 * ```
 */
export function encodeTable(
  entries: Iterable<readonly [Uint8Array, Uint8Array]>,
  options: EncodeTableOptions = {},
): Uint8Array {
  const blockBytes = options.blockBytes ?? 262144;
  const interval = options.restartInterval ?? 16;
  if (!Number.isSafeInteger(blockBytes) || blockBytes < 1) {
    throw new UsageError(`Invalid table block size ${blockBytes}`);
  }
  if (!Number.isSafeInteger(interval) || interval < 1) {
    throw new UsageError(`Invalid restart interval ${interval}`);
  }
  const file = new Bytes();
  const index = new BlockBuilder(1);
  const writeBlock = (contents: Uint8Array): { offset: number; size: number } => {
    const offset = file.length;
    file.bytes(contents);
    file.byte(0);
    file.u32(maskCrc32c(crc32c(new Uint8Array([0]), crc32c(contents))));
    return { offset, size: contents.length };
  };
  const handleBytes = (h: { offset: number; size: number }): Uint8Array => {
    const b = new Bytes();
    b.varint(h.offset);
    b.varint(h.size);
    return b.view().slice();
  };
  let block = new BlockBuilder(interval);
  let last: Uint8Array | undefined;
  // A finished block waits for the next key, so its index key can be the
  // shortest separator between the two, as LevelDB's builder picks it.
  let pending: { offset: number; size: number } | undefined;
  for (const [key, value] of entries) {
    if (last !== undefined && compareBytes(last, key) >= 0) {
      throw new UsageError("Cannot encode a table: keys must be unique and in increasing order");
    }
    if (pending !== undefined && last !== undefined) {
      index.add(shortestSeparator(last, key), handleBytes(pending));
      pending = undefined;
    }
    block.add(key, value);
    last = key;
    if (block.estimate() >= blockBytes) {
      pending = writeBlock(block.finish());
      block = new BlockBuilder(interval);
    }
  }
  if (block.entries > 0) pending = writeBlock(block.finish());
  if (pending !== undefined && last !== undefined) index.add(shortSuccessor(last), handleBytes(pending));
  const metaindex = writeBlock(new BlockBuilder(interval).finish());
  const indexHandle = writeBlock(index.finish());
  const footer = new Uint8Array(TABLE_FOOTER_BYTES);
  const handles = new Uint8Array([...handleBytes(metaindex), ...handleBytes(indexHandle)]);
  footer.set(handles);
  new DataView(footer.buffer).setBigUint64(TABLE_FOOTER_BYTES - 8, TABLE_MAGIC, true);
  file.bytes(footer);
  return file.view().slice();
}
