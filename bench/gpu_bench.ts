// GPU throughput of every scheme's WGSL kernel, in GB/s of float32 input:
// kernel only (timestamp queries when the adapter has them, else submit →
// onSubmittedWorkDone around dispatches on resident buffers) and end to end
// through GpuQuantizer (upload, kernel, read-back), next to the adapter's
// name and, where known, its memory bandwidth. Every scheme's GPU bytes are
// checked against its CPU reference. On a software adapter (llvmpipe) the
// run is for correctness only, and says so. Prints a Markdown table.
//
//   deno run --allow-all bench/gpu_bench.ts [--quick]
//
// Schemes: the casts, int8, Q8_0, Q4_0, NF4 and any K-quant scheme
// registered in lib/quant/schemes.ts when it runs.

// Probing WebGPU on a headless machine makes the display libraries log
// "XDG_RUNTIME_DIR is invalid" unless it is set to an absolute path (as the CLI does).
if (!Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) Deno.env.set("XDG_RUNTIME_DIR", "/nonexistent");

import { SCHEMES } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import type { QuantPlan, QuantScheme, UnitKernel } from "../lib/quant/scheme.ts";
import { initialMinMaxKeys, MIN_MAX_KERNEL } from "../lib/quant/_stats.ts";
import { classifyAdapter } from "../gpu/adapter_kind.ts";
import { GpuQuantizer } from "../gpu/gpu_quantizer.ts";
import { median } from "./_measure.ts";
import { byteLengthOf } from "../lib/dtype.ts";

const QUICK = Deno.args.includes("--quick");
const WANTED = /^(F16|BF16|F8_E4M3|F8_E5M2|int8|Q8_0|Q4_0|NF4|Q\d_K(_\w+)?)$/;
const WORKGROUP = 64;
const MAX_GROUPS = 65535;

// Peak memory bandwidth (GB/s) of data-centre and common GPUs, from their makers' data sheets.
const BANDWIDTH: [RegExp, number, string][] = [
  [/H200/i, 4800, "H200 HBM3e"],
  [/H100.*PCIe/i, 2000, "H100 PCIe HBM2e"],
  [/H100|H800/i, 3350, "H100 SXM HBM3"],
  [/GH200/i, 4000, "GH200 HBM3"],
  [/A100.*80/i, 2039, "A100 80GB HBM2e"],
  [/A100/i, 1555, "A100 40GB HBM2"],
  [/L40S?\b/i, 864, "L40/L40S GDDR6"],
  [/\bL4\b/i, 300, "L4 GDDR6"],
  [/\bA10G?\b/i, 600, "A10 GDDR6"],
  [/V100/i, 900, "V100 HBM2"],
  [/MI300X/i, 5300, "MI300X HBM3"],
  [/MI250/i, 3277, "MI250 HBM2e"],
  [/RTX 4090/i, 1008, "RTX 4090 GDDR6X"],
  [/RTX 3090/i, 936, "RTX 3090 GDDR6X"],
];

const navGpu = (globalThis.navigator as { gpu?: GPU }).gpu;
const adapter = await navGpu?.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) {
  console.log("# GPU bench\n\nNo WebGPU adapter here: nothing to measure.");
  Deno.exit(0);
}
const adapterClass = classifyAdapter(adapter.info);
const software = adapterClass.kind === "software";
const timestamps = adapter.features.has("timestamp-query");
const device = await adapter.requestDevice({
  requiredFeatures: timestamps ? ["timestamp-query"] : [],
  requiredLimits: {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  },
});
const bandwidth = BANDWIDTH.find(([re]) => re.test(adapterClass.name));

// Input size: what fits one binding, 256 MiB on hardware (64 MiB with --quick), 4 MiB on a software adapter.
const binding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
const wantBytes = software ? 4 * 2 ** 20 : (QUICK ? 64 : 256) * 2 ** 20;
const COLS = 4096;
const ROWS = Math.max(1, Math.floor(Math.min(wantBytes, binding / 2) / 4 / COLS));
const N = ROWS * COLS;
const REPS = software ? 3 : QUICK ? 10 : 20;
const CHECK_ROWS = Math.min(ROWS, 256); // 4 MiB checked against the CPU

const values = new Float32Array(N);
{
  let s = 1;
  for (let i = 0; i < N; i++) {
    let t = 0;
    for (let k = 0; k < 4; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      t += s / 2 ** 32;
    }
    values[i] = (t - 2) * 0.02 * (1 + ((i / COLS) % 5));
  }
}

