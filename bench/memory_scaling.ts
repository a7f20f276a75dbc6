/**
 * Peak memory of every conversion and quantization route against model size.
 * The same routes run on models of several sizes built of the same 16 MiB
 * F32 matrices; when memory is bounded by one tensor, the peak resident
 * memory does not follow the size (it moves by tens of MiB with the timing
 * of garbage collection, in either direction). Prints a markdown table and
 * writes it to bench/MEMORY.md.
 *
 * Run: deno run -A bench/memory_scaling.ts [--sizes 128MiB,1GiB,2GiB] [--out bench/MEMORY.md] [--routes REGEX]
 *
 * `--routes` runs only the routes whose label matches (e.g. `GPU`).
 *
 * Inputs are generated under bench/data/ (gitignored): a safetensors model,
 * and from it (with ckpt) the same model as .pt, .gguf and .npz. Every route
 * runs the CLI as a child process, measured by bench/_measure.ts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { measureProcess } from "./_measure.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { formatBytes, parseSize } from "../lib/units.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DIR = `${ROOT}bench/data`;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "128MiB,1GiB,2GiB" },
    out: { type: "string", default: `${ROOT}bench/MEMORY.md` },
    routes: { type: "string" },
  },
});
const ROWS = 4096;
const COLS = 1024;
const TENSOR_BYTES = ROWS * COLS * 4;

/** A safetensors model of `size` bytes in [4096, 1024] F32 matrices with a bias each. */
async function makeModel(path: string, size: number): Promise<void> {
  const stat = await Deno.stat(path).catch(() => undefined);
  if (stat) return;
  const weight = new Float32Array(ROWS * COLS);
  let s = 1;
  for (let i = 0; i < weight.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    weight[i] = (s / 2 ** 32 - 0.5) * 0.04;
  }
  const bias = new Uint8Array(COLS * 4);
  const tensors: TensorEntry[] = [];
  for (let i = 0; (i + 1) * TENSOR_BYTES <= size; i++) {
    tensors.push(tensorFromBytes(`layers.${i}.weight`, "F32", [ROWS, COLS], new Uint8Array(weight.buffer)));
    tensors.push(tensorFromBytes(`layers.${i}.bias`, "F32", [COLS], bias));
  }
  await withSink(await fileSink(path), (sink) => writeSafetensors({ metadata: {}, tensors }, sink));
}

const CLI = [
  Deno.execPath(),
  "run",
  "--quiet",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  `${ROOT}cli/ckpt.ts`,
];

/** A route: its label, and its CLI arguments given the model's stem (`bench/data/mem_128m`). */
const ROUTES: [string, (stem: string) => string[]][] = [
  [
    "convert safetensors → safetensors, F16",
    (m) => ["convert", `${m}.safetensors`, `${m}.out.safetensors`, "--dtype", "F16"],
  ],
  [
    "convert safetensors → 256 MiB shards",
    (m) => ["convert", `${m}.safetensors`, `${m}.out.safetensors`, "--max-shard-size", "256MiB"],
  ],
  ["convert safetensors → .pt", (m) => ["convert", `${m}.safetensors`, `${m}.out.pt`]],
  ["convert safetensors → .gguf", (m) => ["convert", `${m}.safetensors`, `${m}.out.gguf`]],
  ["convert safetensors → .npz", (m) => ["convert", `${m}.safetensors`, `${m}.out.npz`]],
  ["convert .pt → safetensors", (m) => ["convert", `${m}.pt`, `${m}.out.safetensors`]],
  ["convert .gguf → safetensors", (m) => ["convert", `${m}.gguf`, `${m}.out.safetensors`]],
  ["convert .npz → safetensors", (m) => ["convert", `${m}.npz`, `${m}.out.safetensors`]],
  [
    "quantize int8 per channel (CPU)",
    (
      m,
    ) => [
      "quantize",
      `${m}.safetensors`,
      `${m}.out.safetensors`,
      "--scheme",
      "int8",
      "--per-channel",
      "--device",
      "cpu",
    ],
  ],
  [
    "quantize NF4 (CPU)",
    (m) => ["quantize", `${m}.safetensors`, `${m}.out.safetensors`, "--scheme", "NF4", "--device", "cpu"],
  ],
  [
    "quantize Q4_0 → .gguf (CPU)",
    (m) => ["quantize", `${m}.safetensors`, `${m}.out.gguf`, "--scheme", "Q4_0", "--device", "cpu"],
  ],
  // The GPU path, forced (a software adapter such as llvmpipe holds its buffers in host memory, so this
  // is where a GPU path that buffers too much shows).
  [
    "quantize int8 per channel (GPU)",
    (m) => [
      "quantize",
      `${m}.safetensors`,
      `${m}.out.safetensors`,
      "--scheme",
      "int8",
      "--per-channel",
      "--device",
      "gpu",
    ],
  ],
  [
    "quantize NF4 (GPU)",
    (m) => ["quantize", `${m}.safetensors`, `${m}.out.safetensors`, "--scheme", "NF4", "--device", "gpu"],
  ],
  [
    "quantize Q4_0 → .gguf (GPU)",
    (m) => ["quantize", `${m}.safetensors`, `${m}.out.gguf`, "--scheme", "Q4_0", "--device", "gpu"],
  ],
];

