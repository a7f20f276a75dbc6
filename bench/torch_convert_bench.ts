// Benchmark (not a test): convert a 1 GiB PyTorch state dict to safetensors
// with ckpt (cli/pt2safetensors.ts, one process), against `dd` copying the
// same file and against Python (torch.load, then the same bytes written with a
// safetensors header through numpy/struct). Median of 3 runs each, and peak
// resident memory (VmHWM, via getrusage of the child).
//
//   deno run -A bench/torch_convert_bench.ts [--size-mib 1024] [--runs 3]
//
// Needs Debian's /usr/bin/python3 with torch to make bench/data/model.pt once.

import { parseArgs } from "node:util";
import { measureProcess, median, PYTHON } from "./_measure.ts";
import { MAKE_TORCH_MODEL, TORCH_TO_SAFETENSORS } from "./_python_routes.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DATA = `${REPO}/bench/data`;

const { values } = parseArgs({
  args: Deno.args,
  options: { "size-mib": { type: "string", default: "1024" }, runs: { type: "string", default: "3" } },
});
const sizeMiB = Number(values["size-mib"]);
const runs = Number(values.runs);
const input = `${DATA}/model_${sizeMiB}m.pt`;

await Deno.mkdir(DATA, { recursive: true });
try {
  await Deno.stat(input);
} catch {
  console.log(`making ${input} with torch…`);
  const made = await new Deno.Command(PYTHON, { args: ["-c", MAKE_TORCH_MODEL, input, String(sizeMiB)] })
    .output();
  if (!made.success) throw new Error(new TextDecoder().decode(made.stderr));
}
const bytes = (await Deno.stat(input)).size;
const output = `${DATA}/out.safetensors`;
const routes: [string, string[]][] = [
  ["dd (copy, fsync)", ["dd", `if=${input}`, `of=${DATA}/out.dd`, "bs=8M", "conv=fsync", "status=none"]],
  ["dd (copy, no fsync)", ["dd", `if=${input}`, `of=${DATA}/out.dd`, "bs=8M", "status=none"]],
  ["ckpt pt2safetensors", [
    Deno.execPath(),
    "run",
    "--quiet",
    "--allow-read",
    "--allow-write",
    `${REPO}/cli/pt2safetensors.ts`,
    input,
    output,
  ]],
  ["python torch.load + write", [PYTHON, "-c", TORCH_TO_SAFETENSORS, input, `${DATA}/out.py.safetensors`]],
];
const results: { name: string; seconds: number; peakMiB: number }[] = [];
for (const [name, cmd] of routes) {
  const times: number[] = [];
  const peaks: number[] = [];
  for (let i = 0; i < runs; i++) {
    await Deno.remove(output).catch(() => {});
    const r = await measureProcess(cmd);
    times.push(r.seconds);
    peaks.push(r.peakMiB);
  }
  results.push({ name, seconds: median(times), peakMiB: Math.max(...peaks) });
}
for (const f of ["out.dd", "out.safetensors", "out.py.safetensors"]) {
  await Deno.remove(`${DATA}/${f}`).catch(() => {});
}

const dd = results[0].seconds;
const ckpt = results.find((r) => r.name.startsWith("ckpt"))!;
const py = results.find((r) => r.name.startsWith("python"))!;
console.log(`input: ${input} (${(bytes / 2 ** 30).toFixed(2)} GiB), median of ${runs}`);
for (const r of results) {
  console.log(
    `${r.name.padEnd(28)} ${r.seconds.toFixed(2).padStart(7)} s  ${
      (bytes / r.seconds / 1e9).toFixed(2).padStart(6)
    } GB/s  peak ${r.peakMiB.toFixed(0).padStart(5)} MiB`,
  );
}
console.log(
  `ckpt / dd(fsync) = ${(ckpt.seconds / dd).toFixed(2)}× (target ≤ 1.5×); python / ckpt = ${
    (py.seconds / ckpt.seconds).toFixed(2)
  }× (target ≥ 3×); ckpt peak ${ckpt.peakMiB.toFixed(0)} MiB (target ≤ 256)`,
);
