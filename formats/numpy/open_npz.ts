/**
 * Read an .npz (numpy's zip of .npy members, stored by `savez` or deflated
 * by `savez_compressed`) lazily, member by member: headers are read up
 * front, array bytes on `read()`; deflated members inflate under a bound
 * taken from their header, so a zip bomb is refused.
 *
 * @module
 */

import { loadFflate } from "../zip/_fflate.ts";
import type { ByteSource } from "../../lib/byte_source.ts";
import { FormatError, TruncatedError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import { FieldReader, NeedMoreBytes } from "../../lib/binary/field_reader.ts";
import { parseFromSource } from "../../lib/binary/read_window.ts";
import { sliceSource } from "../../lib/binary/slice_source.ts";
import { openZip, type ZipArchive, type ZipEntry } from "../zip/open_zip.ts";
import { readZipEntry } from "../zip/read_zip_entry.ts";
import { npyEntry } from "./open_npy.ts";
import { NPY_MAX_HEADER_BYTES, type NpyHeader, readNpyHeader } from "./npy_header.ts";

/** Options for {@linkcode openNpz}. */
export interface OpenNpzOptions extends OpenOptions {
  /** Most zip members to accept. @default 1000000 */
  maxEntries?: number;
}

// Compressed bytes fed per step while looking for a member's header.
const PREFIX_STEP = 4096;

/** Inflate just enough of a deflated member to hold its first `needed` bytes. */
async function inflatePrefix(source: ByteSource, entry: ZipEntry, needed: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let produced = 0;
  const { Inflate } = await loadFflate();
  const inflater = new Inflate((chunk) => {
    chunks.push(chunk);
    produced += chunk.length;
  });
  for (let at = 0; at < entry.compressedSize && produced < needed; at += PREFIX_STEP) {
    const n = Math.min(PREFIX_STEP, entry.compressedSize - at);
    const input = await source.read(entry.dataOffset + at, n);
    try {
      inflater.push(input, at + n === entry.compressedSize);
    } catch (cause) {
      throw new FormatError(`Cannot decode npz member '${entry.name}': corrupt deflate data`, {
        offset: entry.dataOffset + at,
        format: "npz",
        cause,
      });
    }
  }
  const out = new Uint8Array(Math.min(produced, needed));
  let at = 0;
  for (const c of chunks) {
    if (at >= out.length) break;
    const part = c.subarray(0, out.length - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function deflatedHeader(source: ByteSource, entry: ZipEntry, maxHeader: number): Promise<NpyHeader> {
  let needed = 12;
  for (;;) {
    const prefix = await inflatePrefix(source, entry, needed);
    try {
      return readNpyHeader(new FieldReader(prefix, { format: "npz", totalSize: entry.size }), {
        maxHeaderBytes: maxHeader,
      });
    } catch (error) {
      if (!(error instanceof NeedMoreBytes)) throw error;
      if (prefix.length < needed || error.needed <= needed) {
        throw new TruncatedError(
          `Cannot decode npz member '${entry.name}': it inflates to fewer bytes than its header needs`,
          { offset: entry.dataOffset },
        );
      }
      needed = error.needed;
    }
  }
}

async function memberEntry(
  archive: ZipArchive,
  entry: ZipEntry,
  options: OpenNpzOptions,
): Promise<TensorEntry> {
  const source = archive.source;
  const name = entry.name.slice(0, -".npy".length);
  const maxHeader = options.maxHeaderBytes ?? NPY_MAX_HEADER_BYTES;
  if (entry.method === 0) {
    const member = sliceSource(source, entry.dataOffset, entry.size, `${source.name}:${entry.name}`);
    const header = await parseFromSource(member, (r) => readNpyHeader(r, { maxHeaderBytes: maxHeader }), {
      format: "npz",
      initialBytes: 4096,
    });
    if (header.dataOffset + header.byteLength > entry.size) {
      throw new TruncatedError(
        `Cannot decode npz member '${entry.name}': its array needs ${
          header.dataOffset + header.byteLength
        } bytes but the member has ${entry.size}`,
        { offset: entry.dataOffset },
      );
    }
    // Stored: the array's bytes are read straight from the archive.
    return npyEntry(
      name,
      header,
      (out) => source.read(entry.dataOffset + header.dataOffset, header.byteLength, out),
    );
  }
  if (entry.method !== 8) {
    throw new FormatError(
      `Cannot decode npz member '${entry.name}': compression method ${entry.method} is not supported`,
      {
        offset: entry.localHeaderOffset,
        format: "npz",
      },
    );
  }
  const header = await deflatedHeader(source, entry, maxHeader);
  const expected = header.dataOffset + header.byteLength;
  if (entry.size !== expected) {
    throw new FormatError(
      `Cannot decode npz member '${entry.name}': the zip declares ${entry.size} bytes but its npy header implies ${expected}`,
      { offset: entry.localHeaderOffset, format: "npz" },
    );
  }
  return npyEntry(name, header, async (out) => {
    const all = await readZipEntry(archive, entry, { maxInflatedBytes: expected });
    const data = all.subarray(header.dataOffset, expected);
    if (!out) return data;
    const view = out.subarray(0, data.length);
    view.set(data);
    return view;
  });
}

/**
 * Open an .npz archive. Each `<name>.npy` member becomes a tensor `<name>`;
 * other members are ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openNpz } from "./open_npz.ts";
 * import { writeNpz } from "./write_npz.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const sink = memorySink();
 * const tensors = [tensorFromBytes("a", "U8", [2], new Uint8Array([1, 2]))];
 * await writeNpz({ metadata: {}, tensors }, sink, { compress: true });
 * const file = await openNpz(bytesSource(sink.bytes()));
 * assert.equal(file.tensors[0].name, "a");
 * assert.deepEqual(await file.tensors[0].read(), new Uint8Array([1, 2]));
 * ```
 */
export async function openNpz(source: ByteSource, options: OpenNpzOptions = {}): Promise<TensorFile> {
  const archive = await openZip(source, { maxEntries: options.maxEntries });
  const tensors: TensorEntry[] = [];
  const names = new Set<string>();
  for (const entry of archive.entries) {
    if (!entry.name.endsWith(".npy")) continue;
    const tensor = await memberEntry(archive, entry, options);
    if (names.has(tensor.name)) {
      throw new FormatError(`Cannot decode npz: duplicate member '${entry.name}'`, {
        offset: entry.localHeaderOffset,
        format: "npz",
      });
    }
    names.add(tensor.name);
    tensors.push(tensor);
  }
  if (tensors.length === 0 && archive.entries.length > 0) {
    throw new FormatError(`Cannot decode npz: ${source.name} has no .npy members`, {
      offset: 0,
      format: "npz",
    });
  }
  return tensorFile({
    format: "npz",
    metadata: {},
    tensors,
    fileBytes: source.size,
    close: () => source.close(),
  });
}
