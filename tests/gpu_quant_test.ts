import assert from "node:assert/strict";
import { GpuQuantizer } from "../gpu/gpu_quantizer.ts";
import { SCHEMES } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import type { QuantResult, QuantScheme, QuantSettings } from "../lib/quant/scheme.ts";
import { DATA } from "./_helpers.ts";

const gpu = await GpuQuantizer.create({ maxChunkBytes: 16384, maxInFlightBytes: 65536 });
if (!gpu) console.warn("skipping GPU tests: WebGPU has no adapter here");
const ignore = gpu === undefined;

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next() + 1e-12));
    const a = 2 * Math.PI * next();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** Blocks of 64 values, each block one kind of edge case. */
function edgeCases(): Float32Array {
  const blocks: number[][] = [];
  const fill = (f: (j: number) => number) => blocks.push(Array.from({ length: 64 }, (_, j) => f(j)));
  fill((j) => (j % 2 ? -0 : 0));
  fill((j) => (j - 32) * 1e-41);
  fill((j) => (j % 3 === 0 ? 1e-39 : (j - 30) * 0.01));
  fill((j) => (j === 5 ? NaN : j - 32));
  fill((j) => (j === 9 ? Infinity : j === 40 ? -Infinity : j * 0.1));
  fill(() => NaN);
  fill(() => 0.75);
  fill(() => -3);
  fill((j) => (j % 2 ? 3e38 : -3e38));
  fill((j) => (j === 0 ? 3.4028234663852886e38 : j === 1 ? -3.4028234663852886e38 : j));
  fill((j) => (j === 0 ? 127 : (j % 32) - 15.5)); // Q8_0 ties: d = 1
  fill((j) => (j === 0 ? -8 : (j % 16) * 0.5 - 4)); // Q4_0 truncation boundaries
  fill((j) => (j === 0 ? 0 : j === 1 ? 15 : (j % 30) * 0.5)); // Q4_1 ties
  fill((j) => (j % 4) + 0.5); // int8/minmax ties
  fill((j) => 2 ** (j - 40));
  fill((j) => (j % 2 ? 65520 : 65519)); // F16 overflow boundary
  fill((j) => (j % 2 ? 464 : 480)); // F8 E4M3 overflow boundary
  fill((j) => 5.960464477539063e-8 * (j - 32) / 2); // F16 subnormal ties
  return Float32Array.from(blocks.flat());
}

const realBytes = await Deno.readFile(`${DATA}/quant/real_weights.bin`);
const real = new Float32Array(realBytes.buffer);
const conv1 = real.subarray(0, 64 * 3 * 7 * 7);
const linear = real.subarray(64 * 3 * 7 * 7);

const VARIANTS: [string, Partial<QuantSettings>][] = [
  ["default", {}],
  ["per-channel", { perChannel: true }],
  ["per-channel axis 1 affine reduce-range", { perChannel: true, axis: 1, affine: true, reduceRange: true }],
  ["affine", { affine: true }],
  ["saturate", { saturate: true }],
  ["double quant", { doubleQuant: true }],
];

function relevant(scheme: QuantScheme, settings: Partial<QuantSettings>): boolean {
  if (settings.perChannel || settings.affine) return scheme.name === "int8";
  if (settings.saturate) return scheme.name.startsWith("F8");
  if (settings.doubleQuant) return scheme.name === "NF4" || scheme.name === "FP4";
  return true;
}

function assertSame(cpu: QuantResult, device: QuantResult, label: string): void {
  const diff = (a: Uint8Array, b: Uint8Array) => {
    if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `byte ${i}: cpu ${a[i]} gpu ${b[i]}`;
    return "";
  };
  assert.equal(diff(cpu.data, device.data), "", `${label}: data`);
  assert.equal(cpu.companions.length, device.companions.length);
  cpu.companions.forEach((c, i) =>
    assert.equal(diff(c, device.companions[i]), "", `${label}: companion ${i}`)
  );
}

const INPUTS: [string, Float32Array, number[]][] = [
  ["random", random(64 * 70, 3), [70, 64]],
  ["edge cases", edgeCases(), [18, 64]],
  ["real conv1 weights", conv1, [64, 147]],
  ["real linear weights", linear, [64, 128]],
  ["odd length", random(999, 9).map((v, i) => (i % 50 === 0 ? v * 1e4 : v)), [999]],
];

