import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import { estimateMemory } from "../lib/memory_estimate.ts";
import { measureOnnxActivations } from "../formats/onnx_runtime/activations.ts";
import { openOnnxPath } from "../formats/onnx/mod.ts";
import { listDir, runCli, runPython, skipUnlessPython, tempDir } from "./_helpers.ts";
import { MLP, ONNX_DATA, resnet18, skipUnlessTorchOnnx } from "./_onnx_models.ts";

const ESTIMATE_PERMISSIONS = ["--allow-read", "--allow-ffi", "--allow-env"];

/** Bytes of every intermediate value (value_info and graph outputs) after ONNX shape inference. */
async function inferredActivationBytes(path: string): Promise<number> {
  const out = await runPython(
    `
import sys, onnx, numpy as np
from onnx import mapping, shape_inference
m = shape_inference.infer_shapes(onnx.load(sys.argv[1]))
total = 0
for v in list(m.graph.value_info) + list(m.graph.output):
    t = v.type.tensor_type
    total += int(np.prod([d.dim_value for d in t.shape.dim])) * np.dtype(mapping.TENSOR_TYPE_TO_NP_TYPE[t.elem_type]).itemsize
print(total)
`,
    [path],
  );
  return Number(out.trim());
}

async function initializerBytes(path: string): Promise<number> {
  const file = await openOnnxPath(path);
  try {
    return file.tensors.reduce((n, t) => n + t.byteLength, 0);
  } finally {
    await file.close();
  }
}

async function estimateJson(args: string[]): Promise<Record<string, number>> {
  const result = await runCli(["estimate", ...args, "--json"], { permissions: ESTIMATE_PERMISSIONS });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

Deno.test("estimateMemory() counts gradients, optimizer slots and compute dtypes", async (t) => {
  const model = {
    parameters: [{ dtype: "F32" as const, elements: 1000 }, { dtype: "I64" as const, elements: 10 }],
    inputs: [{ dtype: "F32" as const, elements: 50 }],
    activations: [{ dtype: "F32" as const, elements: 300 }, { dtype: "I64" as const, elements: 4 }],
  };
  await t.step("adam keeps two slots per float parameter", () => {
    const m = estimateMemory(model, { optimizer: "adam" });
    assert.equal(m.parameterBytes, 4080);
    assert.equal(m.optimizerBytes, 8000);
    assert.equal(m.gradientBytes, 4000 + 1200);
    assert.equal(m.inferenceBytes, 4080 + 200 + 1232);
    assert.equal(m.trainingBytes, m.inferenceBytes + m.gradientBytes + m.optimizerBytes);
  });
  await t.step("sgd with momentum keeps one, plain sgd none", () => {
    assert.equal(estimateMemory(model, { optimizer: "sgd-momentum" }).optimizerBytes, 4000);
    assert.equal(estimateMemory(model, { optimizer: "sgd" }).optimizerBytes, 0);
  });
  await t.step("a 16-bit compute dtype halves float tensors and keeps integers", () => {
    const m = estimateMemory(model, { dtype: "BF16" });
    assert.equal(m.parameterBytes, 2000 + 80);
    assert.equal(m.activationBytes, 600 + 32);
  });
  await t.step("rejections", () => {
    assert.throws(() => estimateMemory(model, { dtype: "I8" }), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, "Cannot estimate at I8: the compute dtype must be a floating-point type");
      return true;
    });
    assert.throws(() => estimateMemory(model, { optimizer: "lion" as "adam" }), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, "Unknown optimizer 'lion'; known: adam, sgd-momentum, sgd");
      return true;
    });
  });
});

Deno.test({
  name: "ckpt estimate on the MLP matches shape inference, initializer bytes and Adam's 2× slots",
  ignore: skipUnlessPython("onnx", "numpy"),
  async fn() {
    const m = await estimateJson([MLP, "--train"]);
    assert.deepEqual(Object.keys(m), [
      "parameterBytes",
      "inputBytes",
      "activationBytes",
      "gradientBytes",
      "optimizerBytes",
      "inferenceBytes",
      "trainingBytes",
    ]);
    assert.equal(m.parameterBytes, await initializerBytes(MLP));
    assert.equal(m.optimizerBytes, 2 * m.parameterBytes);
    const inferred = await inferredActivationBytes(MLP);
    assert.ok(
      Math.abs(m.activationBytes - inferred) <= 0.1 * inferred,
      `${m.activationBytes} vs ${inferred}`,
    );
    assert.equal(m.inputBytes, 64 * 4);
  },
});

