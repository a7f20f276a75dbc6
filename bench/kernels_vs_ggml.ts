// One-thread throughput of the CPU kernels on the same 64 MiB of float32,
// beside their references in the same run: ggml's C quantizers
// (ggml_quantize_chunk in node-llama-cpp's libggml-base.so, driven by
// bench/_ggml_reference.c) for the ggml block schemes, PyTorch on one thread
// (torch.set_num_threads(1)) for the casts and int8. Ours twice: the
// WebAssembly SIMD kernels (the default) and the TypeScript references.
//
// The ggml kinds write into a kept buffer, as ggml's harness does; int8,
// NF4 and the casts go through the public API, which allocates its output
// (as torch's .half() does), and the casts also into a kept buffer (as
// convert calls them; against torch's copy_ into a kept tensor). GB/s of
// float32 input. Each measurement repeats a call for at least
// 0.2 s of thread CPU time (--clock wall for wall-clock time); rounds visit
// every contender in turn, so all of them see the same load on a shared
// machine, and the best round counts. Output bytes are checked against ggml's.
//
//   deno run -A bench/kernels_vs_ggml.ts [--mib 64] [--rounds 5] [--clock cpu|wall]

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
  options: { mib: { type: "string" }, rounds: { type: "string" }, clock: { type: "string" } },
});
const MIB = Number(args.mib ?? 64);
const ROUNDS = Number(args.rounds ?? 5);
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

// Seconds a call: repeated for at least 0.2 s, as the scheduler's count moves in ticks of milliseconds.
function measure(fn: () => unknown): number {
  const t0 = now();
  let k = 0;
  do {
    fn();
    k++;
  } while (now() - t0 < 0.2);
  return (now() - t0) / k;
}

/** A line-per-request child: writes a request, reads one line of seconds back. */
class Server {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  constructor(cmd: string, args: string[]) {
    this.#child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "inherit" }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())[
      Symbol.asyncIterator
    ]();
  }
  async line(): Promise<string> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error("child ended early");
    return value;
  }
  async ask(request: string): Promise<number> {
    await this.#writer.write(new TextEncoder().encode(request + "\n"));
    return Number(await this.line());
  }
  async close(): Promise<void> {
    await this.#writer.close();
    await this.#child.status;
  }
}

function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) if (p.trim()) controller.enqueue(p.trim());
    },
  });
}

// ggml's C quantizers.
let ggml: Server | undefined;
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
  if (cc.success) {
    ggmlExe = exe;
    ggml = new Server(exe, ["serve", input]);
  } else console.error(`ggml harness did not build: ${new TextDecoder().decode(cc.stderr).trim()}`);
} catch (e) {
  console.error(`ggml harness did not build: ${(e as Error).message}`);
}

// PyTorch on one thread, the same bytes, one request a line.
const torchScript = `
import sys, time, numpy, torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
torch.set_num_threads(1)
x = torch.from_numpy(numpy.fromfile(sys.argv[1], dtype=numpy.float32)).reshape(${ROWS}, ${COLS})
clock = time.thread_time if sys.argv[2] == "cpu" else time.perf_counter
def per_tensor():
    o = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric); o(x); s, z = o.calculate_qparams()
    torch.quantize_per_tensor(x, float(s), int(z), torch.qint8)
def per_channel():
    o = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    o(x); s, z = o.calculate_qparams()
    torch.quantize_per_channel(x, s.double(), z, 0, torch.qint8)
oh = torch.empty_like(x, dtype=torch.half)
ob = torch.empty_like(x, dtype=torch.bfloat16)
work = {"half": lambda: x.half(), "bfloat16": lambda: x.bfloat16(), "int8": per_tensor, "int8_pc": per_channel,
        "half_kept": lambda: oh.copy_(x), "bfloat16_kept": lambda: ob.copy_(x)}
print(torch.__version__, flush=True)
for line in sys.stdin:
    f = work[line.strip()]
    t0 = clock(); k = 0
    while True:
        f(); k += 1
        if clock() - t0 >= 0.2: break
    print((clock() - t0) / k, flush=True)
`;
let torch: Server | undefined;
let torchVersion = "not found";
try {
  await Deno.stat(VENV_PYTHON);
  torch = new Server(VENV_PYTHON, ["-c", torchScript, input, CLOCK]);
  torchVersion = await torch.line();
} catch {
  console.error(`PyTorch not available (${VENV_PYTHON}): its columns stay empty`);
  torch = undefined;
}

interface Row {
  label: string;
  simd: () => unknown;
  ts: () => unknown;
  reference?: () => Promise<number>;
  referenceName: string;
  best: { simd: number; ts: number; reference: number };
  same?: boolean;
}
const rows: Row[] = [];
const row = (r: Omit<Row, "best">) =>
  rows.push({ ...r, best: { simd: Infinity, ts: Infinity, reference: Infinity } });

