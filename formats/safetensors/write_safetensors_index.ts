/**
 * Write the index of a sharded safetensors checkpoint.
 *
 * @module
 */

import { fileSink, withSink } from "../../lib/byte_sink.ts";
import { compareUtf8 } from "./_order.ts";

/**
 * Write a `model.safetensors.index.json` to `path`: `weight_map` maps each
 * tensor (sorted by UTF-8 bytes, as Hugging Face's tools sort it) to its
 * shard file, and `metadata.total_size` is the tensor data's byte count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeSafetensorsIndex } from "./write_safetensors_index.ts";
 * const path = await Deno.makeTempFile();
 * await writeSafetensorsIndex(path, [["b", "model-00002-of-00002.safetensors"], ["a", "model-00001-of-00002.safetensors"]], 8);
 * const index = JSON.parse(await Deno.readTextFile(path));
 * assert.deepEqual(Object.keys(index.weight_map), ["a", "b"]);
 * assert.equal(index.metadata.total_size, 8);
 * await Deno.remove(path);
 * ```
 */
export async function writeSafetensorsIndex(
  path: string,
  tensorShards: readonly (readonly [tensor: string, shard: string])[],
  totalSize: number,
): Promise<void> {
  const sorted = [...tensorShards].sort((a, b) => compareUtf8(a[0], b[0]));
  const weightMap: Record<string, string> = {};
  // defineProperty: a tensor named __proto__ must stay an ordinary key.
  for (const [name, file] of sorted) {
    Object.defineProperty(weightMap, name, { value: file, enumerable: true });
  }
  const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
  await withSink(
    await fileSink(path),
    (sink) => sink.write(new TextEncoder().encode(`${JSON.stringify(index, null, 2)}\n`)),
  );
}
