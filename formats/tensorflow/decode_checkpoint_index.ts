/**
 * The pure, synchronous part of reading a TensorFlow checkpoint: its
 * `.index` bytes to a header and a checked list of tensors, each with its
 * dtype, shape, shard, offset, size and CRC-32C (and, for a partitioned
 * variable, its slices). No data shard is touched.
 *
 * @module
 */

import { byteLengthOf, type DType } from "../../lib/dtype.ts";
import { unmaskCrc32c } from "../../lib/crc32c.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";
import {
  type BundleEntry,
  type BundleHeader,
  decodeBundleEntry,
  decodeBundleHeader,
  LITTLE_ENDIAN,
  type SliceExtent,
} from "./_bundle_proto.ts";
import { DT_STRING, DT_VARIANT, TF_DTYPE_NAMES, TF_DTYPES } from "./_dtypes.ts";
import { sliceKey } from "./_slices.ts";
import { decodeTable, type DecodeTableOptions } from "./decode_table.ts";

/** Most dimensions a tensor may have (TensorFlow's TensorShape allows 254). */
export const MAX_RANK = 254;
/** Most data shards a checkpoint may declare. */
export const MAX_SHARDS = 1_000_000;

/** Where one stored piece of a tensor lies. */
export interface CheckpointPiece {
  /** Data shard number. */
  readonly shard: number;
  /** Offset in that shard. */
  readonly offset: number;
  /** Bytes. */
  readonly size: number;
  /** The CRC-32C of the bytes (unmasked). */
  readonly crc32c: number;
}

/** One slice of a partitioned variable: where it sits in the whole tensor and where its bytes are. */
export interface CheckpointSlice extends CheckpointPiece {
  /** Start of the slice along each dimension. */
  readonly starts: readonly number[];
  /** Size of the slice along each dimension. */
  readonly shape: readonly number[];
}

/** One numeric tensor listed by the index. */
export interface CheckpointTensor {
  /** The stored name (the table key). */
  readonly name: string;
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions. */
  readonly shape: readonly number[];
  /** Bytes of the whole tensor. */
  readonly byteLength: number;
  /** Where the bytes lie, for an unpartitioned tensor. */
  readonly piece?: CheckpointPiece;
  /** The slices, for a partitioned variable (read whole). */
  readonly slices?: readonly CheckpointSlice[];
}

/** A string or variant tensor: not a tensor for ckpt, but listed (the object graph is one). */
export interface CheckpointOpaque {
  /** The stored name. */
  readonly name: string;
  /** `DT_STRING` or `DT_VARIANT`. */
  readonly kind: "string" | "variant";
  /** Dimensions. */
  readonly shape: readonly number[];
  /** Where its encoded bytes lie. */
  readonly piece: CheckpointPiece;
}