const GGML = [
  ["Q8_0", 8, "q8_0", 34, quantizeRowQ8_0],
  ["Q4_0", 2, "q4_0", 18, quantizeRowQ4_0],
  ["Q4_1", 3, "q4_1", 20, quantizeRowQ4_1],
  ["Q5_0", 6, "q5_0", 22, quantizeRowQ5_0],
  ["Q5_1", 7, "q5_1", 24, quantizeRowQ5_1],
] as const;
for (const [name, type, kind, blockBytes, reference] of GGML) {
  const plan = schemeByName(name).plan([ROWS, COLS], DEFAULT_SETTINGS);
  const out = new Uint8Array(plan.byteLength);
  let same: boolean | undefined;
  if (ggmlExe) {
    const path = `${dir}/${name}.ggml`;
    await new Deno.Command(ggmlExe, { args: [String(type), input, path] }).output();
    const theirs = await Deno.readFile(path);
    ggmlSimd(kind, x, out, blockBytes, reference);
    same = theirs.length === out.length && theirs.every((b, i) => b === out[i]);
  }
  row({
    label: name,
    simd: () => ggmlSimd(kind, x, out, blockBytes, reference),
    ts: () => reference(x, out),
    reference: ggml && (() => ggml!.ask(`${type} ${CLOCK}`)),
    referenceName: "ggml C",
    same,
  });
}
const settings = (p: Partial<QuantSettings>): QuantSettings => ({ ...DEFAULT_SETTINGS, ...p });
for (
  const [label, p, key] of [["int8 per tensor", {}, "int8"], [
    "int8 per channel",
    { perChannel: true },
    "int8_pc",
  ]] as const
) {
  const scheme = schemeByName("int8");
  const plan = scheme.plan([ROWS, COLS], settings(p));
  const q = () => scheme.quantize(plan, x);
  row({ label, simd: q, ts: q, reference: torch && (() => torch!.ask(key)), referenceName: "torch" });
}
{
  const scheme = schemeByName("NF4");
  const plan = scheme.plan([ROWS, COLS], DEFAULT_SETTINGS);
  const q = () => scheme.quantize(plan, x);
  row({ label: "NF4", simd: q, ts: q, referenceName: "(no C reference here)" });
}
const bytes = new Uint8Array(x.buffer);
for (const [label, dtype, key] of [["F32→F16", "F16", "half"], ["F32→BF16", "BF16", "bfloat16"]] as const) {
  const reference = torch && (() => torch!.ask(key));
  const alloc = () => castBytes(bytes, "F32", dtype, x.length);
  row({ label, simd: alloc, ts: alloc, reference, referenceName: "torch" });
  const out = new Uint8Array(x.length * 2);
  const kept = () => castBytes(bytes, "F32", dtype, x.length, { out });
  row({
    label: `${label}, kept output`,
    simd: kept,
    ts: kept,
    reference: torch && (() => torch!.ask(`${key}_kept`)),
    referenceName: "torch copy_ into a kept tensor",
  });
}

for (const r of rows) {
  r.simd(); // warm up (compile, first touch)
  setSimdEnabled(false);
  r.ts();
  setSimdEnabled(true);
}
for (let round = 0; round < ROUNDS; round++) {
  for (const r of rows) {
    r.best.simd = Math.min(r.best.simd, measure(r.simd));
    if (r.reference) r.best.reference = Math.min(r.best.reference, await r.reference());
    setSimdEnabled(false);
    r.best.ts = Math.min(r.best.ts, measure(r.ts));
    setSimdEnabled(true);
  }
}
await ggml?.close();
await torch?.close();
await Deno.remove(dir, { recursive: true });

const f = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "–");
const lines = [
  `${MIB} MiB of float32 (${ROWS}×${COLS}), one thread, GB/s of input, best of ${ROUNDS} interleaved rounds by ${
    CLOCK === "cpu" ? "thread CPU time" : "wall-clock time"
  }. SIMD kernels ${simdActive() ? "active" : "UNAVAILABLE"}; PyTorch ${torchVersion} with 1 thread; ggml: ${
    ggmlExe ? "libggml-base.so (node-llama-cpp)" : "not built"
  }.`,
  "",
  "| kernel | ours SIMD | ours TS | reference | reference GB/s | SIMD / ref | TS / ref | bytes = ggml |",
  "|---|---:|---:|---|---:|---:|---:|---|",
];
for (const r of rows) {
  const simd = gb / r.best.simd;
  const ts = gb / r.best.ts;
  const ref = gb / r.best.reference;
  const has = Number.isFinite(r.best.reference);
  lines.push(
    `| ${r.label} | ${f(simd)} | ${f(ts)} | ${r.referenceName} | ${has ? f(ref) : "–"} | ${
      has ? f(simd / ref) + "×" : "–"
    } | ${has ? f(ts / ref) + "×" : "–"} | ${r.same === undefined ? "–" : r.same ? "yes" : "NO"} |`,
  );
}
console.log(lines.join("\n"));
