import assert from "node:assert/strict";
import { cast, mapEntries, pipe } from "../lib/pipeline.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { compareOnnxModels } from "../formats/onnx_runtime/compare_models.ts";
import { openOnnxPath, writeOnnxPath } from "../formats/onnx/mod.ts";
import { runCli, runPython, skipUnlessPython, tempDir } from "./_helpers.ts";
import { MLP, resnet18, skipUnlessTorchOnnx } from "./_onnx_models.ts";

const COMPARE_PERMISSIONS = ["--allow-read", "--allow-ffi", "--allow-env"];

/** A copy of the MLP with its last layer negated: its arg-max becomes the arg-min. */
async function negatedMlp(path: string): Promise<void> {
  const model = await openOnnxPath(MLP);
  const negate = mapEntries((entry) => {
    if (!entry.name.startsWith("4.")) return entry;
    return {
      ...entry,
      read: async () => {
        const values = new Float32Array((await entry.read()).slice().buffer);
        for (let i = 0; i < values.length; i++) values[i] = -values[i];
        return tensorFromBytes(entry.name, "F32", entry.shape, new Uint8Array(values.buffer)).read();
      },
    };
  });
  await writeOnnxPath(pipe(model, negate), path, { input: MLP });
  await model.close();
}

Deno.test("compareOnnxModels() finds a model identical to itself and a fake-F16 copy nearly so", async () => {
  await using dir = await tempDir();
  const same = await compareOnnxModels(MLP, MLP, { random: 20, seed: 3 });
  assert.deepEqual(same, {
    top1Agreement: 1,
    meanAbsDiff: 0,
    maxAbsDiff: 0,
    maxProbDelta: 0,
    cosine: 1,
    inputs: 20,
  });
  const f16 = `${dir.path}/mlp-f16.onnx`;
  const model = await openOnnxPath(MLP);
  await writeOnnxPath(pipe(model, cast("F16")), f16, { input: MLP });
  await model.close();
  const r = await compareOnnxModels(MLP, f16, { random: 200, seed: 1 });
  assert.equal(r.inputs, 200);
  assert.ok(r.top1Agreement >= 0.95, String(r.top1Agreement));
  assert.ok(r.maxAbsDiff > 0 && r.maxAbsDiff < 0.01, String(r.maxAbsDiff));
  assert.ok(r.meanAbsDiff <= r.maxAbsDiff);
  assert.ok(r.maxProbDelta > 0 && r.maxProbDelta < 0.01, String(r.maxProbDelta));
  // The same seed gives the same samples.
  assert.deepEqual(await compareOnnxModels(MLP, f16, { random: 200, seed: 1 }), r);
});

Deno.test("ckpt compare exits 1 below --min-agreement and prints the --json keys", async () => {
  await using dir = await tempDir();
  const negated = `${dir.path}/mlp-negated.onnx`;
  await negatedMlp(negated);
  const bad = await runCli(["compare", MLP, negated, "--random", "30", "--json"], {
    permissions: COMPARE_PERMISSIONS,
  });
  assert.equal(bad.code, 1, bad.stderr);
  const r = JSON.parse(bad.stdout);
  assert.deepEqual(Object.keys(r), [
    "top1Agreement",
    "meanAbsDiff",
    "maxAbsDiff",
    "maxProbDelta",
    "cosine",
    "inputs",
  ]);
  assert.equal(r.top1Agreement, 0);
  // The second model's logits are the first's negated.
  assert.ok(Math.abs(r.cosine + 1) < 1e-9, `cosine ${r.cosine}`);
  assert.equal(r.inputs, 30);
  const lenient = await runCli(["compare", MLP, negated, "--random", "30", "--min-agreement", "0"], {
    permissions: COMPARE_PERMISSIONS,
  });
  assert.equal(lenient.code, 0, lenient.stderr);
  assert.match(lenient.stdout, /top-1 agreement\s+0\.00%/);
  const same = await runCli(["compare", MLP, MLP, "--random", "5"], { permissions: COMPARE_PERMISSIONS });
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /top-1 agreement\s+100\.00%/);
});