/** What {@linkcode decodeCheckpointIndex} returns. */
export interface CheckpointIndex {
  /** Number of data shards. */
  readonly numShards: number;
  /** Format version the writer declared. */
  readonly producer: number;
  /** The numeric tensors, in key order. */
  readonly tensors: readonly CheckpointTensor[];
  /** String and variant tensors, in key order. */
  readonly opaque: readonly CheckpointOpaque[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decode a checkpoint's `.index` bytes. Every entry is checked: its dtype
 * is one ckpt has, its shape is valid, its size equals elements × element
 * size, its shard exists; partitioned variables' slices must tile the whole
 * tensor. Throws `FormatError` (naming `name` and the tensor) or
 * `TruncatedError`/`LimitError` for a table that does not fit.
 *
 * @example
 * ```ts ignore
 * import { decodeCheckpointIndex } from "./decode_checkpoint_index.ts";
 * const index = decodeCheckpointIndex(await Deno.readFile("model.ckpt.index"), "model.ckpt.index");
 * console.log(index.numShards, index.tensors.map((t) => t.name));
 * ```
 */
export function decodeCheckpointIndex(
  bytes: Uint8Array,
  name: string,
  options: Pick<DecodeTableOptions, "verifyChecksums"> = {},
): CheckpointIndex {
  const fail = (message: string) =>
    new FormatError(`Cannot read ${name}: ${message}`, { format: "tensorflow" });
  const table = decodeTable(bytes, { name, verifyChecksums: options.verifyChecksums });
  if (table.length === 0 || table[0].key.length !== 0) throw fail('the table has no header entry (key "")');
  const header: BundleHeader = decodeBundleHeader(table[0].value, name);
  if (header.numShards < 1 || header.numShards > MAX_SHARDS) {
    throw fail(`the header declares ${header.numShards} data shards`);
  }
  if (header.endianness !== LITTLE_ENDIAN) {
    throw fail("it was written on a big-endian machine, which ckpt does not read");
  }
  if (header.minConsumer > 1 || header.badConsumers.includes(1)) {
    throw fail(
      `it needs a newer reader (format version ${header.producer}, min consumer ${header.minConsumer})`,
    );
  }
  const raw = new Map<string, Uint8Array>();
  const keys: string[] = [];
  for (const { key, value } of table.slice(1)) {
    // Slice keys are OrderedCode bytes, not UTF-8: they are looked up by their encoding.
    const text = key[0] === 0 ? undefined : decodeKey(key, name);
    if (text === undefined) raw.set(latin1(key), value);
    else {
      raw.set(text, value);
      keys.push(text);
    }
  }
  const tensors: CheckpointTensor[] = [];
  const opaque: CheckpointOpaque[] = [];
  for (const key of keys) {
    const entry = decodeBundleEntry(raw.get(key)!, name, key);
    const tensorFail = (message: string) => fail(`tensor '${key}' ${message}`);
    const shape = checkShape(entry, tensorFail);
    if (entry.dtype === DT_STRING || entry.dtype === DT_VARIANT) {
      opaque.push({
        name: key,
        kind: entry.dtype === DT_STRING ? "string" : "variant",
        shape,
        piece: piece(entry, header.numShards, tensorFail),
      });
      continue;
    }
    const dtype = TF_DTYPES.get(entry.dtype);
    if (dtype === undefined) {
      const known = TF_DTYPE_NAMES.get(entry.dtype) ?? `DataType ${entry.dtype}`;
      throw tensorFail(`has dtype ${known}, which ckpt cannot represent`);
    }
    const byteLength = sizeOf(dtype, shape, tensorFail);
    if (entry.slices.length === 0) {
      const p = piece(entry, header.numShards, tensorFail);
      if (p.size !== byteLength) {
        throw tensorFail(
          `stores ${p.size} bytes, but a ${dtype} tensor of shape [${shape}] takes ${byteLength}`,
        );
      }
      tensors.push({ name: key, dtype, shape, byteLength, piece: p });
      continue;
    }
    const slices = entry.slices.map((extents) => {
      const { starts, sliceShape } = sliceBox(extents, shape, tensorFail);
      const skey = latin1(sliceKey(key, extents));
      const value = raw.get(skey);
      if (value === undefined) {
        throw tensorFail(`lists a slice [${starts}] + [${sliceShape}] that the index lacks`);
      }
      const part = decodeBundleEntry(value, name, `${key} slice [${starts}]`);
      if (part.dtype !== entry.dtype) throw tensorFail(`has a slice of another dtype (${part.dtype})`);
      const partShape = checkShape(part, tensorFail);
      if (partShape.join() !== sliceShape.join()) {
        throw tensorFail(`has a slice of shape [${partShape}] where its extents say [${sliceShape}]`);
      }
      const p = piece(part, header.numShards, tensorFail);
      const want = sizeOf(dtype, sliceShape, tensorFail);
      if (p.size !== want) {
        throw tensorFail(`has a slice of ${p.size} bytes where [${sliceShape}] takes ${want}`);
      }
      return { ...p, starts, shape: sliceShape };
    });
    checkTiling(slices, shape, tensorFail);
    tensors.push({ name: key, dtype, shape, byteLength, slices });
  }
  return { numShards: header.numShards, producer: header.producer, tensors, opaque };
}

function decodeKey(key: Uint8Array, name: string): string {
  try {
    return utf8.decode(key);
  } catch {
    throw new FormatError(`Cannot read ${name}: a tensor name is not UTF-8 (${latin1(key).slice(0, 60)})`, {
      format: "tensorflow",
    });
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function checkShape(entry: BundleEntry, fail: (m: string) => Error): number[] {
  if (entry.unknownRank) throw fail("has a shape of unknown rank");
  if (entry.shape.length > MAX_RANK) {
    throw fail(`has ${entry.shape.length} dimensions, more than ${MAX_RANK}`);
  }
  for (const dim of entry.shape) if (dim < 0) throw fail(`has an unknown or negative dimension ${dim}`);
  return entry.shape;
}

function sizeOf(dtype: DType, shape: readonly number[], fail: (m: string) => Error): number {
  try {
    return byteLengthOf(dtype, shape);
  } catch (error) {
    if (error instanceof LimitError || error instanceof FormatError) {
      throw fail(`has shape [${shape}]: ${error.message}`);
    }
    throw error;
  }
}

function piece(entry: BundleEntry, numShards: number, fail: (m: string) => Error): CheckpointPiece {
  if (entry.shardId < 0 || entry.shardId >= numShards) {
    throw fail(`is in data shard ${entry.shardId}, but the checkpoint has ${numShards}`);
  }
  if (entry.offset < 0 || entry.size < 0) throw fail(`has offset ${entry.offset} and size ${entry.size}`);
  // Stored masked, as TensorFlow's writer does.
  return { shard: entry.shardId, offset: entry.offset, size: entry.size, crc32c: unmaskCrc32c(entry.crc32c) };
}

function sliceBox(
  extents: readonly SliceExtent[],
  shape: readonly number[],
  fail: (m: string) => Error,
): { starts: number[]; sliceShape: number[] } {
  if (extents.length !== shape.length) {
    throw fail(`has a slice of rank ${extents.length} for a tensor of rank ${shape.length}`);
  }
  const starts: number[] = [];
  const sliceShape: number[] = [];
  extents.forEach((e, d) => {
    const start = e.length === undefined ? 0 : e.start;
    const length = e.length ?? shape[d];
    if (start < 0 || length < 0 || start + length > shape[d]) {
      throw fail(`has a slice [${start}, ${start + length}) outside dimension ${d} of size ${shape[d]}`);
    }
    starts.push(start);
    sliceShape.push(length);
  });
  return { starts, sliceShape };
}

function checkTiling(
  slices: readonly CheckpointSlice[],
  shape: readonly number[],
  fail: (m: string) => Error,
): void {
  const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const total = slices.reduce((sum, s) => sum + count(s.shape), 0);
  for (let i = 0; i < slices.length; i++) {
    for (let j = i + 1; j < slices.length; j++) {
      const a = slices[i];
      const b = slices[j];
      const overlap = a.starts.every((s, d) =>
        Math.max(s, b.starts[d]) < Math.min(s + a.shape[d], b.starts[d] + b.shape[d])
      );
      if (overlap) throw fail(`has overlapping slices [${a.starts}] and [${b.starts}]`);
    }
  }
  if (total !== count(shape)) {
    throw fail(
      `is partitioned into slices covering ${total} of its ${
        count(shape)
      } elements; ckpt reads partitioned variables only whole`,
    );
  }
}
