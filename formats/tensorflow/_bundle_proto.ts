// The messages of a TensorFlow checkpoint index, by field number
// (tensorflow/core/protobuf/tensor_bundle.proto, framework/tensor_shape.proto,
// framework/tensor_slice.proto, framework/versions.proto,
// protobuf/trackable_object_graph.proto), decoded and encoded through
// @bufbuild/protobuf's wire reader and writer. Unknown fields are skipped.

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FormatError } from "../../lib/errors.ts";

/** One extent of a TensorSliceProto: `length` undefined means the whole dimension. */
export interface SliceExtent {
  start: number;
  length: number | undefined;
}

/** BundleEntryProto. `shape` is undefined when the proto had none; a dim of -1 is an unknown size. */
export interface BundleEntry {
  dtype: number;
  shape: number[];
  unknownRank: boolean;
  shardId: number;
  offset: number;
  size: number;
  crc32c: number;
  slices: SliceExtent[][];
}

/** BundleHeaderProto. */
export interface BundleHeader {
  numShards: number;
  /** 0 little-endian, 1 big-endian. */
  endianness: number;
  producer: number;
  minConsumer: number;
  badConsumers: number[];
}

/** BundleHeaderProto.Endianness.LITTLE. */
export const LITTLE_ENDIAN = 0;

