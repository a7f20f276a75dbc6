// One-thread throughput of the CPU kernels on the same 64 MiB of float32,
// beside their references in the same run: ggml's C quantizers
// (ggml_quantize_chunk in node-llama-cpp's libggml-base.so, timed by
// bench/_ggml_reference.c) for the ggml block schemes, PyTorch on one thread
// (torch.set_num_threads(1)) for the casts and int8. Ours twice: the
// WebAssembly SIMD kernels (the default) and the TypeScript references. The
// ggml kinds write into a kept buffer, as ggml's harness does; int8, NF4 and
// the casts go through the public API, which allocates its output (as torch
// does).
// GB/s of float32 input, best of --runs, timed by thread CPU time (what one
// thread costs, steady on a shared machine; --clock wall for wall-clock);
// output bytes checked against ggml's.
//
//   deno run -A bench/kernels_vs_ggml.ts [--mib 64] [--runs 5] [--clock cpu|wall]

import { parseArgs } from "node:util";
import { schemeByName } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import type { QuantSettings } from "../lib/quant/scheme.ts";
import { castBytes } from "../lib/cast.ts";
import { ggmlSimd, setSimdEnabled, simdActive } from "../lib/simd/kernels.ts";
import { quantizeRowQ8_0 } from "../lib/quant/q8_0.ts";
import { quantizeRowQ4_0 } from "../lib/quant/q4_0.ts";
import { quantizeRowQ4_1 } from "../lib/quant/q4_1.ts";
import { quantizeRowQ5_0 } from "../lib/quant/q5_0.ts";
import { quantizeRowQ5_1 } from "../lib/quant/q5_1.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { mib: { type: "string" }, runs: { type: "string" }, clock: { type: "string" } },
});
const MIB = Number(args.mib ?? 64);
const RUNS = Number(args.runs ?? 5);
const CLOCK = args.clock === "wall" ? "wall" : "cpu";
const COLS = 4096;
const ROWS = (MIB * 2 ** 20) / 4 / COLS;
const REPO = new URL("..", import.meta.url).pathname;
const ORACLES = Deno.env.get("CKPT_ORACLES") ?? `${REPO}.oracles`;
const GGML_LIB = `${ORACLES}/node/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64`;
const VENV_PYTHON = `${ORACLES}/venv/bin/python`;

// Weight-like data: a sum of four uniforms, scaled per row.
const x = new Float32Array(ROWS * COLS);
let seed = 1;
for (let r = 0; r < ROWS; r++) {
  const scale = 0.02 * (1 + (r % 5));
  for (let c = 0; c < COLS; c++) {
    let t = 0;
    for (let k = 0; k < 4; k++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      t += seed / 2 ** 32;
    }
    x[r * COLS + c] = (t - 2) * scale;
  }
}
const gb = x.byteLength / 1e9;
const dir = await Deno.makeTempDir({ prefix: "ckpt-kernels-" });
const input = `${dir}/x.f32`;
await Deno.writeFile(input, new Uint8Array(x.buffer));

// Seconds this thread has run (user + system), from the scheduler's count.
function threadSeconds(): number {
  return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1e9;
}
const now = CLOCK === "cpu" ? threadSeconds : () => performance.now() / 1000;

function time(fn: () => unknown): number {
  fn(); // warm-up: compile, first-touch
  const ts: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = now();
    fn();
    ts.push(now() - t0);
  }
  return Math.min(...ts);
}

function ours(fn: () => unknown): { simd: number; ts: number } {
  setSimdEnabled(true);
  const simd = gb / time(fn);
  setSimdEnabled(false);
  const ts = gb / time(fn);
  setSimdEnabled(true);
  return { simd, ts };
}

// ggml's C quantizers.
let ggmlExe: string | undefined;
try {
  const exe = `${dir}/ggml_ref`;
  const cc = await new Deno.Command("gcc", {
    args: [
      "-O2",
      "-o",
      exe,
      `${REPO}bench/_ggml_reference.c`,
      `-L${GGML_LIB}`,
      "-l:libggml-base.so",
      `-Wl,-rpath,${GGML_LIB}`,
    ],
    stderr: "piped",
  }).output();
  if (cc.success) ggmlExe = exe;
  else console.error(`ggml harness did not build: ${new TextDecoder().decode(cc.stderr).trim()}`);
} catch (e) {
  console.error(`ggml harness did not build: ${(e as Error).message}`);
}

async function ggml(type: number, outPath: string): Promise<number> {
  const out = await new Deno.Command(ggmlExe!, {
    args: [String(type), input, outPath, String(RUNS)],
    stdout: "piped",
  })
    .output();
  if (!out.success) throw new Error(`ggml harness failed for type ${type}`);
  return gb / Number(new TextDecoder().decode(out.stdout).trim());
}

