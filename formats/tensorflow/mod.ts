/**
 * TensorFlow checkpoints (the V2 tensor-bundle format of `tf.train.Saver`,
 * `tf.train.Checkpoint` and Keras TF-format checkpoints): open by prefix,
 * `.index` path or folder, read tensors lazily with CRC-32C checks, and
 * write checkpoints `tf.train.load_checkpoint` reads. The LevelDB-format
 * table codec under the index is exported too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTable, encodeTable } from "./mod.ts";
 * const enc = new TextEncoder();
 * const table = encodeTable([[enc.encode("a"), enc.encode("1")]]);
 * assert.equal(new TextDecoder().decode(decodeTable(table)[0].value), "1");
 * ```
 *
 * @module
 */

export * from "./decode_table.ts";
export * from "./encode_table.ts";
export * from "./decode_checkpoint_index.ts";
export * from "./open_tensorflow.ts";
export * from "./write_tensorflow.ts";
export * from "./format.ts";