async function removeOutputs(stem: string): Promise<void> {
  const dir = stem.slice(0, stem.lastIndexOf("/"));
  const base = stem.slice(stem.lastIndexOf("/") + 1);
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(`${base}.out`) || entry.name.startsWith(`${base}-0`)) {
      await Deno.remove(`${dir}/${entry.name}`);
    }
  }
}

const only = values.routes ? new RegExp(values.routes) : undefined;
const selected = ROUTES.filter(([label]) => !only || only.test(label));
const sizes = values.sizes!.split(",").map(parseSize).sort((a, b) => a - b);
await Deno.mkdir(DIR, { recursive: true });
const stems: string[] = [];
for (const size of sizes) {
  const stem = `${DIR}/mem_${Math.round(size / 2 ** 20)}m`;
  stems.push(stem);
  await makeModel(`${stem}.safetensors`, size);
  for (const ext of ["pt", "gguf", "npz"]) {
    // Only the inputs the selected routes read.
    if (!selected.some(([, args]) => args(stem)[1] === `${stem}.${ext}`)) continue;
    if (await Deno.stat(`${stem}.${ext}`).catch(() => undefined)) continue;
    await measureProcess([...CLI, "convert", `${stem}.safetensors`, `${stem}.${ext}`, "--quiet"]);
  }
}

const header = ["route", ...sizes.map((s) => `${formatBytes(s)} model`), "largest ÷ smallest"];
const lines = [
  `| ${header.join(" | ")} |`,
  `|---|${sizes.map(() => "---:").join("|")}|---:|`,
];
for (const [label, args] of selected) {
  const peaks: number[] = [];
  for (const stem of stems) {
    await removeOutputs(stem);
    // Flush earlier runs' dirty pages so they don't slow this one down.
    await new Deno.Command("sync").output();
    peaks.push((await measureProcess([...CLI, ...args(stem), "--quiet"])).peakMiB);
    await removeOutputs(stem);
  }
  console.error(`${label}: ${peaks.map((p) => `${p.toFixed(0)} MiB`).join(", ")}`);
  lines.push(
    `| ${label} | ${peaks.map((p) => `${p.toFixed(0)} MiB`).join(" | ")} | ${
      (peaks[peaks.length - 1] / peaks[0]).toFixed(2)
    }× |`,
  );
}

const cpuInfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
const cores = (cpuInfo.match(/^processor\s*:/gm) ?? []).length;
const report = `# ckpt's peak memory against model size

Generated by \`deno run -A bench/memory_scaling.ts\` on ${
  new Date().toISOString().slice(0, 10)
}: ${cores} cores,
Deno ${Deno.version.deno}. Models of ${
  sizes.map((s) => formatBytes(s)).join(", ")
} made of the same 16 MiB F32
matrices ([4096, 1024], each with a bias); every route is the CLI in its own process, and each figure is its
peak resident memory (VmHWM), runtime included (Deno alone is ≈ 40–60 MiB). Memory bounded by one tensor shows
as figures that do not follow the model's size: a larger model moves them by no more than the timing of garbage
collection does. Quantization also holds up to 64 MiB of results the writer has not asked for yet (\`quantize\`'s
\`heldBytes\`: safetensors writes every F32 scale before the int8 codes). CPU quantization runs on \`--jobs\`
Workers, one per core by default (${cores} here): each is a V8 isolate with its own heap and collector, and each
holds the tensor it is quantizing and, until its collector runs, the buffers of the ones before (V8 collects
when an isolate's buffers have grown by tens of MiB), which is most of the difference from \`--jobs 1\`. GPU rows
run on the adapter present here (forced with \`--device gpu\`; a software adapter such as llvmpipe is itself
about 137 MiB); its staging is capped at 16 MiB chunks, 64 MiB in flight.

${lines.join("\n")}
`;
console.log(lines.join("\n"));
await Deno.writeTextFile(values.out!, report);