// PyTorch on one thread, the same bytes.
const torchScript = `
import sys, time, numpy, torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
torch.set_num_threads(1)
x = torch.from_numpy(numpy.fromfile(sys.argv[1], dtype=numpy.float32)).reshape(${ROWS}, ${COLS})
clock = time.thread_time if "${CLOCK}" == "cpu" else time.perf_counter
def med(f):
    f()
    ts = []
    for _ in range(${RUNS}):
        t = clock(); f(); ts.append(clock() - t)
    return min(ts)
def per_tensor():
    o = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric); o(x); s, z = o.calculate_qparams()
    torch.quantize_per_tensor(x, float(s), int(z), torch.qint8)
def per_channel():
    o = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    o(x); s, z = o.calculate_qparams()
    torch.quantize_per_channel(x, s.double(), z, 0, torch.qint8)
gb = x.numel() * 4 / 1e9
print("half", gb / med(lambda: x.half()))
print("bfloat16", gb / med(lambda: x.bfloat16()))
print("int8", gb / med(per_tensor))
print("int8_pc", gb / med(per_channel))
print("version", torch.__version__)
`;
const torch: Record<string, string> = {};
try {
  const out = await new Deno.Command(VENV_PYTHON, {
    args: ["-c", torchScript, input],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  for (const line of new TextDecoder().decode(out.stdout).trim().split("\n")) {
    const [k, v] = line.split(" ");
    torch[k] = v;
  }
} catch (e) {
  console.error(`PyTorch not available (${VENV_PYTHON}): its columns stay empty. ${(e as Error).message}`);
}

interface Row {
  label: string;
  simd: number;
  ts: number;
  base?: number;
  baseName: string;
  same?: boolean;
}
const rows: Row[] = [];

// The ggml kinds write into a buffer the caller keeps, as ggml_quantize_chunk
// does in the harness: the kernel and the reference, no allocation.
const GGML = [
  ["Q8_0", 8, "q8_0", 34, quantizeRowQ8_0],
  ["Q4_0", 2, "q4_0", 18, quantizeRowQ4_0],
  ["Q4_1", 3, "q4_1", 20, quantizeRowQ4_1],
  ["Q5_0", 6, "q5_0", 22, quantizeRowQ5_0],
  ["Q5_1", 7, "q5_1", 24, quantizeRowQ5_1],
] as const;
for (const [name, type, kind, blockBytes, reference] of GGML) {
  const scheme = schemeByName(name);
  const plan = scheme.plan([ROWS, COLS], DEFAULT_SETTINGS);
  const out = new Uint8Array(plan.byteLength);
  const r = ours(() => ggmlSimd(kind, x, out, blockBytes, reference) || reference(x, out));
  let base: number | undefined;
  let same: boolean | undefined;
  if (ggmlExe) {
    const path = `${dir}/${name}.ggml`;
    base = await ggml(type, path);
    const theirs = await Deno.readFile(path);
    const mine = scheme.quantize(plan, x).data;
    same = theirs.length === mine.length && theirs.every((b, i) => b === mine[i]);
  }
  rows.push({ label: name, ...r, base, baseName: "ggml C", same });
}

const settings = (p: Partial<QuantSettings>): QuantSettings => ({ ...DEFAULT_SETTINGS, ...p });
for (
  const [label, p, key] of [
    ["int8 per tensor", {}, "int8"],
    ["int8 per channel", { perChannel: true }, "int8_pc"],
  ] as const
) {
  const scheme = schemeByName("int8");
  const plan = scheme.plan([ROWS, COLS], settings(p));
  rows.push({
    label,
    ...ours(() => scheme.quantize(plan, x)),
    base: torch[key] ? Number(torch[key]) : undefined,
    baseName: "torch",
  });
}
{
  const scheme = schemeByName("NF4");
  const plan = scheme.plan([ROWS, COLS], DEFAULT_SETTINGS);
  rows.push({ label: "NF4", ...ours(() => scheme.quantize(plan, x)), baseName: "(no C reference here)" });
}
const bytes = new Uint8Array(x.buffer);
for (const [label, dtype, key] of [["F32→F16", "F16", "half"], ["F32→BF16", "BF16", "bfloat16"]] as const) {
  rows.push({
    label,
    // castBytes allocates its output, as .half() does.
    ...ours(() => castBytes(bytes, "F32", dtype, x.length)),
    base: torch[key] ? Number(torch[key]) : undefined,
    baseName: "torch",
  });
}

await Deno.remove(dir, { recursive: true });

const f = (v: number | undefined, d = 2) => (v === undefined ? "–" : v.toFixed(d));
const lines = [
  `${MIB} MiB of float32 (${ROWS}×${COLS}), one thread, best of ${RUNS} runs by ${
    CLOCK === "cpu" ? "thread CPU time" : "wall-clock time"
  }, GB/s of input. ` +
  `SIMD kernels ${simdActive() ? "active" : "UNAVAILABLE"}; PyTorch ${
    torch.version ?? "not found"
  } with 1 thread; ` +
  `ggml: ${ggmlExe ? "libggml-base.so (node-llama-cpp)" : "not built"}.`,
  "",
  "| kernel | ours SIMD | ours TS | reference | reference GB/s | SIMD / ref | TS / ref | bytes = ggml |",
  "|---|---:|---:|---|---:|---:|---:|---|",
];
for (const r of rows) {
  lines.push(
    `| ${r.label} | ${f(r.simd)} | ${f(r.ts)} | ${r.baseName} | ${f(r.base)} | ${
      r.base ? f(r.simd / r.base) + "×" : "–"
    } | ${r.base ? f(r.ts / r.base) + "×" : "–"} | ${r.same === undefined ? "–" : r.same ? "yes" : "NO"} |`,
  );
}
console.log(lines.join("\n"));
