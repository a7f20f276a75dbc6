/**
 * A pure, synchronous reader of LevelDB-format tables, the container of a
 * TensorFlow checkpoint's `.index` file: data blocks of prefix-compressed
 * keys with restart points, an index block of block handles, a metaindex
 * block and a 48-byte footer ending in the table magic. Every block's masked
 * CRC-32C is checked; Snappy-compressed blocks are decompressed within bounds.
 *
 * @module
 */

import { crc32c, unmaskCrc32c } from "../../lib/crc32c.ts";
import { FormatError, LimitError, TruncatedError } from "../../lib/errors.ts";
import { snappyDecompress } from "./_snappy.ts";

/** Bytes of a table's footer: two block handles padded to 40 bytes, then the 8-byte magic. */
export const TABLE_FOOTER_BYTES = 48;
/** The table magic, stored little-endian in the last 8 bytes. */
export const TABLE_MAGIC = 0xdb4775248b80fb57n;
/** Bytes after every block: a compression type byte and a masked CRC-32C. */
export const BLOCK_TRAILER_BYTES = 5;
/** Largest block accepted after decompression: 256 MiB (TensorFlow's blocks are 256 KiB). */
export const MAX_BLOCK_BYTES = 256 * 1024 * 1024;

/** One key/value pair of a table, in key order. */
export interface TableEntry {
  /** The key's bytes. */
  readonly key: Uint8Array;
  /** The value's bytes (a view into the block). */
  readonly value: Uint8Array;
}

/** Options for {@linkcode decodeTable}. */
export interface DecodeTableOptions {
  /** Name of the file, for messages. @default "<table>" */
  name?: string;
  /**
   * Check every block's CRC-32C, as TensorFlow does (LevelDB's
   * `verify_checksums`). Off only to reach the parser behind the checksums,
   * e.g. when fuzzing. @default true
   */
  verifyChecksums?: boolean;
}

// Keys are prefix-compressed: an entry of 3 bytes can repeat a long key, so
// the keys rebuilt from a table are bounded by a multiple of its size (real
// tables stay far below: names are short next to their values).
const KEY_BYTES_PER_TABLE_BYTE = 64;

/** A block's place in the file. */
interface BlockHandle {
  offset: number;
  size: number;
}