function int(value: bigint | string, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} ${value} is beyond 2^53`);
  return n;
}

function messages(
  bytes: Uint8Array,
  visit: (field: number, wireType: WireType, reader: BinaryReader) => boolean,
): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (!visit(field, wireType, reader)) reader.skip(wireType, field);
  }
}

function expect(wireType: WireType, want: WireType, what: string): void {
  if (wireType !== want) throw new RangeError(`${what} has wire type ${wireType}, not ${want}`);
}

function decodeShape(bytes: Uint8Array, entry: BundleEntry): void {
  messages(bytes, (field, wt, r) => {
    if (field === 2) {
      expect(wt, WireType.LengthDelimited, "shape.dim");
      let size = 0;
      messages(r.bytes(), (f, w, d) => {
        if (f !== 1) return false;
        expect(w, WireType.Varint, "dim.size");
        size = int(d.int64(), "dim.size");
        return true;
      });
      entry.shape.push(size);
      return true;
    }
    if (field === 3) {
      expect(wt, WireType.Varint, "shape.unknown_rank");
      entry.unknownRank = r.bool();
      return true;
    }
    return false;
  });
}

function decodeSlice(bytes: Uint8Array): SliceExtent[] {
  const extents: SliceExtent[] = [];
  messages(bytes, (field, wt, r) => {
    if (field !== 1) return false;
    expect(wt, WireType.LengthDelimited, "slice.extent");
    const extent: SliceExtent = { start: 0, length: undefined };
    messages(r.bytes(), (f, w, e) => {
      if (f !== 1 && f !== 2) return false;
      expect(w, WireType.Varint, "extent");
      const v = int(e.int64(), f === 1 ? "extent.start" : "extent.length");
      if (f === 1) extent.start = v;
      else extent.length = v;
      return true;
    });
    extents.push(extent);
    return true;
  });
  return extents;
}

function protoError(file: string, key: string, message: string, cause: unknown): FormatError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new FormatError(`Cannot decode the ${message} of '${key}' in ${file}: ${detail}`, {
    format: "tensorflow",
    cause,
  });
}

/** Decode a BundleEntryProto; throws `FormatError` naming the file and key. */
export function decodeBundleEntry(bytes: Uint8Array, file: string, key: string): BundleEntry {
  const entry: BundleEntry = {
    dtype: 0,
    shape: [],
    unknownRank: false,
    shardId: 0,
    offset: 0,
    size: 0,
    crc32c: 0,
    slices: [],
  };
  try {
    messages(bytes, (field, wt, r) => {
      switch (field) {
        case 1:
          expect(wt, WireType.Varint, "dtype");
          entry.dtype = r.int32();
          return true;
        case 2:
          expect(wt, WireType.LengthDelimited, "shape");
          decodeShape(r.bytes(), entry);
          return true;
        case 3:
          expect(wt, WireType.Varint, "shard_id");
          entry.shardId = r.int32();
          return true;
        case 4:
          expect(wt, WireType.Varint, "offset");
          entry.offset = int(r.int64(), "offset");
          return true;
        case 5:
          expect(wt, WireType.Varint, "size");
          entry.size = int(r.int64(), "size");
          return true;
        case 6:
          expect(wt, WireType.Bit32, "crc32c");
          entry.crc32c = r.fixed32();
          return true;
        case 7:
          expect(wt, WireType.LengthDelimited, "slices");
          entry.slices.push(decodeSlice(r.bytes()));
          return true;
      }
      return false;
    });
  } catch (error) {
    throw protoError(file, key, "BundleEntryProto", error);
  }
  return entry;
}

/** Decode the BundleHeaderProto stored under the key `""`. */
export function decodeBundleHeader(bytes: Uint8Array, file: string): BundleHeader {
  const header: BundleHeader = { numShards: 0, endianness: 0, producer: 0, minConsumer: 0, badConsumers: [] };
  try {
    messages(bytes, (field, wt, r) => {
      if (field === 1) {
        expect(wt, WireType.Varint, "num_shards");
        header.numShards = r.int32();
      } else if (field === 2) {
        expect(wt, WireType.Varint, "endianness");
        header.endianness = r.int32();
      } else if (field === 3) {
        expect(wt, WireType.LengthDelimited, "version");
        messages(r.bytes(), (f, w, v) => {
          if (f === 1) header.producer = v.int32();
          else if (f === 2) header.minConsumer = v.int32();
          else if (f === 3 && w === WireType.Varint) header.badConsumers.push(v.int32());
          else if (f === 3 && w === WireType.LengthDelimited) {
            const packed = new BinaryReader(v.bytes());
            while (packed.pos < packed.len) header.badConsumers.push(packed.int32());
          } else return false;
          return true;
        });
      } else return false;
      return true;
    });
  } catch (error) {
    throw protoError(file, "", "BundleHeaderProto", error);
  }
  return header;
}

/** Encode a BundleHeaderProto as TensorFlow's writer fills it. */
export function encodeBundleHeader(numShards: number): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int32(numShards);
  // endianness LITTLE is the default value: proto3 leaves it out.
  w.tag(3, WireType.LengthDelimited).fork().tag(1, WireType.Varint).int32(1).join();
  return w.finish();
}

/** Encode a BundleEntryProto for a whole tensor, fields in TensorFlow's order, defaults left out. */
export function encodeBundleEntry(
  e: {
    dtype: number;
    shape: readonly number[];
    shardId: number;
    offset: number;
    size: number;
    crc32c: number;
  },
): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int32(e.dtype);
  w.tag(2, WireType.LengthDelimited).fork();
  for (const dim of e.shape) {
    w.tag(2, WireType.LengthDelimited).fork();
    if (dim !== 0) w.tag(1, WireType.Varint).int64(dim);
    w.join();
  }
  w.join();
  if (e.shardId !== 0) w.tag(3, WireType.Varint).int32(e.shardId);
  if (e.offset !== 0) w.tag(4, WireType.Varint).int64(e.offset);
  if (e.size !== 0) w.tag(5, WireType.Varint).int64(e.size);
  if (e.crc32c !== 0) w.tag(6, WireType.Bit32).fixed32(e.crc32c);
  return w.finish();
}

/**
 * From a TrackableObjectGraph: each saved attribute's checkpoint key and the
 * full name of its variable (`sequential/dense/kernel`, `adam/…_momentum`).
 */
export function decodeObjectGraphNames(bytes: Uint8Array): Map<string, string> {
  const names = new Map<string, string>();
  messages(bytes, (field, wt, r) => {
    if (field !== 1 || wt !== WireType.LengthDelimited) return false;
    messages(r.bytes(), (f, w, node) => {
      if (f !== 2 || w !== WireType.LengthDelimited) return false;
      let fullName = "";
      let key = "";
      messages(node.bytes(), (a, aw, attr) => {
        if (aw !== WireType.LengthDelimited || (a !== 2 && a !== 3)) return false;
        if (a === 2) fullName = attr.string();
        else key = attr.string();
        return true;
      });
      if (key !== "" && fullName !== "") names.set(key, fullName);
      return true;
    });
    return true;
  });
  return names;
}
