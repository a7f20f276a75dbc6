// K-quant CPU throughput, one thread, against ggml's C reference
// (ggml_quantize_chunk in node-llama-cpp's libggml-base, through
// tests/oracles/ggml_quantize.c) on the same float32 values, in one run.
// Best of --repeat runs each, in CPU time on both sides (so other load on a
// shared machine does not skew the ratio); the outputs are checked byte for byte.
//
//   deno run -A bench/kquant_bench.ts [--mib 64] [--repeat 3] [--schemes Q4_K,Q6_K]

import { parseArgs } from "node:util";
import process from "node:process";
import { schemeByName } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import { ggmlTypeByName } from "../lib/ggml_blocks.ts";
import { ggmlOracleMissing, ggmlQuantizeTimed } from "../tests/_ggml_oracle.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    mib: { type: "string", default: "64" },
    repeat: { type: "string", default: "3" },
    schemes: { type: "string", default: "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0,Q4_0" },
  },
});
const missing = ggmlOracleMissing();
if (missing) {
  console.error(`kquant_bench needs the ggml oracle: ${missing}`);
  Deno.exit(1);
}
const mib = Number(args.mib);
const repeat = Math.max(1, Number(args.repeat));
const names = args.schemes!.split(",");
const ROW = 4096;
const count = Math.floor((mib * 2 ** 20) / 4 / ROW) * ROW;

// Weight-like values: gaussian with a few outliers, deterministic.
const values = new Float32Array(count);
let s = 12345;
const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
for (let i = 0; i < count; i += 2) {
  const r = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * 0.02;
  const a = 2 * Math.PI * rnd();
  values[i] = r * Math.cos(a) * (rnd() < 0.001 ? 10 : 1);
  values[i + 1] = r * Math.sin(a);
}

const jobs = names.map((name) => ({ type: ggmlTypeByName(name)!.id, nPerRow: ROW, values }));
const { outputs, ns } = await ggmlQuantizeTimed(jobs, repeat);

const rows: string[][] = [];
for (const [i, name] of names.entries()) {
  const scheme = schemeByName(name);
  const plan = scheme.plan([count / ROW, ROW], DEFAULT_SETTINGS);
  let best = Infinity;
  let data: Uint8Array = new Uint8Array();
  for (let r = 0; r < repeat; r++) {
    const t0 = process.cpuUsage();
    data = scheme.quantize(plan, values).data;
    const t = process.cpuUsage(t0);
    best = Math.min(best, (t.user + t.system) / 1000);
  }
  const same = data.length === outputs[i].length && data.every((b, k) => b === outputs[i][k]);
  const mbps = (ms: number) => (count * 4) / 2 ** 20 / (ms / 1000);
  const ggmlMs = ns[i] / 1e6;
  rows.push([
    name,
    mbps(best).toFixed(1),
    mbps(ggmlMs).toFixed(1),
    (ggmlMs / best).toFixed(2),
    same ? "identical" : "DIFFERENT",
  ]);
}
const header = ["scheme", "ckpt MiB/s", "ggml MiB/s", "ckpt/ggml", "bytes"];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
const line = (r: string[]) =>
  r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  ");
console.log(
  `${
    (count * 4 / 2 ** 20).toFixed(0)
  } MiB of float32, rows of ${ROW}, one thread, best of ${repeat} (CPU time)`,
);
console.log(line(header));
for (const r of rows) console.log(line(r));