Deno.test({
  name: "every WGSL kernel writes the same bytes as its CPU reference",
  ignore,
  async fn(t) {
    for (const scheme of SCHEMES) {
      for (const [variant, partial] of VARIANTS) {
        if (!relevant(scheme, partial)) continue;
        await t.step(`${scheme.name} ${variant}`, async () => {
          const settings = { ...DEFAULT_SETTINGS, ...partial };
          const jobs = INPUTS.map(([, values, shape]) => {
            const s = scheme.storage === "ggml" ? [values.length / 32, 32] : shape;
            const axisMissing = settings.perChannel && settings.axis >= s.length;
            if (
              axisMissing || scheme.unsupported(s, settings) ||
              values.length % (scheme.storage === "ggml" ? 32 : 1)
            ) {
              return undefined;
            }
            return { scheme, plan: scheme.plan(s, settings), values };
          });
          const present = jobs.filter((j) => j !== undefined);
          const results = await gpu!.quantize(present);
          present.forEach((job, i) => {
            const label = INPUTS[jobs.indexOf(job)][0];
            assertSame(scheme.quantize(job.plan, job.values), results[i], label);
          });
          assert.equal(gpu!.liveBuffers, 0);
        });
      }
    }
  },
});

Deno.test({
  name: "GpuQuantizer releases every buffer over 2000 small tensors",
  ignore,
  async fn() {
    const schemes = SCHEMES.filter((s) => ["Q8_0", "int8", "F16", "NF4", "minmax3"].includes(s.name));
    for (let round = 0; round < 20; round++) {
      const jobs = Array.from({ length: 100 }, (_, i) => {
        const scheme = schemes[(round + i) % schemes.length];
        const values = random(64, round * 100 + i);
        return { scheme, plan: scheme.plan([2, 32], DEFAULT_SETTINGS), values };
      });
      const results = await gpu!.quantize(jobs);
      assert.equal(gpu!.liveBuffers, 0);
      const k = round % jobs.length;
      assertSame(jobs[k].scheme.quantize(jobs[k].plan, jobs[k].values), results[k], `round ${round}`);
    }
  },
});

Deno.test({
  name: "GpuQuantizer splits a tensor larger than its chunk into aligned chunks",
  ignore,
  async fn() {
    const values = random(64 * 1000 + 7, 77);
    for (const name of ["F8_E4M3", "NF4", "int8", "minmax5"]) {
      const scheme = SCHEMES.find((s) => s.name === name)!;
      const plan = scheme.plan([values.length], { ...DEFAULT_SETTINGS });
      const [result] = await gpu!.quantize([{ scheme, plan, values }]);
      assertSame(scheme.quantize(plan, values), result, name);
    }
  },
});

Deno.test({
  name: "WGSL div_rn and f16_bits round exactly like float32 division and Float16Array",
  ignore,
  async fn() {
    const { WGSL_ENTRY, WGSL_PRELUDE } = await import("../lib/quant/_wgsl.ts");
    const { f16Bits } = await import("../lib/quant/_math.ts");
    const kernel = {
      wgsl: `${WGSL_PRELUDE}
fn quantize_unit(unit: u32) {
  let a = ldf(2u * unit);
  let b = ldf(2u * unit + 1u);
  dst[2u * unit] = bitcast<u32>(div_rn(a, b));
  dst[2u * unit + 1u] = f16_bits(a);
}
${WGSL_ENTRY}`,
      unitElems: 2,
      unitWords: 2,
      auxPerUnit: 0,
    };
    const pairs = random(40000, 5);
    const bits = new Uint32Array(pairs.buffer);
    let s = 99;
    for (let i = 0; i < pairs.length; i++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      // Any bit pattern: subnormals, huge values, NaN and Inf included.
      if (i % 3 === 0) bits[i] = s;
      else pairs[i] *= 2 ** ((s % 300) - 150);
    }
    pairs.set([1, 3, 1, 0, 0, 0, Infinity, Infinity, 1e-45, 2, 3e38, 1e-38, 65520, 1, 6.1e-5, 1]);
    const fake = {
      name: "probe",
      gpu: { kind: "units", kernel, finish: (_p: unknown, data: Uint8Array) => ({ data, companions: [] }) },
    } as unknown as QuantScheme;
    const plan = { count: pairs.length, byteLength: pairs.length * 4 } as never;
    const [result] = await gpu!.quantize([{ scheme: fake, plan, values: pairs }]);
    const out = new Uint32Array(result.data.slice().buffer);
    const expect = new Float32Array(1);
    const expectBits = new Uint32Array(expect.buffer);
    let bad = 0;
    for (let i = 0; i < pairs.length; i += 2) {
      expect[0] = Math.fround(pairs[i] / pairs[i + 1]);
      const q = out[i];
      const nan = Number.isNaN(expect[0]);
      if (nan ? (q & 0x7fffffff) <= 0x7f800000 : q !== expectBits[0]) bad++;
      const h = f16Bits(pairs[i]);
      const hNan = Number.isNaN(pairs[i]);
      if (hNan ? (out[i + 1] & 0x7fff) <= 0x7c00 : out[i + 1] !== h) bad++;
    }
    assert.equal(bad, 0);
  },
});
