/**
 * The TensorFlow checkpoint format descriptor for the registry: opened by
 * path (a prefix, an `.index`, a data shard or a folder with a `checkpoint`
 * file), written as an index and one or more data shards.
 *
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import type { OpenOptions, TensorFormat, WriteOptions } from "../../lib/format.ts";
import type { TensorFile, TensorStream } from "../../lib/tensor.ts";
import { claimsCheckpointPath } from "./_paths.ts";

// The codec (and the protobuf runtime, which reads an environment variable
// when it decodes 64-bit fields) is imported only when a checkpoint is used.
async function codec() {
  try {
    return await Promise.all([import("./open_tensorflow.ts"), import("./write_tensorflow.ts")]);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new UsageError(
        "TensorFlow checkpoints need --allow-env=BUF_BIGINT_DISABLE (the protobuf runtime reads that variable)",
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * TensorFlow checkpoints (V2 tensor bundles). A checkpoint is several files,
 * so it is only opened by path; writing to `out/model.ckpt` (or
 * `out/model.ckpt.index`) makes `out/model.ckpt.index` and
 * `out/model.ckpt.data-00000-of-00001` (more shards with `maxShardSize`).
 * Opening one loads `@bufbuild/protobuf`, which needs
 * `--allow-env=BUF_BIGINT_DISABLE`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensorflowFormat } from "./format.ts";
 * assert.deepEqual(tensorflowFormat.extensions, [".ckpt", ".index"]);
 * ```
 */
export const tensorflowFormat: TensorFormat = {
  name: "tensorflow",
  extensions: [".ckpt", ".index"],
  // An index begins with its first data block: nothing to recognise in the head.
  sniff: () => false,
  claimsPath: claimsCheckpointPath,
  openPath: async (path: string, options?: OpenOptions): Promise<TensorFile> =>
    (await codec())[0].openTensorflow(path, options),
  open(source): Promise<TensorFile> {
    return Promise.reject(
      new UsageError(
        `Cannot open ${source.name} as a TensorFlow checkpoint: open it by its path (prefix or .index)`,
      ),
    );
  },
  async writePath(stream: TensorStream, path: string, options: WriteOptions = {}): Promise<void> {
    const protect = [
      ...(typeof options.input === "string" ? [options.input] : []),
      ...(options.protect ?? []),
    ];
    await (await codec())[1].writeTensorflow(stream, path, {
      maxShardSize: typeof options.maxShardSize === "number" ? options.maxShardSize : undefined,
      protect,
    });
  },
};