const layout = device.createBindGroupLayout({
  entries: (["read-only-storage", "storage", "uniform", "storage"] as GPUBufferBindingType[]).map((
    type,
    binding,
  ) => ({
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type },
  })),
});
const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
const pipelines = new Map<string, GPUComputePipeline>();
async function pipeline(kernel: UnitKernel): Promise<GPUComputePipeline> {
  let p = pipelines.get(kernel.wgsl);
  if (!p) {
    const module = device.createShaderModule({ code: kernel.wgsl });
    p = await device.createComputePipelineAsync({
      layout: pipelineLayout,
      compute: { module, entryPoint: "main" },
    });
    pipelines.set(kernel.wgsl, p);
  }
  return p;
}

function buffer(bytes: number, usage: number): GPUBuffer {
  return device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
}

// One dispatch of a kernel over the resident input, as GpuQuantizer lays out its bindings and uniforms.
interface Pass {
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  groups: [number, number];
}
async function pass(
  kernel: UnitKernel,
  plan: QuantPlan,
  input: GPUBuffer,
  side: GPUBuffer,
  ab: [number, number],
) {
  const units = Math.ceil(N / kernel.unitElems);
  const groups = Math.ceil(units / WORKGROUP);
  const x = Math.min(groups, MAX_GROUPS);
  const params = new Uint32Array(12);
  params.set([units, x * WORKGROUP, 0, N, plan.channels, plan.inner, 0, ab[0] >>> 0, ab[1] >>> 0]);
  const uniform = buffer(48, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  device.queue.writeBuffer(uniform, 0, params as Uint32Array<ArrayBuffer>);
  const out = buffer(units * kernel.unitWords * 4, GPUBufferUsage.STORAGE);
  const group = device.createBindGroup({
    layout,
    entries: [input, out, uniform, side].map((b, binding) => ({ binding, resource: { buffer: b } })),
  });
  return {
    pass: { pipeline: await pipeline(kernel), group, groups: [x, Math.ceil(groups / x)] } as Pass,
    out,
  };
}

// Seconds of GPU time for the passes, once, by timestamp queries or around the submission.
async function time(passes: Pass[]): Promise<number> {
  const encoder = device.createCommandEncoder();
  let query: GPUQuerySet | undefined;
  let resolve: GPUBuffer | undefined;
  let read: GPUBuffer | undefined;
  if (timestamps) {
    query = device.createQuerySet({ type: "timestamp", count: 2 * passes.length });
    resolve = buffer(16 * passes.length, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    read = buffer(16 * passes.length, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  }
  passes.forEach((p, i) => {
    const c = encoder.beginComputePass(
      query
        ? {
          timestampWrites: {
            querySet: query,
            beginningOfPassWriteIndex: 2 * i,
            endOfPassWriteIndex: 2 * i + 1,
          },
        }
        : {},
    );
    c.setPipeline(p.pipeline);
    c.setBindGroup(0, p.group);
    c.dispatchWorkgroups(p.groups[0], p.groups[1]);
    c.end();
  });
  if (query) {
    encoder.resolveQuerySet(query, 0, 2 * passes.length, resolve!, 0);
    encoder.copyBufferToBuffer(resolve!, 0, read!, 0, 16 * passes.length);
  }
  const t0 = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  const wall = (performance.now() - t0) / 1000;
  if (!query) return wall;
  await read!.mapAsync(GPUMapMode.READ);
  const ts = new BigUint64Array(read!.getMappedRange().slice(0));
  read!.unmap();
  query.destroy();
  resolve!.destroy();
  read!.destroy();
  let ns = 0n;
  for (let i = 0; i < passes.length; i++) ns += ts[2 * i + 1] - ts[2 * i];
  // Some adapters report zeros; fall back to the submission's time.
  return ns > 0n ? Number(ns) / 1e9 : wall;
}

async function kernelSeconds(
  scheme: QuantScheme,
  plan: QuantPlan,
  input: GPUBuffer,
): Promise<number | undefined> {
  const program = scheme.gpu as {
    kind: string;
    kernel?: UnitKernel;
    uniforms?: (p: QuantPlan) => [number, number];
  };
  if (!program?.kernel || (program.kind !== "units" && program.kind !== "stats")) return undefined;
  const kernel = program.kernel;
  const units = Math.ceil(N / kernel.unitElems);
  const passes: Pass[] = [];
  const temps: GPUBuffer[] = [];
  if (program.kind === "stats") {
    // Both passes: the per-channel min/max reduction, then the quantizing kernel.
    const keys = buffer(8 * plan.channels, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(keys, 0, initialMinMaxKeys(plan.channels) as Uint32Array<ArrayBuffer>);
    const r = await pass(MIN_MAX_KERNEL, plan, input, keys, [0, 0]);
    const side = buffer(8 * plan.channels, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    const words = new Uint32Array(2 * plan.channels);
    new Float32Array(words.buffer, 0, plan.channels).fill(50); // 1/scale; zero points 0
    device.queue.writeBuffer(side, 0, words);
    const q = await pass(kernel, plan, input, side, program.uniforms!(plan));
    passes.push(r.pass, q.pass);
    temps.push(keys, side, r.out, q.out);
  } else {
    const side = buffer(units * kernel.auxPerUnit * 4, GPUBufferUsage.STORAGE);
    const q = await pass(kernel, plan, input, side, program.uniforms?.(plan) ?? [0, 0]);
    passes.push(q.pass);
    temps.push(side, q.out);
  }
  await time(passes); // warm-up
  const ts: number[] = [];
  for (let r = 0; r < REPS; r++) ts.push(await time(passes));
  for (const b of temps) b.destroy();
  return median(ts);
}

const input = buffer(N * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
device.queue.writeBuffer(input, 0, values);
const quantizer = await GpuQuantizer.create();
const schemes = SCHEMES.filter((s) => WANTED.test(s.name));
const rows: string[] = [];
const started = performance.now();
for (const scheme of schemes) {
  const settings = { ...DEFAULT_SETTINGS, perChannel: scheme.name === "int8" };
  const plan = scheme.plan([ROWS, COLS], settings);
  const gb = (N * 4) / 1e9;
  let kernel: number | undefined;
  let e2e: number | undefined;
  let same = "–";
  let note = "";
  try {
    kernel = await kernelSeconds(scheme, plan, input);
    if (quantizer) {
      const job = [{ scheme, plan, values }];
      await quantizer.quantize(job);
      const ts: number[] = [];
      for (let r = 0; r < (software ? 1 : 3); r++) {
        const t0 = performance.now();
        await quantizer.quantize(job);
        ts.push((performance.now() - t0) / 1000);
      }
      e2e = median(ts);
      // The first CHECK_ROWS rows against the CPU reference.
      const cplan = scheme.plan([CHECK_ROWS, COLS], settings);
      const x = values.subarray(0, CHECK_ROWS * COLS);
      const [g] = await quantizer.quantize([{ scheme, plan: cplan, values: x }]);
      const c = scheme.quantize(cplan, x);
      const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
      same = eq(g.data, c.data) && g.companions.length === c.companions.length &&
          g.companions.every((v, i) => eq(v, c.companions[i]))
        ? "yes"
        : "NO";
    }
  } catch (e) {
    note = ` (${(e as Error).message.split("\n")[0]})`;
  }
  const outBytes = plan.byteLength +
    plan.companions.reduce((sum, c) => sum + byteLengthOf(c.dtype, c.shape), 0);
  const moved = kernel ? (N * 4 + outBytes) / kernel / 1e9 : undefined;
  const f = (v: number | undefined, d = 1) => (v === undefined ? "–" : v.toFixed(d));
  rows.push(
    `| ${scheme.name}${note} | ${f(kernel && gb / kernel)} | ${
      bandwidth && moved ? `${((moved / bandwidth[1]) * 100).toFixed(0)}%` : "–"
    } | ${f(e2e && gb / e2e, 2)} | ${same} |`,
  );
}
quantizer?.destroy();
input.destroy();

const lines = [
  `# GPU bench, ${new Date().toISOString().slice(0, 10)}`,
  "",
  `Adapter: **${adapterClass.name}** (${adapterClass.kind}: ${adapterClass.reason}); memory bandwidth: ${
    bandwidth ? `${bandwidth[1]} GB/s (${bandwidth[2]}, data sheet)` : "not known"
  }.`,
  `Input ${(N * 4 / 2 ** 20).toFixed(0)} MiB of float32 (${ROWS}×${COLS}); kernel time by ${
    timestamps ? "timestamp queries" : "submit → onSubmittedWorkDone"
  }, median of ${REPS}; end to end through GpuQuantizer (upload, kernels, read-back); GB/s of float32 input.`,
  software
    ? "**Software adapter: these figures measure a CPU emulating a GPU; the run checks correctness only.**"
    : "",
  "",
  "| scheme | kernel GB/s | kernel bytes moved ÷ bandwidth | end to end GB/s | bytes = CPU reference |",
  "|---|---:|---:|---:|---|",
  ...rows,
  "",
  `${schemes.length} schemes in ${((performance.now() - started) / 1000).toFixed(1)} s.`,
];
console.log(lines.filter((l, i) => l !== "" || lines[i - 1] !== "").join("\n"));
