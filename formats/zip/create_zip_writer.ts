/**
 * Write zip archives member by member to a byte sink, with optional data
 * alignment (as PyTorch aligns its records) and ZIP64 when sizes or offsets
 * pass 4 GiB.
 *
 * @module
 */

import { loadFflate } from "./_fflate.ts";
import type { ByteSink } from "../../lib/byte_sink.ts";
import { crc32 } from "../../lib/crc32.ts";
import { UsageError } from "../../lib/errors.ts";

/** Options for one member added with {@linkcode ZipWriter.add}. */
export interface ZipAddOptions {
  /** How to store the data. @default "store" */
  method?: "store" | "deflate";
  /**
   * Start the member's data on a multiple of this many bytes, by padding the
   * local header with an extra field of id 0x4246 (`FB`), as PyTorch does.
   * 0 or 1 means no padding field. @default 0
   */
  align?: number;
}

/** Options for {@linkcode createZipWriter}. */
export interface ZipWriterOptions {
  /** Archive comment written in the end record. @default "" */
  comment?: string;
}

/** A zip archive being written. */
export interface ZipWriter {
  /** Append a member whose bytes are all in `data`. */
  add(name: string, data: Uint8Array, options?: ZipAddOptions): Promise<void>;
  /** Write the central directory and end records. The sink is left open. */
  finish(): Promise<void>;
}

interface Written {
  nameBytes: Uint8Array;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
  flags: number;
}

const U32_MAX = 0xffffffff;
// 1980-01-01 00:00, the earliest DOS date: fixed so output is reproducible.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const FB_FIELD = 0x4246;

/**
 * Start a zip archive on `sink`. Members are written in order with their
 * sizes and CRC in the local header (no data descriptors).
 *
 * @example
 * ```ts
 * import { createZipWriter } from "./mod.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * const sink = memorySink();
 * const zip = createZipWriter(sink);
 * await zip.add("archive/data/0", new Uint8Array(16), { align: 64 });
 * await zip.finish();
 * await sink.close();
 * console.log(sink.bytes().length > 16); // true
 * ```
 */