class Cursor {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    readonly fail: (m: string, at: number) => Error,
  ) {
    this.pos = start;
  }
  varint(what: string, maxBits: number): number {
    let value = 0;
    const start = this.pos;
    for (let shift = 0;; shift += 7) {
      if (this.pos >= this.end) throw this.fail(`the ${what} varint ends early`, start);
      if (shift >= maxBits) throw this.fail(`the ${what} varint is longer than ${maxBits} bits`, start);
      const b = this.bytes[this.pos++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    if (!Number.isSafeInteger(value)) throw this.fail(`the ${what} ${value} is beyond 2^53`, start);
    return value;
  }
}

/**
 * Every entry of a LevelDB-format table held in `bytes`, in key order.
 * Throws `TruncatedError` for a file shorter than its footer or a block
 * beyond its end, `FormatError` for a wrong magic, a checksum mismatch, an
 * unknown compression or malformed block contents, `LimitError` for a block
 * that would decompress beyond {@linkcode MAX_BLOCK_BYTES}.
 *
 * @example Reading a table written by {@linkcode encodeTable}
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTable } from "./decode_table.ts";
 * import { encodeTable } from "./encode_table.ts";
 * const text = new TextEncoder();
 * const bytes = encodeTable([[text.encode("a"), text.encode("1")], [text.encode("b"), text.encode("2")]]);
 * const entries = decodeTable(bytes, { name: "x.index" });
 * assert.deepEqual(entries.map((e) => new TextDecoder().decode(e.key)), ["a", "b"]);
 * ```
 */
export function decodeTable(bytes: Uint8Array, options: DecodeTableOptions = {}): TableEntry[] {
  const name = options.name ?? "<table>";
  const verify = options.verifyChecksums ?? true;
  const fail = (message: string, at: number) =>
    new FormatError(`Cannot read the table ${name}: ${message} (at byte ${at})`, {
      offset: at,
      format: "tensorflow",
    });
  if (bytes.length < TABLE_FOOTER_BYTES) {
    throw new TruncatedError(
      `Cannot read the table ${name}: it has ${bytes.length} bytes, fewer than its ${TABLE_FOOTER_BYTES}-byte footer`,
      { offset: bytes.length },
    );
  }
  const footer = bytes.length - TABLE_FOOTER_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getBigUint64(bytes.length - 8, true);
  if (magic !== TABLE_MAGIC) {
    throw fail(
      `the footer's magic is 0x${magic.toString(16).padStart(16, "0")}, not 0x${TABLE_MAGIC.toString(16)}`,
      bytes.length - 8,
    );
  }
  const cursor = new Cursor(bytes, footer, bytes.length - 8, fail);
  const handle = (what: string): BlockHandle => ({
    offset: cursor.varint(`${what} offset`, 64),
    size: cursor.varint(`${what} size`, 64),
  });
  const metaindex = handle("metaindex handle");
  const index = handle("index handle");

  const readBlock = (h: BlockHandle, what: string): Uint8Array => {
    if (h.offset + h.size + BLOCK_TRAILER_BYTES > footer) {
      throw new TruncatedError(
        `Cannot read the table ${name}: the ${what} at byte ${h.offset} (${h.size} bytes and its trailer) runs past the data, which ends at byte ${footer}`,
        { offset: h.offset },
      );
    }
    const contents = bytes.subarray(h.offset, h.offset + h.size);
    const type = bytes[h.offset + h.size];
    const stored = view.getUint32(h.offset + h.size + 1, true);
    const actual = crc32c(bytes.subarray(h.offset + h.size, h.offset + h.size + 1), crc32c(contents));
    if (verify && unmaskCrc32c(stored) !== actual) {
      throw fail(
        `the ${what} at byte ${h.offset} fails its checksum (stored CRC-32C 0x${
          unmaskCrc32c(stored).toString(16)
        }, actual 0x${actual.toString(16)})`,
        h.offset + h.size + 1,
      );
    }
    if (type === 0) return contents;
    if (type === 1) {
      // Snappy expands at most 64 bytes per 3 input bytes: a larger declared length is a lie.
      const bound = Math.min(MAX_BLOCK_BYTES, Math.ceil(contents.length * 64 / 3) + 8);
      try {
        return snappyDecompress(contents, bound, `the ${what} at byte ${h.offset} of ${name}`);
      } catch (error) {
        if (error instanceof LimitError && bound < MAX_BLOCK_BYTES) {
          throw fail(`the Snappy ${what} at byte ${h.offset} declares more bytes than it can hold`, h.offset);
        }
        throw error;
      }
    }
    throw fail(
      `the ${what} at byte ${h.offset} has compression type ${type} (known: 0 none, 1 Snappy)`,
      h.offset + h.size,
    );
  };

  readBlock(metaindex, "metaindex block");
  const keyBudget = { left: KEY_BYTES_PER_TABLE_BYTE * bytes.length + (1 << 20), name };
  const entries: TableEntry[] = [];
  let previous: Uint8Array | undefined;
  for (
    const { value } of parseBlock(
      readBlock(index, "index block"),
      index.offset,
      "index block",
      fail,
      keyBudget,
    )
  ) {
    const c = new Cursor(
      value,
      0,
      value.length,
      (m, at) => fail(`in an index entry, ${m}`, index.offset + at),
    );
    const h = { offset: c.varint("block offset", 64), size: c.varint("block size", 64) };
    for (const entry of parseBlock(readBlock(h, "data block"), h.offset, "data block", fail, keyBudget)) {
      if (previous !== undefined && compareBytes(previous, entry.key) >= 0) {
        throw fail(
          `the keys are not in strictly increasing order ('${shown(previous)}' then '${shown(entry.key)}')`,
          h.offset,
        );
      }
      previous = entry.key;
      entries.push(entry);
    }
  }
  return entries;
}

/**
 * The entries of one block's contents (after decompression): prefix-
 * compressed keys followed by the restart array and its count.
 */
function parseBlock(
  block: Uint8Array,
  blockOffset: number,
  what: string,
  fail: (message: string, at: number) => Error,
  budget: { left: number; name: string },
): TableEntry[] {
  const where = (at: number) => blockOffset + at;
  if (block.length < 4) {
    throw fail(`the ${what} has ${block.length} bytes, too few for its restart count`, where(0));
  }
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const restarts = view.getUint32(block.length - 4, true);
  const restartBytes = restarts * 4 + 4;
  if (restarts < 1 || restartBytes > block.length) {
    throw fail(
      `the ${what} declares ${restarts} restart points, which do not fit its ${block.length} bytes`,
      where(block.length - 4),
    );
  }
  const end = block.length - restartBytes;
  for (let i = 0; i < restarts; i++) {
    const r = view.getUint32(end + i * 4, true);
    if (r > end) throw fail(`restart point ${i} of the ${what} points past its entries`, where(end + i * 4));
  }
  const entries: TableEntry[] = [];
  const c = new Cursor(block, 0, end, (m, at) => fail(`in the ${what}, ${m}`, where(at)));
  let key: Uint8Array = new Uint8Array(0);
  while (c.pos < end) {
    const at = c.pos;
    const shared = c.varint("shared key length", 35);
    const unshared = c.varint("key length", 35);
    const valueLength = c.varint("value length", 35);
    if (shared > key.length) {
      throw fail(
        `in the ${what}, an entry shares ${shared} key bytes with a key of ${key.length}`,
        where(at),
      );
    }
    if (c.pos + unshared + valueLength > end) {
      throw fail(
        `in the ${what}, an entry of ${unshared} key and ${valueLength} value bytes runs past the block`,
        where(at),
      );
    }
    if (shared === 0) {
      key = block.subarray(c.pos, c.pos + unshared);
    } else {
      budget.left -= shared + unshared;
      if (budget.left < 0) {
        throw new LimitError(
          `Cannot read the table ${budget.name}: its prefix-compressed keys expand beyond ${KEY_BYTES_PER_TABLE_BYTE}× its size`,
        );
      }
      const next = new Uint8Array(shared + unshared);
      next.set(key.subarray(0, shared));
      next.set(block.subarray(c.pos, c.pos + unshared), shared);
      key = next;
    }
    c.pos += unshared;
    entries.push({ key, value: block.subarray(c.pos, c.pos + valueLength) });
    c.pos += valueLength;
  }
  return entries;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function shown(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes.subarray(0, 80));
}
