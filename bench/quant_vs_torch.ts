// Throughput of every quantization scheme on the CPU and the GPU, in GB/s of
// float32 input, beside Debian's PyTorch doing the same on the CPU and the
// memory-copy speed of this machine. Median of several runs; prints a
// markdown table.
//
//   deno run -A bench/quant_vs_torch.ts [--mib 64] [--gpu-mib 16] [--runs 5]

import { parseArgs } from "node:util";
import { SCHEMES } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import type { QuantSettings } from "../lib/quant/scheme.ts";
import { GpuQuantizer } from "../gpu/gpu_quantizer.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { mib: { type: "string" }, "gpu-mib": { type: "string" }, runs: { type: "string" } },
});
const MIB = Number(args.mib ?? 64);
const GPU_MIB = Number(args["gpu-mib"] ?? 16);
const RUNS = Number(args.runs ?? 5);
const COLS = 4096;
const rows = (MIB * 2 ** 20) / 4 / COLS;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function data(n: number): Float32Array {
  const x = new Float32Array(n);
  let s = 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return x;
}

const x = data(rows * COLS);
const gbytes = x.byteLength / 1e9;

async function time(fn: () => unknown | Promise<unknown>, runs = RUNS): Promise<number> {
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}

const copy = new Uint8Array(x.byteLength);
const src = new Uint8Array(x.buffer);
const memcpy = gbytes / (await time(() => copy.set(src)));

// PyTorch on the CPU, same data size, in one run of the Python interpreter.
const torchScript = `
import time, torch, statistics
from torch.ao.quantization.observer import PerChannelMinMaxObserver
torch.manual_seed(0)
x = (torch.rand(${rows}, ${COLS}) - 0.5) * 0.1
def med(f, runs=${RUNS}):
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
gb = x.numel() * 4 / 1e9
def int8_round_clamp():
    s = x.abs().amax(dim=1, keepdim=True) / 127.5
    torch.clamp(torch.round(x * (1 / s)), -128, 127).to(torch.int8)
def int8_quantize_per_channel():
    o = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    o(x); s, z = o.calculate_qparams()
    torch.quantize_per_channel(x, s.double(), z, 0, torch.qint8)
print("half", gb / med(lambda: x.half()))
print("bfloat16", gb / med(lambda: x.bfloat16()))
print("int8_round_clamp", gb / med(int8_round_clamp))
print("int8_quantize_per_channel", gb / med(int8_quantize_per_channel))
print("threads", torch.get_num_threads())
`;
const torch: Record<string, number> = {};
try {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", torchScript],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  for (const line of new TextDecoder().decode(out.stdout).trim().split("\n")) {
    const [k, v] = line.split(" ");
    torch[k] = Number(v);
  }
} catch {
  console.error("PyTorch not available: its columns stay empty");
}

const gpu = await GpuQuantizer.create();
const gpuRows = (GPU_MIB * 2 ** 20) / 4 / COLS;
const gx = x.subarray(0, gpuRows * COLS);

const torchFor: Record<string, string> = {
  F16: "half",
  BF16: "bfloat16",
  int8: "int8_round_clamp",
  "int8 per-channel": "int8_quantize_per_channel",
};

const cases: [string, string, Partial<QuantSettings>][] = SCHEMES.map((s) => [s.name, s.name, {}]);
cases.splice(5, 0, ["int8 per-channel", "int8", { perChannel: true }]);

const lines = [
  `CPU: ${MIB} MiB of float32 per run (${rows}×${COLS}); GPU: ${GPU_MIB} MiB on ${
    gpu?.adapterName ?? "no adapter"
  };`,
  `median of ${RUNS} runs; memcpy ${memcpy.toFixed(2)} GB/s; PyTorch ${torch.threads ?? "?"} threads.`,
  "",
  "| scheme | CPU GB/s | GPU GB/s | PyTorch GB/s | CPU / PyTorch | CPU / memcpy |",
  "|---|---:|---:|---:|---:|---:|",
];
for (const [label, name, partial] of cases) {
  const scheme = SCHEMES.find((s) => s.name === name)!;
  const settings = { ...DEFAULT_SETTINGS, ...partial };
  const plan = scheme.plan([rows, COLS], settings);
  const cpu = gbytes / (await time(() => scheme.quantize(plan, x)));
  let gpuRate = NaN;
  if (gpu) {
    const gplan = scheme.plan([gpuRows, COLS], settings);
    await gpu.quantize([{ scheme, plan: gplan, values: gx }]);
    gpuRate = gx.byteLength / 1e9 /
      (await time(() => gpu.quantize([{ scheme, plan: gplan, values: gx }]), 3));
  }
  const t = torch[torchFor[label] ?? ""];
  lines.push(
    `| ${label} | ${cpu.toFixed(2)} | ${Number.isNaN(gpuRate) ? "–" : gpuRate.toFixed(3)} | ${
      t ? t.toFixed(2) : "–"
    } | ${t ? (cpu / t).toFixed(2) + "×" : "–"} | ${(cpu / memcpy).toFixed(2)} |`,
  );
}
console.log(lines.join("\n"));