export function createZipWriter(sink: ByteSink, options: ZipWriterOptions = {}): ZipWriter {
  const written: Written[] = [];
  const names = new Set<string>();
  let finished = false;
  const encoder = new TextEncoder();
  return {
    async add(name: string, data: Uint8Array, addOptions: ZipAddOptions = {}): Promise<void> {
      if (finished) throw new UsageError(`Cannot add '${name}': the zip archive is finished`);
      if (names.has(name)) throw new UsageError(`Cannot add '${name}' twice to a zip archive`);
      const align = addOptions.align ?? 0;
      if (!Number.isSafeInteger(align) || align < 0 || align > 0x8000) {
        throw new UsageError(`Zip alignment must be an integer from 0 to 32768, not ${align}`);
      }
      const nameBytes = encoder.encode(name);
      if (nameBytes.length > 0xffff) {
        throw new UsageError(`Zip member name is too long (${nameBytes.length} bytes)`);
      }
      names.add(name);
      const deflate = addOptions.method === "deflate";
      const payload = deflate ? (await loadFflate()).deflateSync(data, { level: 6 }) : data;
      const crc = crc32(data);
      const offset = sink.position;
      const zip64 = data.length >= U32_MAX || payload.length >= U32_MAX || offset >= U32_MAX;
      // Non-ASCII names are flagged as UTF-8 (bit 11).
      const flags = nameBytes.some((b) => b >= 0x80) ? 0x0800 : 0;
      let extraLength = zip64 ? 20 : 0;
      let padding = -1;
      if (align > 1) {
        const start = offset + 30 + nameBytes.length + extraLength + 4;
        padding = (align - (start % align)) % align;
        extraLength += 4 + padding;
      }
      const header = new Uint8Array(30 + nameBytes.length + extraLength);
      const view = new DataView(header.buffer);
      view.setUint32(0, 0x04034b50, true);
      view.setUint16(4, zip64 ? 45 : 20, true);
      view.setUint16(6, flags, true);
      view.setUint16(8, deflate ? 8 : 0, true);
      view.setUint16(10, DOS_TIME, true);
      view.setUint16(12, DOS_DATE, true);
      view.setUint32(14, crc, true);
      view.setUint32(18, zip64 ? U32_MAX : payload.length, true);
      view.setUint32(22, zip64 ? U32_MAX : data.length, true);
      view.setUint16(26, nameBytes.length, true);
      view.setUint16(28, extraLength, true);
      header.set(nameBytes, 30);
      let e = 30 + nameBytes.length;
      if (zip64) {
        view.setUint16(e, 0x0001, true);
        view.setUint16(e + 2, 16, true);
        view.setBigUint64(e + 4, BigInt(data.length), true);
        view.setBigUint64(e + 12, BigInt(payload.length), true);
        e += 20;
      }
      if (padding >= 0) {
        view.setUint16(e, FB_FIELD, true);
        view.setUint16(e + 2, padding, true);
        header.fill(0x5a, e + 4, e + 4 + padding); // "Z" filler, as PyTorch writes
      }
      await sink.write(header);
      await sink.write(payload);
      written.push({
        nameBytes,
        method: deflate ? 8 : 0,
        crc,
        compressedSize: payload.length,
        size: data.length,
        offset,
        flags,
      });
    },

    async finish(): Promise<void> {
      if (finished) return;
      finished = true;
      const cdOffset = sink.position;
      const parts: Uint8Array[] = [];
      let cdSize = 0;
      for (const w of written) {
        const big = w.size >= U32_MAX || w.compressedSize >= U32_MAX || w.offset >= U32_MAX;
        const extra: bigint[] = [];
        if (w.size >= U32_MAX) extra.push(BigInt(w.size));
        if (w.compressedSize >= U32_MAX) extra.push(BigInt(w.compressedSize));
        if (w.offset >= U32_MAX) extra.push(BigInt(w.offset));
        const extraLength = extra.length ? 4 + 8 * extra.length : 0;
        const rec = new Uint8Array(46 + w.nameBytes.length + extraLength);
        const v = new DataView(rec.buffer);
        v.setUint32(0, 0x02014b50, true);
        v.setUint16(4, (3 << 8) | (big ? 45 : 20), true); // made by Unix
        v.setUint16(6, big ? 45 : 20, true);
        v.setUint16(8, w.flags, true);
        v.setUint16(10, w.method, true);
        v.setUint16(12, DOS_TIME, true);
        v.setUint16(14, DOS_DATE, true);
        v.setUint32(16, w.crc, true);
        v.setUint32(20, w.compressedSize >= U32_MAX ? U32_MAX : w.compressedSize, true);
        v.setUint32(24, w.size >= U32_MAX ? U32_MAX : w.size, true);
        v.setUint16(28, w.nameBytes.length, true);
        v.setUint16(30, extraLength, true);
        v.setUint32(38, 0o100644 << 16, true);
        v.setUint32(42, w.offset >= U32_MAX ? U32_MAX : w.offset, true);
        rec.set(w.nameBytes, 46);
        if (extra.length) {
          let e = 46 + w.nameBytes.length;
          v.setUint16(e, 0x0001, true);
          v.setUint16(e + 2, 8 * extra.length, true);
          e += 4;
          for (const value of extra) {
            v.setBigUint64(e, value, true);
            e += 8;
          }
        }
        parts.push(rec);
        cdSize += rec.length;
      }
      const commentBytes = encoder.encode(options.comment ?? "");
      if (commentBytes.length > 0xffff) {
        throw new UsageError(`Zip comment is too long (${commentBytes.length} bytes)`);
      }
      const zip64 = written.length >= 0xffff || cdOffset >= U32_MAX || cdSize >= U32_MAX;
      if (zip64) {
        const recordOffset = cdOffset + cdSize;
        const rec = new Uint8Array(56 + 20);
        const v = new DataView(rec.buffer);
        v.setUint32(0, 0x06064b50, true);
        v.setBigUint64(4, 44n, true);
        v.setUint16(12, (3 << 8) | 45, true);
        v.setUint16(14, 45, true);
        v.setBigUint64(24, BigInt(written.length), true);
        v.setBigUint64(32, BigInt(written.length), true);
        v.setBigUint64(40, BigInt(cdSize), true);
        v.setBigUint64(48, BigInt(cdOffset), true);
        v.setUint32(56, 0x07064b50, true);
        v.setBigUint64(64, BigInt(recordOffset), true);
        v.setUint32(72, 1, true);
        parts.push(rec);
      }
      const end = new Uint8Array(22 + commentBytes.length);
      const v = new DataView(end.buffer);
      v.setUint32(0, 0x06054b50, true);
      v.setUint16(8, zip64 ? 0xffff : written.length, true);
      v.setUint16(10, zip64 ? 0xffff : written.length, true);
      v.setUint32(12, zip64 ? U32_MAX : cdSize, true);
      v.setUint32(16, zip64 ? U32_MAX : cdOffset, true);
      v.setUint16(20, commentBytes.length, true);
      end.set(commentBytes, 22);
      parts.push(end);
      let total = 0;
      for (const part of parts) total += part.length;
      const all = new Uint8Array(total);
      let at = 0;
      for (const part of parts) {
        all.set(part, at);
        at += part.length;
      }
      await sink.write(all);
    },
  };
}
