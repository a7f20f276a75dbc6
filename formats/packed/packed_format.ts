/**
 * Define a tensor container of your own from the kit's parts: a magic and a
 * version up front, tensor blobs at aligned offsets (optionally deflated,
 * optionally passed through a codec of yours), and a JSON tensor table at
 * the end, so tensors stream out one at a time and are read back lazily.
 *
 * @module
 */

import type { ByteSink } from "../../lib/byte_sink.ts";
import type { ByteSource } from "../../lib/byte_source.ts";
import { byteLengthOf, type DType } from "../../lib/dtype.ts";
import { FormatError, LimitError, UsageError } from "../../lib/errors.ts";
import type { OpenOptions, TensorFormat, WriteOptions } from "../../lib/format.ts";
import { requirePlainEntry } from "../../lib/plain_entry.ts";
import {
  finalMetadata,
  type TensorEntry,
  type TensorFile,
  tensorFile,
  type TensorStream,
} from "../../lib/tensor.ts";
import { alignTo, isPowerOfTwo } from "../../lib/binary/align.ts";
import { deflateBlob, inflateBlob } from "./blob_deflate.ts";
import { FieldReader } from "../../lib/binary/field_reader.ts";
import { FieldWriter } from "../../lib/binary/field_writer.ts";
import { decodeJsonHeader, encodeJsonHeader } from "./header_codec.ts";
import { checkMagic, checkVersion, hasMagic, type Magic, magicBytes } from "../../lib/binary/magic.ts";
import {
  type JsonValue,
  type PackedTensorRecord,
  tensorTableFromJson,
  tensorTableToJson,
} from "./tensor_table.ts";

/** What a codec's `encode` returns for one tensor. */
export interface PackedEncoded {
  /** The bytes to store. */
  readonly bytes: Uint8Array;
  /** Values `decode` needs back (kept in the tensor table). @default none */
  readonly attributes?: { readonly [key: string]: JsonValue };
}

/** A per-tensor transformation between a tensor's bytes and what is stored. */
export interface PackedCodec {
  /** Turn a tensor's bytes (in `entry.dtype`) into what is stored. */
  encode(entry: TensorEntry, bytes: Uint8Array): PackedEncoded;
  /** Turn stored bytes back into bytes of `record.dtype` (`byteLengthOf(dtype, shape)` long). */
  decode(record: PackedTensorRecord, stored: Uint8Array): Uint8Array;
}

/** Everything that defines a packed format. */
export interface PackedFormatSpec {
  /** Short name, e.g. `minmax8`. */
  readonly name: string;
  /** File extensions with the dot, e.g. `[".mm8"]`. */
  readonly extensions: readonly string[];
  /** Bytes every file starts with (a latin-1 string or bytes), at least 4 long. */
  readonly magic: Magic;
  /** Format version written after the magic and required on read. @default 1 */
  readonly version?: number;
  /** Alignment of every blob, a power of two. @default 64 */
  readonly alignment?: number;
  /** Deflate every blob. @default false */
  readonly deflate?: boolean;
  /** Per-tensor codec. @default bytes stored as they are */
  readonly codec?: PackedCodec;
  /** Largest tensor table to read, in bytes. @default 100000000 */
  readonly maxTableBytes?: number;
}

/** A packed format: a `TensorFormat` whose `write` is always present. */
export interface PackedFormat extends TensorFormat {
  /** The spec it was made from. */
  readonly spec: PackedFormatSpec;
  /** Encode a stream to a sink (the caller closes the sink). */
  write(stream: TensorStream, sink: ByteSink, options?: WriteOptions): Promise<void>;
}

const TRAILER_BYTES = 8;

/**
 * Define a packed tensor format. The result can be passed to anything that
 * takes a `TensorFormat`, and its `open`/`write` work on any source and sink.
 *
 * Layout: magic, u32 version, u32 alignment, zero padding; each tensor's
 * stored bytes at an aligned offset; a UTF-8 JSON table
 * `{"metadata": {...}, "tensors": [...]}`; its length as a u64.
 *
 * @example A format that stores tensors deflated
 * ```ts
 * import assert from "node:assert/strict";
 * import { definePackedFormat } from "./packed_format.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 *
 * const zipped = definePackedFormat({ name: "zt", extensions: [".zt"], magic: "ZTNS", deflate: true });
 * const sink = memorySink();
 * await zipped.write({ metadata: { note: "hi" }, tensors: [tensorFromBytes("w", "U8", [4], new Uint8Array(4))] }, sink);
 * const file = await zipped.open(bytesSource(sink.bytes()));
 * assert.equal(file.metadata.note, "hi");
 * assert.deepEqual(await file.tensors[0].read(), new Uint8Array(4));
 * ```
 */