Deno.test("ckpt estimate scales with --batch and --dtype, and reads external data models", async () => {
  const one = await estimateJson([MLP]);
  const many = await estimateJson([MLP, "--batch", "32", "--optimizer", "sgd"]);
  assert.equal(many.activationBytes, 32 * one.activationBytes);
  assert.equal(many.inputBytes, 32 * one.inputBytes);
  assert.equal(many.optimizerBytes, 0);
  const half = await estimateJson([MLP, "--dtype", "F16"]);
  assert.equal(half.parameterBytes, one.parameterBytes / 2);
  assert.equal(half.activationBytes, one.activationBytes / 2);
  // External data is found beside the model, so the run needs a copy there: --allow-write.
  await using dir = await tempDir();
  for (const name of ["mlp_external.onnx", "mlp_external.data"]) {
    await Deno.copyFile(`${ONNX_DATA}/${name}`, `${dir.path}/${name}`);
  }
  const result = await runCli(["estimate", `${dir.path}/mlp_external.onnx`, "--json"], {
    permissions: [...ESTIMATE_PERMISSIONS, "--allow-write"],
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), one);
  assert.deepEqual(await listDir(dir.path), ["mlp_external.data", "mlp_external.onnx"]);
});

Deno.test("ckpt estimate rejects bad arguments with exit 2 and one line", async (t) => {
  await using dir = await tempDir();
  await Deno.writeFile(`${dir.path}/broken.onnx`, (await Deno.readFile(MLP)).subarray(0, 1000));
  const cases: [string, string[], RegExp][] = [
    [
      "an unknown optimizer",
      [MLP, "--optimizer", "lion"],
      /^ckpt estimate: Unknown optimizer 'lion'; use adam, sgd or sgd-momentum$/,
    ],
    [
      "an unknown dtype",
      [MLP, "--dtype", "I8"],
      /^ckpt estimate: Unknown --dtype 'I8'; use F32, F16 or BF16$/,
    ],
    [
      "a malformed --input",
      [MLP, "--input", "x=1by64"],
      /^ckpt estimate: Cannot parse --input 'x=1by64': use NAME=1x3x224x224$/,
    ],
    [
      "an input the model lacks",
      [MLP, "--input", "y=1x64"],
      /^ckpt estimate: Model has no input 'y'; its inputs: x$/,
    ],
    ["a zero batch", [MLP, "--batch", "0"], /^ckpt estimate: --batch must be a positive integer, got '0'$/],
    [
      "a shape the graph cannot take",
      [MLP, "--input", "x=1x65"],
      /^ckpt estimate: onnxruntime could not run the model: .*Got invalid dimensions for input: x/,
    ],
    [
      "a truncated model",
      [`${dir.path}/broken.onnx`],
      /^ckpt estimate: Cannot decode ONNX model at offset 19: field 7 declares/,
    ],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const result = await runCli(["estimate", ...args], { permissions: ESTIMATE_PERMISSIONS });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, "");
      assert.match(result.stderr.trim(), message);
      assert.equal(result.stderr.trim().split("\n").length, 1);
    });
  }
});

Deno.test({
  name:
    "ckpt estimate on ResNet-18: activations within 10% of ONNX shape inference, parameters = initializers",
  ignore: skipUnlessTorchOnnx(),
  async fn() {
    const path = await resnet18();
    const m = await estimateJson([path, "--input", "input=1x3x224x224", "--train"]);
    assert.equal(m.parameterBytes, await initializerBytes(path));
    assert.equal(m.optimizerBytes, 2 * m.parameterBytes);
    assert.equal(m.inputBytes, 3 * 224 * 224 * 4);
    const inferred = await inferredActivationBytes(path);
    assert.ok(
      Math.abs(m.activationBytes - inferred) <= 0.1 * inferred,
      `${m.activationBytes} vs ${inferred}`,
    );
    // A graph exported for batch 1 is measured once and scaled.
    const batch = await measureOnnxActivations(path, { batch: 8 });
    const bytes = batch.activations.reduce((n, v) => n + v.shape.reduce((a, b) => a * b, 4), 0);
    assert.equal(bytes, 8 * m.activationBytes);
  },
});

Deno.test({
  name: "measureOnnxActivations() takes shapes from value_info when shape inference stored them",
  ignore: skipUnlessPython("onnx"),
  async fn() {
    await using dir = await tempDir();
    const inferred = `${dir.path}/mlp-inferred.onnx`;
    await runPython(
      "import sys, onnx; onnx.save(onnx.shape_inference.infer_shapes(onnx.load(sys.argv[1])), sys.argv[2])",
      [MLP, inferred],
    );
    const fromInfo = await measureOnnxActivations(inferred);
    const fromRun = await measureOnnxActivations(MLP, { method: "runtime" });
    assert.equal(fromInfo.method, "value-info");
    assert.equal(fromRun.method, "runtime");
    assert.deepEqual(fromInfo.activations, fromRun.activations);
  },
});
