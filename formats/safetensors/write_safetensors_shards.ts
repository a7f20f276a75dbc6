/**
 * Write a tensor stream as sharded safetensors files with a
 * `model.safetensors.index.json`, as Hugging Face's tools do.
 *
 * @module
 */

import { ScratchBuffer } from "../../lib/scratch_buffer.ts";
import { fileSink, withSink } from "../../lib/byte_sink.ts";
import { UsageError } from "../../lib/errors.ts";
import { withStagedFiles } from "../../lib/staged_files.ts";
import { collectTensors, finalMetadata, type TensorEntry, type TensorStream } from "../../lib/tensor.ts";
import { layoutSafetensors, writeSafetensors, type WriteSafetensorsOptions } from "./write_safetensors.ts";
import { compareUtf8 } from "./_order.ts";
import { writeSafetensorsIndex } from "./write_safetensors_index.ts";
import { basename, dirname, join, refuseInputs } from "./_paths.ts";

/** Hugging Face's default largest shard: 5 GB (decimal), as `max_shard_size="5GB"`. */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/** Options for {@linkcode writeSafetensorsShards}. */
export interface WriteSafetensorsShardsOptions extends WriteSafetensorsOptions {
  /** Largest shard, in tensor bytes; a larger tensor gets a shard of its own. @default {DEFAULT_MAX_SHARD_BYTES} */
  maxShardSize?: number;
  /** Paths that must not be replaced (the inputs). `input` is always included. @default [] */
  protect?: readonly string[];
}

/** What {@linkcode writeSafetensorsShards} wrote. */
export interface SafetensorsShardsResult {
  /** Paths of the shard files written (one path, without an index, when everything fit in one file). */
  readonly shards: readonly string[];
  /** Path of the index written, or `undefined` for a single file. */
  readonly index: string | undefined;
}

/**
 * Split entries into shards the way `huggingface_hub` does: in name order,
 * filled greedily up to `maxShardSize` bytes; a tensor larger than that gets
 * a shard to itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planShards } from "./write_safetensors_shards.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const t = (name: string, n: number) => tensorFromBytes(name, "U8", [n], new Uint8Array(n));
 * const shards = planShards([t("a", 6), t("b", 10), t("c", 3)], 10);
 * assert.deepEqual(shards.map((s) => s.map((e) => e.name)), [["a"], ["b"], ["c"]]);
 * ```
 */
export function planShards<T extends Pick<TensorEntry, "name" | "byteLength">>(
  entries: readonly T[],
  maxShardSize: number,
): T[][] {
  const sorted = [...entries].sort((a, b) => compareUtf8(a.name, b.name));
  const shards: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const entry of sorted) {
    if (entry.byteLength > maxShardSize) {
      shards.push([entry]);
      continue;
    }
    if (size + entry.byteLength > maxShardSize && current.length > 0) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += entry.byteLength;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/**
 * The base name shared by a checkpoint's shards and index: `model` for
 * `model.safetensors` or `model.safetensors.index.json`.
 */
function stemOf(path: string): string {
  const name = basename(path);
  return name.replace(/\.index\.json$/i, "").replace(/\.safetensors$/i, "");
}

/**
 * Write a stream as `stem-00001-of-0000N.safetensors` shards beside `path`
 * plus `stem.safetensors.index.json` (`{"metadata": {"total_size"},
 * "weight_map"}`). `path` names either the index or `stem.safetensors`; in
 * the second case a stream that fits in one shard is written as that single
 * file, with no index. Every shard carries the stream's metadata. All files
 * are written under hidden temporary names and renamed into place only when
 * all of them succeeded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeSafetensorsShards } from "./write_safetensors_shards.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * const model = { metadata: {}, tensors: [
 *   tensorFromBytes("a", "U8", [4], new Uint8Array(4)),
 *   tensorFromBytes("b", "U8", [4], new Uint8Array(4)),
 * ] };
 * const result = await writeSafetensorsShards(model, `${dir}/model.safetensors`, { maxShardSize: 4 });
 * assert.equal(result.index, `${dir}/model.safetensors.index.json`);
 * assert.deepEqual(result.shards, [
 *   `${dir}/model-00001-of-00002.safetensors`,
 *   `${dir}/model-00002-of-00002.safetensors`,
 * ]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSafetensorsShards(
  stream: TensorStream,
  path: string,
  options: WriteSafetensorsShardsOptions = {},
): Promise<SafetensorsShardsResult> {
  const maxShardSize = options.maxShardSize ?? DEFAULT_MAX_SHARD_BYTES;
  if (!Number.isSafeInteger(maxShardSize) || maxShardSize <= 0) {
    throw new UsageError(`Invalid maximum shard size ${maxShardSize}: use a positive number of bytes`);
  }
  const entries = await collectTensors(stream);
  const layout = layoutSafetensors(entries); // checks names, sizes and encodings up front
  const shards = planShards(entries, maxShardSize);
  const dir = dirname(path);
  const stem = stemOf(path);
  const inputs = [...(options.protect ?? []), ...(typeof options.input === "string" ? [options.input] : [])];
  const writeOptions: WriteSafetensorsOptions = {
    align: options.align,
    copyChunkBytes: options.copyChunkBytes,
    // One read buffer for every shard.
    scratch: options.scratch ?? new ScratchBuffer(),
  };
  const metadata = finalMetadata(stream);

  if (shards.length <= 1 && !/\.index\.json$/i.test(path)) {
    await refuseInputs([path], inputs);
    await withSink(
      await fileSink(path),
      (sink) => writeSafetensors({ metadata, tensors: entries }, sink, writeOptions),
    );
    return { shards: [path], index: undefined };
  }

  const count = Math.max(shards.length, 1);
  const pad = (n: number) => String(n).padStart(5, "0");
  const names = Array.from({ length: count }, (_, i) => `${stem}-${pad(i + 1)}-of-${pad(count)}.safetensors`);
  const finals = names.map((name) => join(dir, name));
  const indexPath = join(dir, `${stem}.safetensors.index.json`);
  await refuseInputs([...finals, indexPath], inputs);

  // Finished shards wait under staging names until all are written (an
  // interrupt removes them too, not only the shard being written).
  await withStagedFiles(async (staged) => {
    for (let i = 0; i < count; i++) {
      await withSink(
        await fileSink(staged.stage(finals[i])),
        (sink) => writeSafetensors({ metadata, tensors: shards[i] ?? [] }, sink, writeOptions),
      );
    }
    const mapped = shards.flatMap((shard, i) => shard.map((e) => [e.name, names[i]] as const));
    await writeSafetensorsIndex(staged.stage(indexPath), mapped, layout.dataBytes);
  });
  return { shards: finals, index: indexPath };
}
