/**
 * Convert a Hugging Face style sharded checkpoint (`model.safetensors.index.json`
 * plus `model-0000N-of-0000M.safetensors`) to one bfloat16 file, and back
 * into shards of another size. The index opens as one file; tensors stream
 * one at a time, so the model never has to fit in memory.
 *
 * Run: deno run --allow-read --allow-write examples/sharded_checkpoint.ts [INDEX.json OUT_DIR]
 * Without arguments it builds a small sharded checkpoint in a temporary folder first.
 *
 * @module
 */

import { cast, fileSink, openTensorFile, pipe, withSink } from "../mod.ts";
import { writeSafetensors, writeSafetensorsShards } from "../formats/safetensors/mod.ts";
import { formatBytes } from "../lib/units.ts";
import { randomTensor } from "./_synthetic.ts";

const [givenIndex, givenOut] = Deno.args;
const work = givenOut ?? await Deno.makeTempDir({ prefix: "ckpt-shards-" });
let index = givenIndex;

if (!index) {
  // A four-layer model saved as huggingface_hub saves it, in shards of at most 300 kB.
  const tensors = [randomTensor("model.embed_tokens.weight", [256, 128], 1)];
  for (let layer = 0; layer < 4; layer++) {
    tensors.push(randomTensor(`model.layers.${layer}.mlp.up_proj.weight`, [256, 128], 10 + layer));
    tensors.push(randomTensor(`model.layers.${layer}.mlp.down_proj.weight`, [128, 256], 20 + layer));
  }
  const written = await writeSafetensorsShards(
    { metadata: { format: "pt" }, tensors },
    `${work}/model.safetensors`,
    { maxShardSize: 300_000 },
  );
  index = written.index!;
  console.log(`wrote ${written.shards.length} shards and ${index.slice(work.length + 1)}`);
}

// 1. The index opens as one tensor file.
const model = await openTensorFile(index);
const total = model.tensors.reduce((sum, t) => sum + t.byteLength, 0);
console.log(`opened ${model.tensors.length} tensors (${formatBytes(total)}) through the index`);

// 2. Merge into one bfloat16 file.
const merged = `${work}/model-bf16.safetensors`;
await withSink(await fileSink(merged), (sink) => writeSafetensors(pipe(model, cast("BF16")), sink));
console.log(`merged: ${merged.slice(work.length + 1)} ${formatBytes((await Deno.stat(merged)).size)}`);

// 3. Shard the merged file again, at most 100 kB a shard.
const bf16 = await openTensorFile(merged);
await Deno.mkdir(`${work}/bf16`, { recursive: true });
const resharded = await writeSafetensorsShards(bf16, `${work}/bf16/model.safetensors`, {
  maxShardSize: 100_000,
});
console.log(`resharded into ${resharded.shards.length} files with index bf16/model.safetensors.index.json`);
await bf16.close();
await model.close();

if (!givenOut) await Deno.remove(work, { recursive: true });
