/**
 * Open a TensorFlow checkpoint (the V2 tensor-bundle format every
 * `tf.train.Saver`, `tf.train.Checkpoint` and Keras TF-format checkpoint
 * writes) by its prefix, its `.index` path, a data shard's path or a folder
 * with a `checkpoint` file. Only the index is read up front; tensor bytes are
 * read from the data shards when asked for and checked against their CRC-32C.
 *
 * @module
 */

import { type ByteSource, fileSource } from "../../lib/byte_source.ts";
import { crc32c, unmaskCrc32c } from "../../lib/crc32c.ts";
import { dtypeInfo } from "../../lib/dtype.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import { decodeObjectGraphNames } from "./_bundle_proto.ts";
import { dataPath, resolvePrefix } from "./_paths.ts";
import { copySlice } from "./_slices.ts";
import {
  type CheckpointIndex,
  type CheckpointOpaque,
  type CheckpointPiece,
  decodeCheckpointIndex,
} from "./decode_checkpoint_index.ts";
import { locatedEntry } from "../../lib/located_entry.ts";

/** Largest `.index` file read: 1 GiB (a checkpoint of a million tensors needs about 100 MB). */
export const MAX_INDEX_BYTES = 1 << 30;
/** Largest object graph decoded for readable names: 256 MiB. */
export const MAX_OBJECT_GRAPH_BYTES = 256 * 1024 * 1024;
/** Name of the TF2 object graph's string tensor. */
export const OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH";

/** An opened TensorFlow checkpoint. */
export interface TensorflowCheckpoint extends TensorFile {
  /** The checkpoint prefix (`…/model.ckpt`). */
  readonly prefix: string;
  /**
   * Readable names from the TF2 object graph: stored key → the variable's
   * full name (`optimizer/_variables/2/.ATTRIBUTES/VARIABLE_VALUE` →
   * `adam/sequential_dense_kernel_momentum`). Empty for TF1 checkpoints.
   */
  readonly displayNames: Readonly<Record<string, string>>;
  /** String and variant tensors, kept out of `tensors`. */
  readonly nonNumeric: readonly string[];
}

/**
 * A view of a shard for one tensor's `location`: sequential reads from the
 * tensor's start (as chunked copies make them) are checksummed on the way,
 * so a copy that bypasses `read()` still fails on corrupt bytes.
 */
function checkedLocation(
  shard: ByteSource,
  piece: CheckpointPiece,
  fail: () => FormatError,
): ByteSource {
  let next = -1;
  let crc = 0;
  return {
    size: shard.size,
    name: shard.name,
    async read(offset: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
      const bytes = await shard.read(offset, length, out);
      if (offset === piece.offset) {
        crc = 0;
        next = offset;
      }
      if (offset === next) {
        crc = crc32c(bytes, crc);
        next += length;
        if (next === piece.offset + piece.size) {
          next = -1;
          if (crc !== piece.crc32c) throw fail();
        }
      } else next = -1;
      return bytes;
    },
    // The shard is shared with the checkpoint, which closes it.
    close: () => Promise.resolve(),
  };
}

async function readStringScalar(
  source: ByteSource,
  item: CheckpointOpaque,
  file: string,
): Promise<Uint8Array> {
  const { piece } = item;
  const fail = (m: string) =>
    new FormatError(`Cannot read string tensor '${item.name}' in ${file}: ${m}`, { format: "tensorflow" });
  if (piece.size > MAX_OBJECT_GRAPH_BYTES) {
    throw new LimitError(`Cannot read '${item.name}' in ${file}: ${piece.size} bytes is more than allowed`, {
      limit: MAX_OBJECT_GRAPH_BYTES,
      actual: piece.size,
    });
  }
  const bytes = await source.read(piece.offset, piece.size);
  // [varint64 length][masked CRC-32C of the length as u32][bytes], for one element;
  // the entry's CRC covers the length as u32, the stored length CRC and the bytes.
  let pos = 0;
  let length = 0;
  for (let shift = 0;; shift += 7) {
    if (pos >= bytes.length || shift > 49) throw fail("its length is malformed");
    const b = bytes[pos++];
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > 0xffffffff || pos + 4 + length !== bytes.length) {
    throw fail(`its length ${length} does not match its ${bytes.length} bytes`);
  }
  const lengthBytes = new Uint8Array(4);
  new DataView(lengthBytes.buffer).setUint32(0, length, true);
  let crc = crc32c(lengthBytes);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + pos, 4).getUint32(0, true);
  if (unmaskCrc32c(stored) !== crc) throw fail("its length fails its CRC-32C");
  crc = crc32c(bytes.subarray(pos, pos + 4), crc);
  crc = crc32c(bytes.subarray(pos + 4), crc);
  if (crc !== piece.crc32c) throw fail("its bytes fail their CRC-32C");
  return bytes.subarray(pos + 4);
}

/**
 * Open a TensorFlow checkpoint. `path` is a prefix (`model.ckpt`), its
 * `.index` file, one of its data shards, or a folder with a `checkpoint`
 * file (its latest checkpoint is opened). Throws `FormatError` (naming the
 * file and the tensor) for a corrupt index, a missing shard or a tensor
 * beyond its shard; reading a tensor whose bytes fail their CRC-32C throws
 * `FormatError` too.
 *
 * @example
 * ```ts ignore
 * import { openTensorflow } from "./open_tensorflow.ts";
 * const ckpt = await openTensorflow("train/model.ckpt");
 * for (const t of ckpt.tensors) console.log(t.name, t.dtype, t.shape);
 * await ckpt.close();
 * ```
 */
