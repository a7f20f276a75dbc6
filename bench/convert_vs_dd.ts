/**
 * `ckpt convert` against `dd` on a 1 GiB safetensors file: a plain copy
 * (safetensors → safetensors) and an F32 → F16 cast, each the median of three
 * runs, with the convert's peak resident memory. Prints a markdown table.
 *
 * Run: deno run -A bench/convert_vs_dd.ts [--size 1GiB] [--runs 3]
 *
 * The input is generated under bench/data/ (gitignored) and reused while its
 * size matches. Each command runs as a child process, measured for wall
 * clock and peak resident memory (bench/_measure.ts). Both convert
 * and `dd conv=fsync` flush the output to disk; plain `dd` does not.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Measure, measureProcess } from "./_measure.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { formatBytes, parseSize } from "../lib/units.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DIR = `${ROOT}bench/data`;
const { values } = parseArgs({
  args: Deno.args,
  options: { size: { type: "string", default: "1GiB" }, runs: { type: "string", default: "3" } },
});
const size = parseSize(values.size!);
const runs = Number(values.runs);
const TENSOR_BYTES = 16 * 1024 * 1024;

async function ensureInput(path: string): Promise<void> {
  const stat = await Deno.stat(path).catch(() => undefined);
  if (stat && stat.size > size && stat.size < size + 65536) return;
  // 16 MiB F32 tensors (a 7B model's typical projection is 32–128 MiB) and one smaller remainder.
  const block = new Float32Array(TENSOR_BYTES / 4).map((_, i) => Math.sin(i) * 0.02);
  const bytes = new Uint8Array(block.buffer);
  const tensors: TensorEntry[] = [];
  for (let done = 0, i = 0; done < size; i++) {
    const n = Math.min(TENSOR_BYTES, size - done) & ~3;
    if (n === 0) break;
    tensors.push(tensorFromBytes(`layers.${i}.weight`, "F32", [n / 4], bytes.subarray(0, n)));
    done += n;
  }
  await withSink(
    await fileSink(path),
    (sink) => writeSafetensors({ metadata: { format: "pt" }, tensors }, sink),
  );
}

async function median(label: string, command: string[], output: string): Promise<Measure> {
  const results: Measure[] = [];
  for (let i = 0; i < runs; i++) {
    await Deno.remove(output).catch(() => {});
    // Flush earlier runs' dirty pages so they don't slow this one down.
    await new Deno.Command("sync").output();
    results.push(await measureProcess(command));
  }
  await Deno.remove(output).catch(() => {});
  results.sort((a, b) => a.seconds - b.seconds);
  const mid = results[Math.floor(results.length / 2)];
  console.error(`${label}: ${results.map((r) => r.seconds.toFixed(2)).join(", ")} s`);
  return { seconds: mid.seconds, peakMiB: Math.max(...results.map((r) => r.peakMiB)) };
}

await Deno.mkdir(DIR, { recursive: true });
const input = `${DIR}/input.safetensors`;
await ensureInput(input);
const inputBytes = (await Deno.stat(input)).size;
// Warm the page cache so every contender reads from memory.
await new Deno.Command("cat", { args: [input], stdout: "null" }).output();

const deno = Deno.execPath();
const cli = [
  deno,
  "run",
  "--quiet",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  `${ROOT}cli/ckpt.ts`,
  "convert",
];
const out = `${DIR}/output.safetensors`;
const rows: [string, Measure, number][] = [];
const dd = await median("dd", ["dd", `if=${input}`, `of=${out}`, "bs=16M"], out);
rows.push(["dd bs=16M", dd, inputBytes]);
const ddSync = await median("dd conv=fsync", ["dd", `if=${input}`, `of=${out}`, "bs=16M", "conv=fsync"], out);
rows.push(["dd bs=16M conv=fsync", ddSync, inputBytes]);
const copy = await median("convert", [...cli, input, out], out);
rows.push(["ckpt convert (copy)", copy, inputBytes]);
const half = await median("convert --dtype F16", [...cli, input, out, "--dtype", "F16"], out);
rows.push(["ckpt convert --dtype F16", half, inputBytes]);

console.log(
  `Input: ${formatBytes(inputBytes)} safetensors, ${
    Math.ceil(size / TENSOR_BYTES)
  } F32 tensors of up to 16 MiB; median of ${runs} runs; page cache warm.\n`,
);
console.log("| command | wall (s) | input GB/s | × dd | × dd conv=fsync | peak RSS |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const [label, t, bytes] of rows) {
  console.log(
    `| ${label} | ${t.seconds.toFixed(2)} | ${(bytes / t.seconds / 1e9).toFixed(2)} | ${
      (t.seconds / dd.seconds).toFixed(2)
    } | ${(t.seconds / ddSync.seconds).toFixed(2)} | ${formatBytes(t.peakMiB * 2 ** 20)} |`,
  );
}
