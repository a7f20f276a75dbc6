/**
 * Read a zip archive's table of contents from a random-access source without
 * reading any member's data.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";

/** One member of a zip archive, with its data located in the source. */
export interface ZipEntry {
  /** Member name as stored (UTF-8 decoded), e.g. `archive/data.pkl`. */
  readonly name: string;
  /** Compression method: 0 stored, 8 deflate (others are listed but can't be read). */
  readonly method: number;
  /** Bytes of (compressed) data in the source. */
  readonly compressedSize: number;
  /** Bytes once decompressed. */
  readonly size: number;
  /** CRC-32 of the decompressed bytes, from the central directory. */
  readonly crc32: number;
  /** General-purpose bit flags from the central directory. */
  readonly flags: number;
  /** Offset of the member's local header in the source. */
  readonly localHeaderOffset: number;
  /** Offset of the member's first data byte in the source. */
  readonly dataOffset: number;
}

/** A zip archive opened over a source. */
export interface ZipArchive {
  /** The source the archive reads from. */
  readonly source: ByteSource;
  /** Every member, in central-directory order. */
  readonly entries: ZipEntry[];
  /** The member named `name`, if any. */
  entry(name: string): ZipEntry | undefined;
}

/** Options for {@linkcode openZip}. */
export interface OpenZipOptions {
  /** Most members to accept; a larger count is refused before it is read. @default 1000000 */
  maxEntries?: number;
}

/**
 * True when `head` starts a zip archive: a local file header, or the end
 * record of an empty archive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sniffZip } from "./open_zip.ts";
 * assert.equal(sniffZip(new Uint8Array([0x50, 0x4b, 3, 4])), true);
 * assert.equal(sniffZip(new TextEncoder().encode("PK")), false);
 * ```
 */
export function sniffZip(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  const sig = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
  return sig === LOCAL_SIG || sig === EOCD_SIG;
}

/** Default member-count bound: far above any checkpoint, far below what would exhaust memory. */
export const MAX_ZIP_ENTRIES = 1_000_000;

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;

function fail(source: ByteSource, message: string, offset: number): never {
  throw new FormatError(`Cannot read zip ${source.name}: ${message}`, { offset, format: "zip" });
}

function u64(view: DataView, at: number, source: ByteSource, base: number): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    fail(source, `64-bit field ${value} is out of range`, base + at);
  }
  return Number(value);
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * Open a zip archive: find the end-of-central-directory record (ZIP64 too),
 * read the central directory and every local header, and check that names
 * agree, that sizes and offsets lie inside the source, and that no two
 * members overlap. Encrypted members are refused.
 *
 * @example
 * ```ts ignore
 * import { openZip, readZipEntry } from "./mod.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * const zip = await openZip(await fileSource("model.pt"));
 * for (const e of zip.entries) console.log(e.name, e.size);
 * const pkl = zip.entries.find((e) => e.name.endsWith("/data.pkl"))!;
 * const bytes = await readZipEntry(zip, pkl);
 * ```
 */