export function definePackedFormat(spec: PackedFormatSpec): PackedFormat {
  const magic = magicBytes(spec.magic);
  if (magic.length < 4) throw new UsageError(`The magic of format '${spec.name}' must be at least 4 bytes`);
  const version = spec.version ?? 1;
  const alignment = spec.alignment ?? 64;
  if (!isPowerOfTwo(alignment)) {
    throw new UsageError(`The alignment of format '${spec.name}' must be a power of two`);
  }
  const headerBytes = magic.length + 8;
  const dataStart = alignTo(headerBytes, alignment);
  const maxTable = spec.maxTableBytes ?? 100_000_000;
  const name = spec.name;

  async function open(source: ByteSource, _options: OpenOptions = {}): Promise<TensorFile> {
    if (source.size < headerBytes + TRAILER_BYTES) {
      throw new FormatError(
        `Cannot decode ${name}: ${source.name} has ${source.size} bytes, too few for a header`,
        {
          offset: 0,
          format: name,
        },
      );
    }
    const head = new FieldReader(await source.read(0, headerBytes), { format: name, totalSize: source.size });
    checkMagic(head.bytes(magic.length), magic, name);
    const versionAt = head.offset;
    checkVersion(head.u32(), [version], name, versionAt);
    head.u32(); // alignment, informative: offsets are absolute.
    const trailerAt = source.size - TRAILER_BYTES;
    const trailer = new FieldReader(await source.read(trailerAt, TRAILER_BYTES), {
      base: trailerAt,
      format: name,
    });
    const tableLength = trailer.u64Number("tensor table length");
    if (tableLength > maxTable || tableLength > trailerAt - headerBytes) {
      throw new LimitError(
        `Cannot decode ${name}: the tensor table declares ${tableLength} bytes, more than ${
          Math.min(maxTable, trailerAt - headerBytes)
        } available`,
        { limit: Math.min(maxTable, trailerAt - headerBytes), actual: tableLength },
      );
    }
    const tableAt = trailerAt - tableLength;
    const header = decodeJsonHeader(await source.read(tableAt, tableLength), {
      format: name,
      offset: tableAt,
    });
    const metadata = header.metadata ?? {};
    if (
      metadata === null || typeof metadata !== "object" || Array.isArray(metadata) ||
      !Object.values(metadata).every((v) => typeof v === "string")
    ) {
      throw new FormatError(`Cannot decode ${name}: metadata must be an object of strings`, {
        offset: tableAt,
        format: name,
      });
    }
    const records = tensorTableFromJson(header.tensors, {
      format: name,
      offset: tableAt,
      dataStart: headerBytes,
      dataEnd: tableAt,
    });
    return tensorFile({
      format: name,
      metadata: { ...(metadata as Record<string, string>) },
      tensors: records.map((record) => packedEntry(source, record)),
      fileBytes: source.size,
      close: () => source.close(),
    });
  }

  function packedEntry(source: ByteSource, record: PackedTensorRecord): TensorEntry {
    const byteLength = byteLengthOf(record.dtype, record.shape);
    const direct = !record.compression && !spec.codec;
    if (direct && record.storedBytes !== byteLength) {
      throw new FormatError(
        `Cannot decode ${name}: tensor '${record.name}' stores ${record.storedBytes} bytes, expected ${byteLength}`,
        { offset: record.offset, format: name },
      );
    }
    return {
      name: record.name,
      dtype: record.dtype,
      shape: record.shape,
      byteLength,
      async read(out?: Uint8Array): Promise<Uint8Array> {
        if (direct) return await source.read(record.offset, byteLength, out);
        let stored = await source.read(record.offset, record.storedBytes);
        if (record.compression === "deflate") {
          stored = await inflateBlob(stored, record.rawBytes, {
            format: name,
            what: `tensor '${record.name}'`,
            offset: record.offset,
          });
        }
        const bytes = spec.codec ? spec.codec.decode(record, stored) : stored;
        if (bytes.length !== byteLength) {
          throw new FormatError(
            `Cannot decode ${name}: tensor '${record.name}' decodes to ${bytes.length} bytes, expected ${byteLength}`,
            { offset: record.offset, format: name },
          );
        }
        if (!out) return bytes;
        const view = out.subarray(0, byteLength);
        view.set(bytes);
        return view;
      },
    };
  }

  async function write(stream: TensorStream, sink: ByteSink, _options: WriteOptions = {}): Promise<void> {
    {
      const s = sink;
      const start = s.position;
      const head = new FieldWriter();
      head.bytes(magic);
      head.u32(version);
      head.u32(alignment);
      head.pad(alignment);
      await s.write(head.toBytes());
      const records: PackedTensorRecord[] = [];
      const names = new Set<string>();
      for await (const original of stream.tensors) {
        const entry = original;
        requirePlainEntry(entry, spec.name);
        if (names.has(entry.name)) {
          throw new UsageError(`Cannot write ${name}: duplicate tensor name '${entry.name}'`);
        }
        names.add(entry.name);
        const bytes = await entry.read();
        const encoded: PackedEncoded = spec.codec ? spec.codec.encode(entry, bytes) : { bytes };
        const raw = encoded.bytes;
        const stored = spec.deflate ? deflateBlob(raw) : raw;
        const offset = s.position - start;
        records.push({
          name: entry.name,
          dtype: entry.dtype as DType,
          shape: [...entry.shape],
          offset,
          storedBytes: stored.length,
          rawBytes: raw.length,
          ...(spec.deflate ? { compression: "deflate" as const } : {}),
          ...(encoded.attributes ? { attributes: encoded.attributes } : {}),
        });
        await s.write(stored);
        const pad = alignTo(s.position - start, alignment) - (s.position - start);
        if (pad) await s.write(new Uint8Array(pad));
      }
      const table = encodeJsonHeader({
        metadata: finalMetadata(stream),
        tensors: tensorTableToJson(records),
      });
      const trailer = new FieldWriter();
      trailer.u64(table.length);
      await s.write(table);
      await s.write(trailer.toBytes());
    }
  }

  return {
    name,
    extensions: spec.extensions,
    spec,
    sniff: (head: Uint8Array, size: number) => size >= dataStart && hasMagic(head, magic),
    open,
    write,
  };
}