Deno.test({
  name: "ckpt compare --inputs FILE.npz gives the metrics numpy computes from the same weights",
  ignore: skipUnlessPython("onnx", "numpy"),
  async fn() {
    await using dir = await tempDir();
    const negated = `${dir.path}/mlp-negated.onnx`;
    await negatedMlp(negated);
    const npz = `${dir.path}/inputs.npz`;
    // The reference: the MLP's forward pass in numpy on both models' initializers.
    const expected = JSON.parse(
      await runPython(
        `
import sys, json, onnx, numpy as np
from onnx import numpy_helper
x = np.random.default_rng(5).standard_normal((7, 64)).astype(np.float32)
np.savez(sys.argv[3], x=x)
def logits(path):
    w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in onnx.load(path).graph.initializer}
    h = np.maximum(x @ w["0.weight"].T + w["0.bias"], 0)
    h = np.maximum(h @ w["2.weight"].T + w["2.bias"], 0)
    return h @ w["4.weight"].T + w["4.bias"]
a, b = logits(sys.argv[1]), logits(sys.argv[2])
sa = np.exp(a - a.max(1, keepdims=True)); sa /= sa.sum(1, keepdims=True)
sb = np.exp(b - b.max(1, keepdims=True)); sb /= sb.sum(1, keepdims=True)
print(json.dumps({"top1Agreement": float((a.argmax(1) == b.argmax(1)).mean()),
  "meanAbsDiff": float(np.abs(a - b).mean()), "maxAbsDiff": float(np.abs(a - b).max()),
  "maxProbDelta": float(np.abs(sa - sb).max()),
  "cosine": float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())), "inputs": 7}))
`,
        [MLP, negated, npz],
      ),
    );
    const result = await runCli(
      ["compare", MLP, negated, "--inputs", npz, "--json", "--min-agreement", "0"],
      {
        permissions: COMPARE_PERMISSIONS,
      },
    );
    assert.equal(result.code, 0, result.stderr);
    const got = JSON.parse(result.stdout);
    assert.equal(got.inputs, expected.inputs);
    assert.equal(got.top1Agreement, expected.top1Agreement);
    for (const key of ["meanAbsDiff", "maxAbsDiff", "maxProbDelta", "cosine"]) {
      assert.ok(
        Math.abs(got[key] - expected[key]) <= 1e-4 * Math.max(1, expected[key]),
        `${key}: ${got[key]} vs ${expected[key]}`,
      );
    }
  },
});

Deno.test("ckpt compare rejects bad input with exit 2 and one line", async (t) => {
  await using dir = await tempDir();
  const broken = `${dir.path}/broken.onnx`;
  await Deno.writeFile(broken, (await Deno.readFile(MLP)).subarray(0, 2000));
  const cases: [string, string[], RegExp][] = [
    ["a missing model", [MLP, `${dir.path}/nope.onnx`], /^ckpt compare: No such file: /],
    [
      "a truncated model",
      [MLP, broken],
      /^ckpt compare: Cannot decode ONNX model at offset 19: field 7 declares/,
    ],
    [
      "both --inputs and --random",
      [MLP, MLP, "--inputs", "x.npz", "--random", "3"],
      /^ckpt compare: Give either --inputs or --random, not both$/,
    ],
    [
      "a bad --random",
      [MLP, MLP, "--random", "0"],
      /^ckpt compare: --random must be a number from 1 to 1000000000, got '0'$/,
    ],
    [
      "a bad --min-agreement",
      [MLP, MLP, "--min-agreement", "2"],
      /^ckpt compare: --min-agreement must be a number from 0 to 1, got '2'$/,
    ],
    [
      "an unknown output",
      [MLP, MLP, "--output", "probs"],
      /^ckpt compare: Model .*mlp\.onnx has no output 'probs'$/,
    ],
    ["one model only", [MLP], /^ckpt compare: Missing B\.onnx \(see --help\)$/],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const result = await runCli(["compare", ...args], { permissions: COMPARE_PERMISSIONS });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, "");
      assert.match(result.stderr.trim(), message);
      assert.equal(result.stderr.trim().split("\n").length, 1);
    });
  }
});

