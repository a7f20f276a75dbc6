/**
 * Read one zip member's bytes, inflating deflated members under a hard size
 * limit so a zip bomb is refused instead of filling memory.
 *
 * @module
 */

import { loadFflate } from "./_fflate.ts";
import { crc32 } from "../../lib/crc32.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";
import type { ZipArchive, ZipEntry } from "./open_zip.ts";

/** Options for {@linkcode readZipEntry}. */
export interface ReadZipEntryOptions {
  /** Largest decompressed member to accept, in bytes. @default 4294967296 (4 GiB) */
  maxInflatedBytes?: number;
  /** Check the CRC-32 of the bytes against the central directory. @default true */
  verifyCrc?: boolean;
}

/** Default bound on one member's decompressed size. */
export const MAX_INFLATED_BYTES = 4 * 1024 * 1024 * 1024;

// Compressed bytes fed per step: deflate expands at most ~1032×, so one step
// can't produce more than ~16 MiB past the limit before it is noticed.
const INFLATE_STEP = 16 * 1024;

/**
 * Read a member's bytes: stored members are read directly, deflated ones are
 * inflated with fflate and stopped as soon as they pass their declared size
 * or `maxInflatedBytes`.
 *
 * @example
 * ```ts
 * import { createZipWriter, openZip, readZipEntry } from "./mod.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * const sink = memorySink();
 * const zip = createZipWriter(sink);
 * await zip.add("a.txt", new TextEncoder().encode("hello"), { method: "deflate" });
 * await zip.finish();
 * const archive = await openZip(bytesSource(sink.bytes()));
 * const bytes = await readZipEntry(archive, archive.entry("a.txt")!);
 * console.log(new TextDecoder().decode(bytes)); // hello
 * ```
 */
export async function readZipEntry(
  archive: ZipArchive,
  entry: ZipEntry,
  options: ReadZipEntryOptions = {},
): Promise<Uint8Array> {
  const source = archive.source;
  const limit = options.maxInflatedBytes ?? MAX_INFLATED_BYTES;
  if (entry.size > limit) {
    throw new LimitError(
      `Cannot read zip member '${entry.name}' of ${source.name}: its ${entry.size} bytes exceed the limit of ${limit}`,
      { limit, actual: entry.size },
    );
  }
  let bytes: Uint8Array;
  if (entry.method === 0) {
    bytes = await source.read(entry.dataOffset, entry.size);
  } else if (entry.method === 8) {
    bytes = await inflateEntry(archive, entry);
  } else {
    throw new FormatError(
      `Cannot read zip member '${entry.name}' of ${source.name}: compression method ${entry.method} is not supported`,
      { offset: entry.localHeaderOffset, format: "zip" },
    );
  }
  if ((options.verifyCrc ?? true) && crc32(bytes) !== entry.crc32) {
    throw new FormatError(
      `Cannot read zip member '${entry.name}' of ${source.name}: CRC-32 mismatch (${
        crc32(bytes).toString(16).padStart(8, "0")
      } computed, ${entry.crc32.toString(16).padStart(8, "0")} declared)`,
      { offset: entry.dataOffset, format: "zip" },
    );
  }
  return bytes;
}

// Deflate can't expand data more than about 1032 to 1; a member claiming
// more is refused before its output buffer is allocated.
const MAX_DEFLATE_RATIO = 1032;

async function inflateEntry(archive: ZipArchive, entry: ZipEntry): Promise<Uint8Array> {
  const source = archive.source;
  if (entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 64) {
    throw new FormatError(
      `Cannot read zip member '${entry.name}' of ${source.name}: ${entry.compressedSize} deflated bytes cannot inflate to the declared ${entry.size}`,
      { offset: entry.dataOffset, format: "zip" },
    );
  }
  const { Inflate } = await loadFflate();
  const out = new Uint8Array(entry.size);
  let written = 0;
  let ended = false;
  const inflater = new Inflate((chunk: Uint8Array, final: boolean) => {
    if (written + chunk.length > out.length) {
      throw new FormatError(
        `Cannot read zip member '${entry.name}' of ${source.name}: it inflates past its declared size of ${entry.size} bytes`,
        { offset: entry.dataOffset, format: "zip" },
      );
    }
    out.set(chunk, written);
    written += chunk.length;
    if (final) ended = true;
  });
  const compressed = await source.read(entry.dataOffset, entry.compressedSize);
  try {
    for (let at = 0; at < compressed.length; at += INFLATE_STEP) {
      const end = Math.min(compressed.length, at + INFLATE_STEP);
      inflater.push(compressed.subarray(at, end), end === compressed.length);
      if (ended) break;
    }
    if (compressed.length === 0) inflater.push(new Uint8Array(0), true);
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(
      `Cannot read zip member '${entry.name}' of ${source.name}: invalid deflate data (${
        (error as Error).message
      })`,
      { offset: entry.dataOffset, format: "zip", cause: error },
    );
  }
  if (written !== entry.size) {
    throw new FormatError(
      `Cannot read zip member '${entry.name}' of ${source.name}: it inflates to ${written} bytes, not the declared ${entry.size}`,
      { offset: entry.dataOffset, format: "zip" },
    );
  }
  return out;
}
