// The WebAssembly SIMD kernels (lib/simd/) against the TypeScript references
// they replace (the same functions with SIMD turned off), against ggml's own
// quantizers (libggml-base.so) and PyTorch's casts, and the committed .wasm
// against a rebuild of its source.

import assert from "node:assert/strict";
import { setSimdEnabled, simdActive } from "../lib/simd/kernels.ts";
import { schemeByName } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import type { QuantResult, QuantSettings } from "../lib/quant/scheme.ts";
import { f32ToBf16, f32ToF16 } from "../lib/cast.ts";
import { minMax, quantizeInto, scaleZeroPoint } from "../formats/onnx/_quant_math.ts";
import { REPO, tempDir } from "./_helpers.ts";
import { NODE_ORACLES, runVenv, skipUnlessNodeOracle, skipUnlessVenv } from "./_oracles.ts";

function both<T>(fn: () => T): { simd: T; reference: T } {
  setSimdEnabled(true);
  const simd = fn();
  setSimdEnabled(false);
  try {
    return { simd, reference: fn() };
  } finally {
    setSimdEnabled(true);
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} != ${b[i]}`;
  return "";
}

function bytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// Deterministic normal-ish values (sum of uniforms) so a failure reproduces.
function gaussian(n: number, scale: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    let t = 0;
    for (let k = 0; k < 4; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      t += s / 2 ** 32;
    }
    x[i] = (t - 2) * scale;
  }
  return x;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
function fromBits(u: number): number {
  U32[0] = u;
  return F32[0];
}

// Blocks of 32 built to hit every special case of the block quantizers.
function edgeBlocks(): Float32Array[] {
  const blocks: Float32Array[] = [];
  const block = (f: (j: number) => number) => blocks.push(Float32Array.from({ length: 32 }, (_, j) => f(j)));
  block(() => 0);
  block(() => -0);
  block((j) => (j % 2 ? -0 : 0));
  block((j) => (j % 3 === 0 ? -0 : j * 0.25)); // min is a zero, first one −0
  block((j) => (j === 5 ? 0 : -1 - j)); // max is the only zero
  block((j) => (j === 7 ? 3 : j === 20 ? -3 : 0.5)); // equal magnitudes: first (+) wins
  block((j) => (j === 7 ? -3 : j === 20 ? 3 : 0.5)); // first (−) wins
  block((j) => (j - 16) / 2); // codes land on .5 ties
  block((j) => ((j % 17) - 8) * 0.125); // Q4_0 ties: x·id + 8.5 exact
  block((j) => (j === 3 ? NaN : j));
  block((j) => (j === 31 ? Infinity : j));
  block((j) => (j === 0 ? -Infinity : j));
  block((j) => (j === 9 ? -Infinity : j === 10 ? Infinity : 1));
  block(() => NaN);
  block((j) => (j === 3 ? NaN : j + 1)); // NaN with nonzero extremes: the min schemes keep it unflagged
  block((j) => (j % 4 === 0 ? NaN : -1 - j));
  block((j) => (j === 31 ? NaN : Math.sin(j)));
  block((j) => fromBits(j + 1)); // subnormals: the reciprocal overflows
  block((j) => fromBits(0x00800000 + j * 1000) * (j % 2 ? -1 : 1)); // tiny normals
  block((j) => (j % 2 ? 3.4028234663852886e38 : -3.4028234663852886e38)); // max − min overflows
  block((j) => 65504 * (j % 5 - 2)); // fp16 range edge for d
  block((j) => 1e-5 * (j + 1)); // d below fp16's normal range
  block((j) => (j === 0 ? 1 : 0)); // a single nonzero
  block(() => 7); // constant: d = 0 for the min schemes
  block((j) => -1 - (j & 1)); // all negative
  return blocks;
}

// Random blocks with the edge blocks spread among them, long enough to
// cross the kernels' 65536-element chunks, in a row of n values.
function edgeMix(n: number, seed: number): Float32Array {
  const x = gaussian(n, 0.05, seed);
  const edges = edgeBlocks();
  for (let b = 0, k = 0; (b + 1) * 32 <= n; b += 7, k++) x.set(edges[k % edges.length], b * 32);
  return x;
}

Deno.test("WebAssembly SIMD kernels are active in Deno", () => {
  assert.equal(simdActive(), true);
  setSimdEnabled(false);
  assert.equal(simdActive(), false);
  setSimdEnabled(true);
});

Deno.test("ggml block schemes write the reference's bytes with SIMD on random data and edge blocks", async (t) => {
  const inputs: [string, Float32Array][] = [
    ["edge mix crossing chunks", edgeMix(65536 * 2 + 32 * 37, 1)],
    ["tiny scale", gaussian(32 * 300, 1e-38, 2)],
    ["large scale", gaussian(32 * 300, 1e30, 3)],
    ["one block", edgeBlocks()[7]],
  ];
  for (const name of ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]) {
    await t.step(name, () => {
      const scheme = schemeByName(name);
      for (const [label, x] of inputs) {
        const plan = scheme.plan([x.length / 32, 32], DEFAULT_SETTINGS);
        const r = both(() => scheme.quantize(plan, x).data);
        assert.equal(firstDifference(r.simd, r.reference), "", `${name}, ${label}`);
      }
      // Every edge block alone, so each one is also the first and last of a call.
      for (const [i, block] of edgeBlocks().entries()) {
        const plan = scheme.plan([32], DEFAULT_SETTINGS);
        const r = both(() => scheme.quantize(plan, block).data);
        assert.equal(firstDifference(r.simd, r.reference), "", `${name}, edge block ${i}`);
      }
    });
  }
});

// Blocks of 64 whose absmax is 1, so x·(1/absmax) is x: every NF4 threshold
// itself and the floats just beside it, to hold the comparisons' ties.
function nf4ThresholdBlocks(): Float32Array {
  const t = [
    0.03979014977812767,
    0.3893125355243683,
    0.6427869200706482,
    0.8614784181118011,
    0.5016634166240692,
    0.2035212516784668,
    0.2920137718319893,
    0.1202552504837513,
    -0.33967943489551544,
    -0.13791173323988914,
    -0.045525018125772476,
    -0.23460740596055984,
    -0.6106329262256622,
    -0.4599952697753906,
    -0.8480964004993439,
  ].map(Math.fround);
  const values: number[] = [];
  for (const v of t) {
    U32[0] = 0;
    F32[0] = v;
    const bits = U32[0];
    for (const d of [-1, 0, 1]) values.push(fromBits(bits + d));
  }
  const x = new Float32Array(64 * Math.ceil(values.length / 63));
  for (let i = 0, b = 0; i < values.length; i += 63, b++) {
    x[b * 64] = 1;
    x.set(values.slice(i, i + 63), b * 64 + 1);
  }
  return x;
}

Deno.test("NF4 writes the reference's codes and absmax with SIMD, partial last block included", () => {
  const scheme = schemeByName("NF4");
  {
    const x = nf4ThresholdBlocks();
    const plan = scheme.plan([x.length], DEFAULT_SETTINGS);
    const r = both(() => scheme.quantize(plan, x));
    assert.equal(firstDifference(r.simd.data, r.reference.data), "", "threshold ties");
  }
  const edges = edgeBlocks();
  for (const n of [64, 65536 + 64 * 5 + 17, 64 * 40 + 1, 63]) {
    const x = edgeMix(n, n);
    for (let i = 0; i + 32 <= Math.min(n, 64 * 30); i += 32) x.set(edges[(i / 32) % edges.length], i);
    for (const doubleQuant of [false, true]) {
      const plan = scheme.plan([n], { ...DEFAULT_SETTINGS, doubleQuant });
      const r = both(() => scheme.quantize(plan, x));
      assert.equal(firstDifference(r.simd.data, r.reference.data), "", `n ${n}`);
      assert.equal(r.simd.companions.length, r.reference.companions.length);
      r.simd.companions.forEach((c, i) => assert.equal(firstDifference(c, r.reference.companions[i]), ""));
    }
  }
});

Deno.test("int8 writes the reference's codes and parameters with SIMD", async (t) => {
  const scheme = schemeByName("int8");
  const x = edgeMix(70000 + 7, 5);
  x[100] = NaN;
  x[200] = Infinity;
  x[300] = -Infinity;
  const cases: [string, number[], Partial<QuantSettings>][] = [
    ["per tensor", [x.length], {}],
    ["per tensor affine", [x.length], { affine: true }],
    ["per channel, runs of 70007", [1, x.length], { perChannel: true }],
    ["per channel rows of 1000 (not a multiple of 16)", [70, 1000], { perChannel: true }],
    ["per channel affine reduce_range", [70, 1000], { perChannel: true, affine: true, reduceRange: true }],
    ["per channel axis 1 (short runs)", [70, 1000], { perChannel: true, axis: 1 }],
  ];
  for (const [label, shape, partial] of cases) {
    await t.step(label, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const plan = scheme.plan(shape, { ...DEFAULT_SETTINGS, ...partial });
      // A finite, NaN-free copy too: the scale then comes from real values.
      for (const values of [x.subarray(0, n), x.subarray(0, n).map((v) => (Number.isFinite(v) ? v : 0.5))]) {
        const r = both(() => scheme.quantize(plan, values));
        assert.equal(firstDifference(r.simd.data, r.reference.data), "", label);
        r.simd.companions.forEach((c, i) => assert.equal(firstDifference(c, r.reference.companions[i]), ""));
      }
    });
  }
});

Deno.test("ONNX dynamic 8-bit codes (x / scale) with SIMD equal the reference, NaN and Inf included", async (t) => {
  const base = edgeMix(70000 + 7, 11).map((v) => (Number.isFinite(v) ? v : 0.5));
  // Exact ties of x / scale (k + 0.5 for a power-of-two scale) and values beyond the clamp.
  for (let i = 0; i < 4000; i++) base[1000 + i] = ((i % 600) - 300 + 0.5) / 64;
  const withNaN = base.slice();
  withNaN[69990] = NaN; // a NaN after a whole SIMD chunk: the kernel stops there and the loop finishes
  withNaN[200] = Infinity;
  withNaN[300] = -Infinity;
  for (const [label, values] of [["finite", base], ["NaN and Inf", withNaN]] as const) {
    for (const type of ["int8", "uint8"] as const) {
      await t.step(`${label}, ${type}`, () => {
        const [min, max] = minMax(values.map((v) => (Number.isFinite(v) ? v : 0)));
        for (
          const { scale, zeroPoint } of [scaleZeroPoint(min, max, type), { scale: 1 / 64, zeroPoint: 3 }]
        ) {
          const r = both(() => {
            const out = new Uint8Array(values.length);
            quantizeInto(values, scale, type === "int8" ? 0 : zeroPoint, type, out);
            return out;
          });
          assert.equal(firstDifference(r.simd, r.reference), "", `${label} ${type} scale ${scale}`);
        }
        const range = both(() => minMax(values));
        assert.deepEqual(range.simd.map((v) => v + 0), range.reference.map((v) => v + 0));
      });
    }
  }
});

// Every float32 class: both signs of 0, subnormals, each f16 rounding
// boundary (midpoints between neighbouring halves and one ulp either side),
// overflow to Inf, Inf, NaN payloads; plus random bit patterns.
function castProbe(): Float32Array {
  const u: number[] = [];
  const h = new Float16Array(1);
  const hb = new Uint16Array(h.buffer);
  for (let b = 0; b < 0x7c00; b++) {
    hb[0] = b;
    const lo = h[0];
    hb[0] = b + 1;
    F32[0] = (lo + h[0]) / 2; // exact in float32: the tie
    const mid = U32[0];
    for (const s of [0, 0x80000000]) u.push((mid | s) >>> 0, ((mid - 1) | s) >>> 0, ((mid + 1) | s) >>> 0);
  }
  // bfloat16 ties and their neighbours.
  for (let e = 0; e < 256; e++) {
    for (const m of [0x8000, 0x18000, 0x7fff, 0x8001, 0x17fff, 0x7f8000, 0x7fffff]) {
      u.push(((e << 23) | m) >>> 0, ((e << 23) | m | 0x80000000) >>> 0);
    }
  }
  u.push(
    0,
    0x80000000,
    1,
    0x807fffff,
    0x7f800000,
    0xff800000,
    0x7fc00000,
    0xffc00000,
    0x7f800001,
    0xffbfffff,
  );
  u.push(0x477fefff, 0x477ff000, 0x477ff001, 0x33000000, 0x33000001, 0x387fffff, 0x38800000);
  let s = 7;
  for (let i = 0; i < 50000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    u.push(s);
  }
  u.push(1, 2, 3); // a tail that is not a multiple of 8
  return new Float32Array(new Uint32Array(u).buffer);
}

Deno.test("f32ToF16() and f32ToBf16() with SIMD equal Float16Array and the bit loop on every boundary", () => {
  const x = castProbe();
  for (const len of [x.length, 7, 8, 65536 + 9]) {
    const v = len <= x.length
      ? x.subarray(0, len)
      : Float32Array.from({ length: len }, (_, i) => x[i % x.length]);
    const f16 = both(() => f32ToF16(v));
    const fromArray = new Uint16Array(new Float16Array(v).buffer);
    assert.equal(firstDifference(bytes(f16.simd), bytes(fromArray)), "", `F16, ${len} values`);
    assert.equal(firstDifference(bytes(f16.reference), bytes(fromArray)), "");
    const bf16 = both(() => f32ToBf16(v));
    assert.equal(firstDifference(bytes(bf16.simd), bytes(bf16.reference)), "", `BF16, ${len} values`);
  }
  // An output view at an offset, and a caller's buffer.
  const out = new Uint16Array(x.length + 4);
  f32ToF16(x, out.subarray(4));
  assert.equal(
    firstDifference(bytes(out.subarray(4)), bytes(new Uint16Array(new Float16Array(x).buffer))),
    "",
  );
});

// torch's vectorized bfloat16 cast writes every NaN as 0xffff, so for BF16 only NaN-ness is compared.
Deno.test({
  name: "f32ToF16() and f32ToBf16() equal torch .half() and .bfloat16() (NaN: both NaN; F16 with its sign)",
  ignore: skipUnlessVenv("torch"),
  async fn() {
    await using dir = await tempDir();
    const x = castProbe();
    await Deno.writeFile(`${dir.path}/x.f32`, bytes(x));
    await runVenv(
      `import sys, torch
x = torch.frombuffer(bytearray(open(sys.argv[1] + "/x.f32", "rb").read()), dtype=torch.float32)
open(sys.argv[1] + "/h", "wb").write(x.half().view(torch.int16).numpy().tobytes())
open(sys.argv[1] + "/b", "wb").write(x.bfloat16().view(torch.int16).numpy().tobytes())`,
      [dir.path],
    );
    for (const [file, ours, nan] of [["h", f32ToF16(x), 0x7c00], ["b", f32ToBf16(x), 0x7f80]] as const) {
      const theirs = new Uint16Array((await Deno.readFile(`${dir.path}/${file}`)).buffer);
      assert.equal(theirs.length, ours.length);
      for (let i = 0; i < ours.length; i++) {
        const isNan = (v: number) => (v & 0x7fff) > nan;
        if (isNan(theirs[i])) {
          assert.ok(
            isNan(ours[i]) && (file === "b" || (ours[i] & 0x8000) === (theirs[i] & 0x8000)),
            `${file}: element ${i} (bits ${new Uint32Array(x.buffer)[i].toString(16)}): ${
              ours[i].toString(16)
            } vs ${theirs[i].toString(16)}`,
          );
        } else {
          assert.equal(
            ours[i],
            theirs[i],
            `${file}: element ${i} (bits ${new Uint32Array(x.buffer)[i].toString(16)})`,
          );
        }
      }
    }
  },
});

function skipUnlessGcc(): boolean {
  try {
    if (new Deno.Command("gcc", { args: ["--version"], stdout: "null" }).outputSync().success) return false;
  } catch {
    // not installed
  }
  console.warn("skipping: gcc is not installed");
  return true;
}

const GGML_LIB = `${NODE_ORACLES}/@node-llama-cpp/linux-x64/bins/linux-x64`;

Deno.test({
  name:
    "ggml block schemes equal ggml_quantize_chunk from libggml-base.so on random rows and finite edge blocks",
  ignore: skipUnlessNodeOracle("@node-llama-cpp/linux-x64") || skipUnlessGcc(),
  async fn(t) {
    await using dir = await tempDir();
    const exe = `${dir.path}/ggml_ref`;
    const cc = await new Deno.Command("gcc", {
      args: [
        "-O2",
        "-o",
        exe,
        `${REPO}/bench/_ggml_reference.c`,
        `-L${GGML_LIB}`,
        "-l:libggml-base.so",
        `-Wl,-rpath,${GGML_LIB}`,
      ],
    }).output();
    assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
    // Finite input only: for NaN/Inf the C code converts out-of-range floats, which C leaves undefined.
    const x = edgeMix(4096 * 40, 11).map((v) => (Number.isFinite(v) ? v : 0.25));
    await Deno.writeFile(`${dir.path}/x.f32`, bytes(x));
    for (const [name, type] of [["Q8_0", 8], ["Q4_0", 2], ["Q4_1", 3], ["Q5_0", 6], ["Q5_1", 7]] as const) {
      await t.step(name, async () => {
        const run = await new Deno.Command(exe, {
          args: [String(type), `${dir.path}/x.f32`, `${dir.path}/${name}`],
        })
          .output();
        assert.ok(run.success, new TextDecoder().decode(run.stderr));
        const scheme = schemeByName(name);
        const plan = scheme.plan([x.length / 4096, 4096], DEFAULT_SETTINGS);
        const ours: QuantResult = scheme.quantize(plan, x);
        assert.equal(firstDifference(ours.data, await Deno.readFile(`${dir.path}/${name}`)), "");
      });
    }
  },
});

let wabt = true;
try {
  await import("../lib/simd/build.ts");
} catch {
  wabt = false;
}

Deno.test({
  name: "lib/simd/kernels.wasm and _wasm.ts are the bytes lib/simd/build.ts assembles from kernels.wat",
  ignore: !wabt && (console.warn("skipping: npm:wabt could not be loaded"), true),
  async fn() {
    const { assembleKernels, wasmModuleSource } = await import("../lib/simd/build.ts");
    const built = await assembleKernels(await Deno.readTextFile(`${REPO}/lib/simd/kernels.wat`));
    const committed = await Deno.readFile(`${REPO}/lib/simd/kernels.wasm`);
    assert.equal(firstDifference(built, committed), "");
    assert.equal(await Deno.readTextFile(`${REPO}/lib/simd/_wasm.ts`), wasmModuleSource(built));
  },
});