interface BitsRow {
  scheme: string;
  bits: number;
  bytes: number;
  top1Agreement: number;
  maxProbDelta: number;
}

async function bitsTable(model: string, samples: number): Promise<Record<string, BitsRow>> {
  const result = await runCli([model, "--random", String(samples), "--json"], {
    script: "examples/bits_vs_accuracy.ts",
    permissions: ["--allow-read", "--allow-write", "--allow-ffi", "--allow-env"],
  });
  assert.equal(result.code, 0, result.stderr);
  const rows: BitsRow[] = JSON.parse(result.stdout);
  assert.deepEqual(rows.map((r) => r.scheme), ["F32", "F16", "BF16", "int8 per-channel", "4-bit NF4"]);
  return Object.fromEntries(rows.map((r) => [r.scheme, r]));
}

function assertOrdering(t: Record<string, BitsRow>): void {
  const [f32, f16, int8, nf4] = [t.F32, t.F16, t["int8 per-channel"], t["4-bit NF4"]];
  assert.deepEqual([f32.top1Agreement, f32.maxProbDelta, f32.bits], [1, 0, 32]);
  assert.equal(f16.bits, 16);
  assert.ok(f32.bytes > f16.bytes && f16.bytes > int8.bytes && int8.bytes > nf4.bytes);
  // Fewer bits, larger changes: agreement falls and probabilities move more.
  assert.ok(
    f16.top1Agreement >= int8.top1Agreement && int8.top1Agreement > nf4.top1Agreement,
    JSON.stringify(t),
  );
  assert.ok(f16.maxProbDelta < int8.maxProbDelta && int8.maxProbDelta < nf4.maxProbDelta, JSON.stringify(t));
}

Deno.test("examples/bits_vs_accuracy.ts on the MLP: F16 and int8 agree on ≥ 95% of inputs, 4-bit on fewer", async () => {
  const t = await bitsTable(MLP, 200);
  assertOrdering(t);
  assert.ok(t.F16.top1Agreement >= 0.95, String(t.F16.top1Agreement));
  assert.ok(t["int8 per-channel"].top1Agreement >= 0.95, String(t["int8 per-channel"].top1Agreement));
  assert.ok(t["4-bit NF4"].bits > 4 && t["4-bit NF4"].bits < 5);
});

Deno.test({
  name: "examples/bits_vs_accuracy.ts on ResNet-18: agreement and probability changes follow the bits",
  ignore: skipUnlessTorchOnnx(),
  async fn() {
    const t = await bitsTable(await resnet18(), 25);
    assertOrdering(t);
    assert.ok(t.F16.top1Agreement >= 0.95, String(t.F16.top1Agreement));
  },
});

Deno.test("ckpt quantize into an .onnx output stores dequantized weights any runtime can run", async (t) => {
  await using dir = await tempDir();
  for (
    const [scheme, extra] of [["int8", ["--per-channel", "--simulate"]], ["Q4_0", []], ["F16", [
      "--simulate",
    ]]] as const
  ) {
    await t.step(scheme, async () => {
      const out = `${dir.path}/mlp-${scheme}.onnx`;
      const q = await runCli(["quantize", MLP, out, "--scheme", scheme, "--device", "cpu", ...extra], {
        permissions: ["--allow-read", "--allow-write", "--allow-env"],
      });
      assert.equal(q.code, 0, q.stderr);
      const model = await openOnnxPath(out);
      assert.ok(model.tensors.every((e) => e.dtype === "F32"));
      await model.close();
      assert.equal((await Deno.stat(out)).size, (await Deno.stat(MLP)).size);
      const r = await compareOnnxModels(MLP, out, { random: 100 });
      assert.ok(r.maxAbsDiff > 0);
      assert.ok(r.top1Agreement >= (scheme === "Q4_0" ? 0.5 : 0.95), `${scheme}: ${r.top1Agreement}`);
    });
  }
});