export async function openTensorflow(
  path: string,
  _options: OpenOptions = {},
): Promise<TensorflowCheckpoint> {
  const prefix = await resolvePrefix(path);
  const indexPath = `${prefix}.index`;
  let indexSize: number;
  try {
    indexSize = (await Deno.stat(indexPath)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new FormatError(`Cannot open the TensorFlow checkpoint ${prefix}: ${indexPath} does not exist`, {
        format: "tensorflow",
      });
    }
    throw error;
  }
  if (indexSize > MAX_INDEX_BYTES) {
    throw new LimitError(
      `Cannot read ${indexPath}: ${indexSize} bytes is more than the ${MAX_INDEX_BYTES} allowed`,
      {
        limit: MAX_INDEX_BYTES,
        actual: indexSize,
      },
    );
  }
  const index: CheckpointIndex = decodeCheckpointIndex(await Deno.readFile(indexPath), indexPath);
  const shardPaths = Array.from({ length: index.numShards }, (_, i) => dataPath(prefix, i, index.numShards));
  const used = new Set<number>();
  for (const t of index.tensors) {
    if (t.piece) used.add(t.piece.shard);
    for (const s of t.slices ?? []) used.add(s.shard);
  }
  for (const o of index.opaque) used.add(o.piece.shard);
  const sources = new Map<number, ByteSource>();
  const close = async () => {
    const all = [...sources.values()];
    sources.clear();
    await Promise.all(all.map((s) => s.close()));
  };
  try {
    for (const shard of [...used].sort((a, b) => a - b)) {
      try {
        sources.set(shard, await fileSource(shardPaths[shard]));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          const who = index.tensors.find((t) =>
            t.piece?.shard === shard || t.slices?.some((s) => s.shard === shard)
          )?.name ?? index.opaque.find((o) => o.piece.shard === shard)?.name;
          throw new FormatError(
            `Cannot open the TensorFlow checkpoint ${prefix}: data shard ${
              shardPaths[shard]
            } is missing (it holds '${who}')`,
            { format: "tensorflow" },
          );
        }
        throw error;
      }
    }
    const checkRange = (name: string, p: CheckpointPiece) => {
      const source = sources.get(p.shard)!;
      if (p.offset + p.size > source.size) {
        throw new FormatError(
          `Cannot open the TensorFlow checkpoint ${prefix}: tensor '${name}' lies at bytes ${p.offset}–${
            p.offset + p.size
          } of ${source.name}, which has ${source.size}`,
          { offset: p.offset, format: "tensorflow" },
        );
      }
    };
    for (const t of index.tensors) {
      if (t.piece) checkRange(t.name, t.piece);
      for (const s of t.slices ?? []) checkRange(t.name, s);
    }
    for (const o of index.opaque) checkRange(o.name, o.piece);

    const crcError = (name: string, p: CheckpointPiece) =>
      new FormatError(
        `Cannot read tensor '${name}' from ${
          sources.get(p.shard)!.name
        }: its ${p.size} bytes at offset ${p.offset} fail their CRC-32C`,
        { offset: p.offset, format: "tensorflow" },
      );
    const readPiece = async (name: string, p: CheckpointPiece, out?: Uint8Array) => {
      const bytes = await sources.get(p.shard)!.read(p.offset, p.size, out);
      if (crc32c(bytes) !== p.crc32c) throw crcError(name, p);
      return bytes;
    };

    const tensors: TensorEntry[] = index.tensors.map((t): TensorEntry => {
      const base = { name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.byteLength };
      const piece = t.piece;
      if (piece) {
        return locatedEntry({ ...base, read: (out?: Uint8Array) => readPiece(t.name, piece, out) }, {
          source: checkedLocation(sources.get(piece.shard)!, piece, () => crcError(t.name, piece)),
          offset: piece.offset,
        });
      }
      const slices = t.slices!;
      const item = Math.max(1, dtypeInfo(t.dtype).bits / 8);
      return {
        ...base,
        async read(out?: Uint8Array): Promise<Uint8Array> {
          if (out && out.length < t.byteLength) {
            throw new RangeError(`Output buffer of ${out.length} bytes is smaller than ${t.byteLength}`);
          }
          const whole = out ? out.subarray(0, t.byteLength) : new Uint8Array(t.byteLength);
          for (const s of slices) {
            copySlice(whole, t.shape, await readPiece(t.name, s), s.starts, s.shape, item);
          }
          return whole;
        },
      };
    });

    let displayNames: Record<string, string> = {};
    const graph = index.opaque.find((o) => o.name === OBJECT_GRAPH_KEY && o.kind === "string");
    if (graph && graph.shape.length === 0) {
      const bytes = await readStringScalar(sources.get(graph.piece.shard)!, graph, indexPath);
      try {
        displayNames = Object.fromEntries(decodeObjectGraphNames(bytes));
      } catch (error) {
        throw new FormatError(
          `Cannot decode ${OBJECT_GRAPH_KEY} in ${prefix}: ${error instanceof Error ? error.message : error}`,
          { format: "tensorflow", cause: error },
        );
      }
    }
    let fileBytes = indexSize;
    for (const s of sources.values()) fileBytes += s.size;
    return tensorFile({
      format: "tensorflow",
      metadata: {},
      tensors,
      fileBytes,
      paths: [indexPath, ...shardPaths],
      prefix,
      displayNames,
      nonNumeric: index.opaque.map((o) => o.name),
      close,
    });
  } catch (error) {
    await close();
    throw error;
  }
}
