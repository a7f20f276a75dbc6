import assert from "node:assert/strict";
import { schemeByName } from "../lib/quant/schemes.ts";
import { GpuQuantizer } from "../gpu/gpu_quantizer.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import { ggmlTypeByName } from "../lib/ggml_blocks.ts";
import { errorMetrics } from "../lib/metrics.ts";
import type { QuantScheme } from "../lib/quant/scheme.ts";
import { ggmlQuantize, skipUnlessGgmlOracle } from "./_ggml_oracle.ts";
import { DATA } from "./_helpers.ts";
import { setSimdEnabled, simdActive } from "../lib/simd/kernels.ts";

const K_SCHEMES: QuantScheme[] = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"].map(schemeByName);
const oracleMissing = skipUnlessGgmlOracle();

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** Super-blocks of several distributions, one distribution a super-block, cycling. */
function randomBlocks(blocks: number, seed: number): Float32Array {
  const rnd = lcg(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const kinds: (() => number)[] = [
    gauss,
    () => rnd() * 2 - 1,
    () => gauss() * 0.02, // weight-like
    () => Math.abs(gauss()), // all positive: min 0
    () => -Math.abs(gauss()) - 1, // all negative
    () => gauss() ** 3, // heavy tails
    () => (rnd() < 0.01 ? 50 * gauss() : gauss()), // outliers
    () => rnd() * 1e4 - 2e3,
    () => gauss() * 1e-7,
    () => Math.round(gauss() * 4) / 4, // many exact ties
  ];
  const out = new Float32Array(blocks * 256);
  for (let i = 0; i < out.length; i++) out[i] = kinds[(i >> 8) % kinds.length]();
  return out;
}

/** One super-block per edge case. */
function edgeBlocks(): Float32Array {
  const blocks: number[][] = [];
  const fill = (f: (j: number) => number) => blocks.push(Array.from({ length: 256 }, (_, j) => f(j)));
  fill(() => 0);
  fill((j) => (j % 2 ? -0 : 0));
  fill(() => 1.5); // equal values
  fill(() => -2.25);
  fill((j) => (j < 128 ? 0 : 7)); // half zero
  fill((j) => (j === 100 ? 5 : 0)); // one non-zero value
  fill((j) => (j - 128) * 1e-41); // subnormals
  fill((j) => 1e-45 * (j % 5)); // smallest subnormals
  fill((j) => (j - 128) * 1e-20); // tiny range
  fill((j) => (j % 16 === 3 ? 1e-16 : 0)); // groups just below GROUP_MAX_EPS
  fill((j) => (j % 2 ? 3e38 : -3e38)); // huge range: overflowing scales
  fill((j) => (j === 7 ? 3.4028234663852886e38 : j * 1e30));
  fill((j) => (j === 0 ? 1e4 : (j - 128) * 1e-6)); // one outlier
  fill((j) => (j % 16) - 8); // exact codes
  fill((j) => (j % 32) * 0.5); // ties
  fill((j) => 2 ** ((j % 60) - 30)); // 60 binades: sub-block scales overflow fp16
  fill((j) => (j % 3 === 0 ? 1 : -1));
  fill((j) => 65504 * Math.cos(j)); // fp16's largest finite
  fill((j) => 1e6 * Math.cos(j));
  fill((j) => 1e-5 * Math.cos(j));
  fill((j) => (j === 5 ? NaN : j - 128));
  fill((j) => (j === 9 ? Infinity : j * 0.1));
  fill((j) => (j === 40 ? -Infinity : j * 0.1));
  fill(() => NaN);
  fill((j) => (j === 0 ? NaN : 1));
  fill((j) => (j % 17 === 0 ? Infinity : j % 19 === 0 ? -Infinity : Math.sin(j)));
  return Float32Array.from(blocks.flat());
}

const real = new Float32Array((await Deno.readFile(`${DATA}/quant/real_weights.bin`)).buffer);
const INPUTS: [string, Float32Array][] = [
  ["random distributions", randomBlocks(120, 7)],
  ["edge cases", edgeBlocks()],
  ["real weights", real.slice(0, Math.floor(real.length / 256) * 256)],
];

function firstDifference(a: Uint8Array, b: Uint8Array, blockBytes: number): string {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return `super-block ${Math.floor(i / blockBytes)} byte ${i % blockBytes}: ours ${a[i]}, ggml ${b[i]}`;
    }
  }
  return "";
}

function quantizeCpu(scheme: QuantScheme, values: Float32Array): Uint8Array {
  const plan = scheme.plan([values.length / 256, 256], DEFAULT_SETTINGS);
  return scheme.quantize(plan, values).data;
}

Deno.test({
  name: "K-quant CPU references write the bytes of llama.cpp's ggml_quantize_chunk",
  ignore: oracleMissing,
  async fn(t) {
    const jobs = K_SCHEMES.flatMap((scheme) =>
      INPUTS.map(([, values]) => ({ type: ggmlTypeByName(scheme.name)!.id, nPerRow: 256, values }))
    );
    const expected = await ggmlQuantize(jobs);
    let k = 0;
    for (const scheme of K_SCHEMES) {
      const blockBytes = ggmlTypeByName(scheme.name)!.typeSize;
      for (const [label, values] of INPUTS) {
        const ggml = expected[k++];
        await t.step(`${scheme.name} ${label}`, () => {
          assert.equal(firstDifference(quantizeCpu(scheme, values), ggml, blockBytes), "");
        });
      }
    }
  },
});

