/**
 * A tour of ckpt in one page: build a tiny model in memory, write it as
 * safetensors, read it back lazily, cast it to bfloat16 through a pipeline,
 * and measure what the cast cost.
 *
 * Run: deno task demo  (deno run --allow-read --allow-write examples/demo.ts)
 *
 * In your own code the same names come from `@ckpt/ckpt` and
 * `@ckpt/ckpt/safetensors`.
 *
 * @module
 */

import { fileSink, withSink } from "../lib/byte_sink.ts";
import { fileSource } from "../lib/byte_source.ts";
import { castBytes } from "../lib/cast.ts";
import { elementCount } from "../lib/dtype.ts";
import { cast, pipe } from "../lib/pipeline.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { formatBytes, formatCount } from "../lib/units.ts";
import { openSafetensors, writeSafetensors } from "../formats/safetensors/mod.ts";
import { randomTensor } from "./_synthetic.ts";

function f32(name: string, shape: number[], seed: number, scale = 0.02): TensorEntry {
  return randomTensor(name, shape, seed, scale);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === r.length - 1 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ")
  )
    .join("\n");
}

// 1. A tiny transformer-shaped model: embeddings, two blocks, a norm, and an int64 buffer.
const hidden = 64;
const tensors: TensorEntry[] = [f32("embed.weight", [512, hidden], 1)];
for (let layer = 0; layer < 2; layer++) {
  tensors.push(f32(`layers.${layer}.attn.qkv.weight`, [3 * hidden, hidden], 10 + layer));
  tensors.push(f32(`layers.${layer}.mlp.up.weight`, [4 * hidden, hidden], 20 + layer));
  tensors.push(f32(`layers.${layer}.mlp.up.bias`, [4 * hidden], 30 + layer, 0.5));
}
tensors.push(f32("norm.weight", [hidden], 40, 1));
const positions = new BigInt64Array(128).map((_, i) => BigInt(i));
tensors.push(tensorFromBytes("position_ids", "I64", [128], new Uint8Array(positions.buffer)));
const metadata = { format: "pt", model: "ckpt-demo-tiny" };

const dir = await Deno.makeTempDir({ prefix: "ckpt-demo-" });
try {
  // 2. Write it as safetensors (temp file + rename: the file appears only when complete).
  const f32Path = `${dir}/tiny.safetensors`;
  await withSink(await fileSink(f32Path), (sink) => writeSafetensors({ metadata, tensors }, sink));

  // 3. Read it back lazily: only the header is read here.
  const model = await openSafetensors(await fileSource(f32Path));
  const parameters = model.tensors.reduce((n, t) => n + elementCount(t.shape), 0);
  console.log(
    `ckpt demo: ${model.tensors.length} tensors, ${formatCount(parameters)} parameters, metadata ${
      JSON.stringify(model.metadata)
    }\n`,
  );

  // 4. Cast floating-point tensors to BF16 through a pipeline, streaming one tensor at a time.
  const bf16Path = `${dir}/tiny-bf16.safetensors`;
  await withSink(await fileSink(bf16Path), (sink) => writeSafetensors(pipe(model, cast("BF16")), sink));
  const halved = await openSafetensors(await fileSource(bf16Path));

  // 5. Compare tensor by tensor: dtype, size, and the largest error the cast made.
  const rows = [["tensor", "shape", "before", "after", "max |error|"]];
  let worst = 0;
  for (const before of model.tensors) {
    const after = halved.tensors.find((t) => t.name === before.name)!;
    let error = 0;
    if (after.dtype === "BF16") {
      const count = elementCount(before.shape);
      const original = new Float32Array((await before.read()).slice().buffer);
      const widened = new Float32Array(castBytes(await after.read(), "BF16", "F32", count).buffer);
      for (let i = 0; i < count; i++) error = Math.max(error, Math.abs(original[i] - widened[i]));
      worst = Math.max(worst, error);
    }
    rows.push([
      before.name,
      `[${before.shape.join(", ")}]`,
      `${before.dtype} ${formatBytes(before.byteLength)}`,
      `${after.dtype} ${formatBytes(after.byteLength)}`,
      after.dtype === "BF16" ? error.toExponential(2) : "exact",
    ]);
  }
  console.log(table(rows));
  const [a, b] = [(await Deno.stat(f32Path)).size, (await Deno.stat(bf16Path)).size];
  console.log(
    `\nfile: ${formatBytes(a)} → ${formatBytes(b)} (${(100 * b / a).toFixed(1)}%), worst error ${
      worst.toExponential(2)
    } (bfloat16 keeps 8 significant bits: relative error ≤ 2^-9)`,
  );
  await model.close();
  await halved.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
