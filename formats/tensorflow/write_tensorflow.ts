/**
 * Write a tensor stream as a TensorFlow checkpoint (V2 tensor bundle):
 * `PREFIX.index` and one data shard, or several with `maxShardSize`, which
 * `tf.train.load_checkpoint` reads back under the same names.
 *
 * @module
 */

import { fileSink, withSink } from "../../lib/byte_sink.ts";
import { requirePlainEntry } from "../../lib/plain_entry.ts";
import { ScratchBuffer } from "../../lib/scratch_buffer.ts";
import { writeEntryBytes } from "../../lib/write_entry_bytes.ts";
import { withStagedFiles } from "../../lib/staged_files.ts";
import { crc32c, maskCrc32c } from "../../lib/crc32c.ts";
import { UsageError } from "../../lib/errors.ts";
import { refuseInputs } from "../../lib/paths.ts";
import { collectTensors, type TensorEntry, type TensorStream } from "../../lib/tensor.ts";
import { encodeBundleEntry, encodeBundleHeader } from "./_bundle_proto.ts";
import { tfDataType } from "./_dtypes.ts";
import { dataPath } from "./_paths.ts";
import { encodeTable } from "./encode_table.ts";

/** Bytes copied at a time from an unchanged tensor's source: 8 MiB. */
export const COPY_CHUNK_BYTES = 8 << 20;

/** Options for {@linkcode writeTensorflow}. */
export interface WriteTensorflowOptions {
  /** Largest data shard in tensor bytes; a larger tensor gets a shard of its own. @default unlimited (one shard) */
  maxShardSize?: number;
  /** Paths that must not be replaced (the inputs). @default [] */
  protect?: readonly string[];
}

/** What {@linkcode writeTensorflow} wrote. */
export interface TensorflowWriteResult {
  /** The checkpoint prefix. */
  readonly prefix: string;
  /** The `.index` file. */
  readonly index: string;
  /** The data shards. */
  readonly shards: readonly string[];
}

/**
 * The prefix an output path names: `out/model.ckpt` for `out/model.ckpt`
 * or `out/model.ckpt.index`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensorflowPrefix } from "./write_tensorflow.ts";
 * assert.equal(tensorflowPrefix("out/model.ckpt.index"), "out/model.ckpt");
 * assert.equal(tensorflowPrefix("out/model.ckpt"), "out/model.ckpt");
 * ```
 */
export function tensorflowPrefix(path: string): string {
  return path.endsWith(".index") ? path.slice(0, -".index".length) : path;
}

function planShards(entries: readonly TensorEntry[], max: number): TensorEntry[][] {
  const shards: TensorEntry[][] = [];
  let current: TensorEntry[] = [];
  let size = 0;
  for (const e of entries) {
    if (current.length > 0 && size + e.byteLength > max) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(e);
    size += e.byteLength;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

const utf8 = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Write `stream` as a TensorFlow checkpoint at `path` (a prefix, or the
 * prefix's `.index`). Tensors keep their names and stream order in the data
 * shards; unchanged tensors are copied from their source in chunks. Every
 * file is written under a hidden staging name and renamed into place only
 * when all of them are complete (data shards first, the index last), so a
 * failure leaves nothing behind. Throws `UsageError` for a dtype TensorFlow
 * lacks, a block-encoded tensor, an empty or duplicate name.
 *
 * @example
 * ```ts ignore
 * import { writeTensorflow } from "./write_tensorflow.ts";
 * await writeTensorflow(file, "out/model.ckpt", { maxShardSize: 2e9 });
 * ```
 */
export async function writeTensorflow(
  stream: TensorStream,
  path: string,
  options: WriteTensorflowOptions = {},
): Promise<TensorflowWriteResult> {
  const max = options.maxShardSize ?? Infinity;
  if (max !== Infinity && (!Number.isSafeInteger(max) || max <= 0)) {
    throw new UsageError(`Invalid maximum shard size ${max}: use a positive number of bytes`);
  }
  const entries = await collectTensors(stream);
  const seen = new Set<string>();
  const dtypes = new Map<TensorEntry, number>();
  for (const e of entries) {
    if (e.name === "" || e.name.startsWith("\0")) {
      throw new UsageError(`Cannot write a TensorFlow checkpoint: tensor name '${e.name}' is reserved`);
    }
    if (seen.has(e.name)) {
      throw new UsageError(`Cannot write a TensorFlow checkpoint: duplicate tensor '${e.name}'`);
    }
    seen.add(e.name);
    requirePlainEntry(e, "a TensorFlow checkpoint");
    const code = tfDataType(e.dtype);
    if (code === undefined) {
      throw new UsageError(
        `Cannot write tensor '${e.name}' to a TensorFlow checkpoint: TensorFlow has no ${e.dtype}`,
      );
    }
    dtypes.set(e, code);
  }
  const prefix = tensorflowPrefix(path);
  const shards = planShards(entries, max);
  const shardPaths = shards.map((_, i) => dataPath(prefix, i, shards.length));
  const indexPath = `${prefix}.index`;
  await refuseInputs([...shardPaths, indexPath], options.protect ?? []);

  const records: [Uint8Array, Uint8Array][] = [];
  // One read buffer for every tensor of every shard.
  const scratch = new ScratchBuffer();
  // Shards and index appear together, the index last, or not at all.
  await withStagedFiles(async (staged) => {
    for (let i = 0; i < shards.length; i++) {
      await withSink(await fileSink(staged.stage(shardPaths[i])), async (sink) => {
        for (const e of shards[i]) {
          const offset = sink.position;
          let crc = 0;
          await writeEntryBytes(e, sink, scratch, COPY_CHUNK_BYTES, (piece) => crc = crc32c(piece, crc));
          records.push([
            utf8.encode(e.name),
            encodeBundleEntry({
              dtype: dtypes.get(e)!,
              shape: e.shape,
              shardId: i,
              offset,
              size: e.byteLength,
              crc32c: maskCrc32c(crc),
            }),
          ]);
        }
      });
    }
    records.sort((a, b) => compareBytes(a[0], b[0]));
    const table = encodeTable([[new Uint8Array(0), encodeBundleHeader(shards.length)], ...records]);
    await withSink(await fileSink(staged.stage(indexPath)), (sink) => sink.write(table));
  });
  return { prefix, index: indexPath, shards: shardPaths };
}