// The schemes with a WebAssembly kernel (lib/simd/kernels.wat) beside their TypeScript reference.
const K_WASM = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];

Deno.test("K-quant WebAssembly kernels write the TypeScript references' bytes", async (t) => {
  assert.equal(simdActive(), true);
  const both = (scheme: QuantScheme, values: Float32Array) => {
    setSimdEnabled(true);
    const wasm = quantizeCpu(scheme, values);
    setSimdEnabled(false);
    try {
      return { wasm, reference: quantizeCpu(scheme, values) };
    } finally {
      setSimdEnabled(true);
    }
  };
  const edges = edgeBlocks();
  // More super-blocks than one chunk copied into the module (256), edge blocks among them.
  const mixed = randomBlocks(300, 21);
  for (let b = 0; b * 256 < edges.length; b++) mixed.set(edges.subarray(b * 256, b * 256 + 256), b * 7 * 256);
  const inputs: [string, Float32Array][] = [
    ...INPUTS,
    ["edge cases among random, crossing a chunk", mixed],
    ["more random super-blocks", randomBlocks(700, 33)],
  ];
  for (const name of K_WASM) {
    await t.step(name, () => {
      const scheme = schemeByName(name);
      const blockBytes = ggmlTypeByName(name)!.typeSize;
      for (const [label, values] of inputs) {
        const r = both(scheme, values);
        assert.equal(firstDifference(r.wasm, r.reference, blockBytes), "", label);
      }
      // Each edge super-block alone, so it is the first and the last of a call.
      for (let b = 0; b * 256 < edges.length; b++) {
        const r = both(scheme, edges.subarray(b * 256, b * 256 + 256));
        assert.equal(firstDifference(r.wasm, r.reference, blockBytes), "", `edge super-block ${b}`);
      }
    });
  }
});

Deno.test({
  name: "K-quant rows of several super-blocks quantize like one long row (ggml quantizes rows independently)",
  ignore: oracleMissing,
  async fn() {
    const values = randomBlocks(12, 99);
    const jobs = K_SCHEMES.map((s) => ({ type: ggmlTypeByName(s.name)!.id, nPerRow: 768, values }));
    const expected = await ggmlQuantize(jobs);
    K_SCHEMES.forEach((scheme, i) => {
      const plan = scheme.plan([4, 768], DEFAULT_SETTINGS);
      const ours = scheme.quantize(plan, values).data;
      assert.equal(
        firstDifference(ours, expected[i], ggmlTypeByName(scheme.name)!.typeSize),
        "",
        scheme.name,
      );
    });
  },
});

Deno.test("K-quants dequantize close to their input, more bits closer", () => {
  const gaussian = randomBlocks(40, 11).filter((_, i) => (i >> 8) % 10 === 0);
  let previous = 0;
  for (const scheme of K_SCHEMES) {
    const plan = scheme.plan([gaussian.length], DEFAULT_SETTINGS);
    const restored = scheme.dequantize(plan, scheme.quantize(plan, gaussian));
    const db = errorMetrics(gaussian, restored).sqnrDb;
    assert.ok(db > previous + 3, `${scheme.name}: ${db.toFixed(1)} dB after ${previous.toFixed(1)} dB`);
    previous = db;
  }
  assert.ok(previous > 25, `Q6_K: ${previous} dB`);
});

Deno.test("K-quant plans refuse rows that are not a multiple of 256 and size whole super-blocks", () => {
  const sizes: Record<string, number> = { Q2_K: 84, Q3_K: 110, Q4_K: 144, Q5_K: 176, Q6_K: 210 };
  for (const scheme of K_SCHEMES) {
    assert.match(
      scheme.unsupported([4, 96], DEFAULT_SETTINGS) ?? "",
      /innermost dimension 96 is not a multiple of 256/,
    );
    assert.match(scheme.unsupported([], DEFAULT_SETTINGS) ?? "", /scalar/);
    assert.equal(scheme.unsupported([3, 512], DEFAULT_SETTINGS), undefined);
    assert.equal(scheme.plan([3, 512], DEFAULT_SETTINGS).byteLength, 6 * sizes[scheme.name]);
    assert.equal(scheme.storage, "ggml");
  }
});

const gpu = await GpuQuantizer.create({ maxChunkBytes: 65536 });
if (!gpu) console.warn("skipping K-quant GPU tests: WebGPU has no adapter here");

Deno.test({
  name: "K-quant WGSL kernels write the same bytes as the CPU references",
  ignore: gpu === undefined,
  async fn(t) {
    for (const scheme of K_SCHEMES) {
      await t.step(scheme.name, async () => {
        const blockBytes = ggmlTypeByName(scheme.name)!.typeSize;
        // Several tensors in one call, one larger than a chunk and of an odd super-block count.
        const jobs = [...INPUTS.map(([, values]) => values), randomBlocks(81, 5)].map((values) => ({
          scheme,
          plan: scheme.plan([values.length / 256, 256], DEFAULT_SETTINGS),
          values,
        }));
        const results = await gpu!.quantize(jobs);
        jobs.forEach((job, i) => {
          const cpu = scheme.quantize(job.plan, job.values).data;
          assert.equal(firstDifference(results[i].data, cpu, blockBytes), "", INPUTS[i]?.[0] ?? "large");
        });
        assert.equal(gpu!.liveBuffers, 0);
      });
    }
  },
});
