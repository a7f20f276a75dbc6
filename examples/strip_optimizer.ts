/**
 * Why is a training checkpoint three times the size of its model? Adam keeps
 * two moment tensors (`exp_avg`, `exp_avg_sq`) per parameter. This example
 * shows the size by role and writes the weights alone.
 *
 * Run: deno run --allow-read --allow-write examples/strip_optimizer.ts [CHECKPOINT OUT.safetensors]
 * Without arguments it builds a small Adam checkpoint in a temporary folder first.
 *
 * @module
 */

import { exclude, fileSink, openTensorFile, pipe, withSink } from "../mod.ts";
import { writeSafetensors } from "../formats/safetensors/mod.ts";
import { sizeReport, tensorRole } from "../lib/size_report.ts";
import { formatBytes, formatCount } from "../lib/units.ts";
import { randomTensor } from "./_synthetic.ts";

const [givenInput, givenOutput] = Deno.args;
const work = await Deno.makeTempDir({ prefix: "ckpt-strip-" });
let input = givenInput;

if (!input) {
  // A model with its Adam state, named as a PyTorch training script's checkpoint is.
  const shapes: [string, number[]][] = [["fc1.weight", [256, 128]], ["fc1.bias", [256]], ["fc2.weight", [
    10,
    256,
  ]]];
  const tensors = shapes.map(([name, shape], i) => randomTensor(`model.${name}`, shape, i + 1));
  shapes.forEach(([, shape], i) => {
    tensors.push(randomTensor(`optimizer.state.${i}.exp_avg`, shape, 100 + i, 1e-3));
    tensors.push(randomTensor(`optimizer.state.${i}.exp_avg_sq`, shape, 200 + i, 1e-6));
  });
  input = `${work}/checkpoint.safetensors`;
  await withSink(
    await fileSink(input),
    (sink) => writeSafetensors({ metadata: { epoch: "12" }, tensors }, sink),
  );
}

const checkpoint = await openTensorFile(input);
const report = sizeReport(checkpoint.tensors, checkpoint.fileBytes);
console.log(
  `${input.replace(work + "/", "")}: ${formatCount(report.parameters)} numbers, ${
    formatBytes(report.fileBytes ?? 0)
  }`,
);
for (const [role, group] of Object.entries(report.groups)) {
  if (group.tensors > 0) {
    console.log(
      `  ${role.padEnd(10)} ${String(group.tensors).padStart(3)} tensors  ${formatBytes(group.bytes)}`,
    );
  }
}

// Keep what inference needs: everything that is not optimizer state.
const output = givenOutput ?? `${work}/model.safetensors`;
const optimizerNames = new Set(
  checkpoint.tensors.filter((t) => tensorRole(t.name, t.dtype, t.encoding) === "optimizer").map((t) =>
    t.name
  ),
);
const weightsOnly = pipe(checkpoint, exclude(new RegExp(`^(${[...optimizerNames].map(escape).join("|")})$`)));
await withSink(await fileSink(output, { protect: [input] }), (sink) => writeSafetensors(weightsOnly, sink));
await checkpoint.close();

const before = (await Deno.stat(input)).size;
const after = (await Deno.stat(output)).size;
console.log(
  `weights only: ${formatBytes(after)} (${((after / before) * 100).toFixed(1)}% of the checkpoint)`,
);
if (!givenOutput) await Deno.remove(work, { recursive: true });

function escape(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