export async function openZip(source: ByteSource, options: OpenZipOptions = {}): Promise<ZipArchive> {
  const maxEntries = options.maxEntries ?? MAX_ZIP_ENTRIES;
  const size = source.size;
  if (size < EOCD_SIZE) fail(source, `${size} bytes is too short for an end-of-central-directory record`, 0);

  // The end record sits within the last 22 + 65535 bytes (its comment is at most 64 KiB).
  const tailLength = Math.min(size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const tailView = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (
      tailView.getUint32(i, true) === EOCD_SIG &&
      i + EOCD_SIZE + tailView.getUint16(i + 20, true) <= tailLength
    ) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(source, "no end-of-central-directory record", size);
  const eocdOffset = tailStart + eocd;
  if (tailView.getUint16(eocd + 4, true) !== 0 || tailView.getUint16(eocd + 6, true) !== 0) {
    fail(source, "multi-disk archives are not supported", eocdOffset + 4);
  }
  let count = tailView.getUint16(eocd + 10, true);
  let cdSize = tailView.getUint32(eocd + 12, true);
  let cdOffset = tailView.getUint32(eocd + 16, true);
  let cdLimit = eocdOffset;

  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locatorOffset = eocdOffset - 20;
    if (locatorOffset < 0) fail(source, "ZIP64 end-of-central-directory locator is missing", eocdOffset);
    const loc = await source.read(locatorOffset, 20);
    const locView = new DataView(loc.buffer, loc.byteOffset, 20);
    if (locView.getUint32(0, true) !== ZIP64_LOCATOR_SIG) {
      fail(source, "ZIP64 end-of-central-directory locator is missing", locatorOffset);
    }
    const recordOffset = u64(locView, 8, source, locatorOffset);
    if (recordOffset + 56 > locatorOffset) {
      fail(
        source,
        `ZIP64 end-of-central-directory record at ${recordOffset} lies outside the archive`,
        locatorOffset,
      );
    }
    const rec = await source.read(recordOffset, 56);
    const recView = new DataView(rec.buffer, rec.byteOffset, 56);
    if (recView.getUint32(0, true) !== ZIP64_EOCD_SIG) {
      fail(source, "bad ZIP64 end-of-central-directory signature", recordOffset);
    }
    count = u64(recView, 32, source, recordOffset);
    cdSize = u64(recView, 40, source, recordOffset);
    cdOffset = u64(recView, 48, source, recordOffset);
    cdLimit = recordOffset;
  }
  if (count > maxEntries) {
    throw new LimitError(
      `Cannot read zip ${source.name}: ${count} members exceed the limit of ${maxEntries}`,
      { limit: maxEntries, actual: count },
    );
  }
  if (cdOffset + cdSize > cdLimit) {
    fail(
      source,
      `central directory (${cdSize} bytes at ${cdOffset}) runs past its end record at ${cdLimit}`,
      cdOffset,
    );
  }
  if (count * CENTRAL_SIZE > cdSize) {
    fail(source, `${count} members cannot fit in a ${cdSize}-byte central directory`, cdOffset);
  }

  const cd = await source.read(cdOffset, cdSize);
  const cdView = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  interface Central {
    name: string;
    nameBytes: Uint8Array;
    method: number;
    flags: number;
    crc32: number;
    compressedSize: number;
    size: number;
    localHeaderOffset: number;
  }
  const centrals: Central[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    const at = cdOffset + p;
    if (p + CENTRAL_SIZE > cd.length) fail(source, `central directory ends inside member ${i}`, at);
    if (cdView.getUint32(p, true) !== CENTRAL_SIG) {
      fail(source, `bad central directory signature for member ${i}`, at);
    }
    const flags = cdView.getUint16(p + 8, true);
    const method = cdView.getUint16(p + 10, true);
    const crc = cdView.getUint32(p + 16, true);
    let compressedSize = cdView.getUint32(p + 20, true);
    let uncompressedSize = cdView.getUint32(p + 24, true);
    const nameLength = cdView.getUint16(p + 28, true);
    const extraLength = cdView.getUint16(p + 30, true);
    const commentLength = cdView.getUint16(p + 32, true);
    let localHeaderOffset = cdView.getUint32(p + 42, true);
    const next = p + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (next > cd.length) fail(source, `central directory ends inside member ${i}`, at);
    const nameBytes = cd.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLength);
    const name = utf8.decode(nameBytes);
    if (flags & 0x41) fail(source, `member '${name}' is encrypted`, at);
    // ZIP64 extended information: the 64-bit values, in this order, only for fields set to all ones.
    let e = p + CENTRAL_SIZE + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = cdView.getUint16(e, true);
      const len = cdView.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) {
        fail(source, `extra field of member '${name}' runs past its end`, cdOffset + e);
      }
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + len) {
            fail(source, `ZIP64 extra field of member '${name}' is too short`, cdOffset + q);
          }
          const v = u64(cdView, q, source, cdOffset);
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e += 4 + len;
    }
    centrals.push({
      name,
      nameBytes,
      method,
      flags,
      crc32: crc,
      compressedSize,
      size: uncompressedSize,
      localHeaderOffset,
    });
    p = next;
  }

  const entries: ZipEntry[] = [];
  for (const c of centrals) {
    const at = c.localHeaderOffset;
    if (at + LOCAL_SIZE + c.nameBytes.length > cdOffset) {
      fail(source, `local header of member '${c.name}' at ${at} lies outside the archive data`, at);
    }
    const head = await source.read(at, LOCAL_SIZE + c.nameBytes.length);
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (view.getUint32(0, true) !== LOCAL_SIG) {
      fail(source, `bad local header signature for member '${c.name}'`, at);
    }
    const localFlags = view.getUint16(6, true);
    const localMethod = view.getUint16(8, true);
    const localNameLength = view.getUint16(26, true);
    const localExtraLength = view.getUint16(28, true);
    const localName = head.subarray(LOCAL_SIZE);
    if (localNameLength !== c.nameBytes.length || !localName.every((b, k) => b === c.nameBytes[k])) {
      fail(
        source,
        `local header names '${utf8.decode(head.subarray(LOCAL_SIZE, LOCAL_SIZE + localNameLength))}' ` +
          `but the central directory names '${c.name}'`,
        at + LOCAL_SIZE,
      );
    }
    if (localMethod !== c.method) {
      fail(
        source,
        `member '${c.name}' has method ${localMethod} locally but ${c.method} in the central directory`,
        at + 8,
      );
    }
    if (localFlags & 0x41) fail(source, `member '${c.name}' is encrypted`, at + 6);
    if (!(localFlags & 0x08)) {
      const localCrc = view.getUint32(14, true);
      const localCompressed = view.getUint32(18, true);
      const localSize = view.getUint32(22, true);
      const sizesAgree = localCompressed === 0xffffffff ||
        (localCompressed === c.compressedSize && localSize === c.size);
      if (localCrc !== c.crc32 || !sizesAgree) {
        fail(
          source,
          `member '${c.name}' has a local header that disagrees with the central directory`,
          at + 14,
        );
      }
    }
    const dataOffset = at + LOCAL_SIZE + localNameLength + localExtraLength;
    if (dataOffset + c.compressedSize > cdOffset) {
      fail(
        source,
        `data of member '${c.name}' (${c.compressedSize} bytes at ${dataOffset}) runs past the archive data`,
        dataOffset,
      );
    }
    if (c.method === 0 && c.compressedSize !== c.size) {
      fail(
        source,
        `stored member '${c.name}' declares ${c.compressedSize} stored bytes but size ${c.size}`,
        at,
      );
    }
    entries.push(Object.freeze({
      name: c.name,
      method: c.method,
      compressedSize: c.compressedSize,
      size: c.size,
      crc32: c.crc32,
      flags: c.flags,
      localHeaderOffset: at,
      dataOffset,
    }));
  }

  const byName = new Map<string, ZipEntry>();
  for (const entry of entries) {
    if (byName.has(entry.name)) fail(source, `member '${entry.name}' appears twice`, entry.localHeaderOffset);
    byName.set(entry.name, entry);
  }
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (prev.dataOffset + prev.compressedSize > sorted[i].localHeaderOffset) {
      fail(source, `members '${prev.name}' and '${sorted[i].name}' overlap`, sorted[i].localHeaderOffset);
    }
  }
  return {
    source,
    entries,
    entry: (name: string) => byName.get(name),
  };
}
