import assert from "node:assert/strict";
import { bytesSource, fileSource } from "../lib/byte_source.ts";
import { castBytes } from "../lib/cast.ts";
import { FormatError, LimitError, TruncatedError, UsageError } from "../lib/errors.ts";
import { cast, pipe } from "../lib/pipeline.ts";
import { elementCount } from "../lib/dtype.ts";
import { sizeReport } from "../lib/size_report.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { onnxFormat, openOnnx, openOnnxPath, writeOnnxPath } from "../formats/onnx/mod.ts";
import { listDir, runCli, runPython, skipUnlessPython, tempDir } from "./_helpers.ts";
import {
  MLP,
  MLP_EXTERNAL,
  modelProto,
  ONNX_DATA,
  resnet18,
  skipUnlessTorchOnnx,
  tensorProto,
  TYPED,
} from "./_onnx_models.ts";

// The protobuf runtime reads one environment variable when it loads.
const ONNX_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env=BUF_BIGINT_DISABLE"];
const expected = JSON.parse(await Deno.readTextFile(`${ONNX_DATA}/expected.json`));

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readAll(path: string): Promise<Map<string, { entry: TensorEntry; bytes: Uint8Array }>> {
  const file = await openTensorFile(path);
  try {
    const out = new Map<string, { entry: TensorEntry; bytes: Uint8Array }>();
    for (const entry of file.tensors) out.set(entry.name, { entry, bytes: (await entry.read()).slice() });
    return out;
  } finally {
    await file.close();
  }
}

Deno.test("openOnnx() reads the initializers of a model exported by torch.onnx.export", async () => {
  const file = await openTensorFile(MLP);
  try {
    assert.equal(file.format, "onnx");
    assert.equal(file.metadata["onnx.producer_name"], "pytorch");
    assert.equal(file.metadata["onnx.ir_version"], "7");
    assert.deepEqual(file.tensors.map((t) => [t.name, t.dtype, t.shape]), [
      ["0.weight", "F32", [128, 64]],
      ["0.bias", "F32", [128]],
      ["2.weight", "F32", [128, 128]],
      ["2.bias", "F32", [128]],
      ["4.weight", "F32", [10, 128]],
      ["4.bias", "F32", [10]],
    ]);
    const count = file.tensors.reduce((n, t) => n + elementCount(t.shape), 0);
    assert.equal(count, expected.mlp.parameters);
  } finally {
    await file.close();
  }
});

Deno.test("openOnnx() reads external data files with the same bytes as inline raw_data", async () => {
  const inline = await readAll(MLP);
  const external = await readAll(MLP_EXTERNAL);
  assert.deepEqual([...external.keys()], [...inline.keys()]);
  for (const [name, { bytes }] of inline) assert.deepEqual(external.get(name)!.bytes, bytes, name);
});

Deno.test("openOnnx() decodes every typed field (float_data, int32_data, int64_data, double_data, uint64_data)", async (t) => {
  const tensors = await readAll(TYPED);
  for (const [name, want] of Object.entries(expected.typed) as [string, { shape: number[]; hex: string }][]) {
    await t.step(name, () => {
      const got = tensors.get(name);
      assert.ok(got, `missing ${name}`);
      assert.deepEqual(got.entry.shape, want.shape);
      assert.equal(hex(got.bytes), want.hex);
    });
  }
});

Deno.test("onnxFormat.sniff() recognises ModelProtos by their bytes only", async (t) => {
  const mlp = await Deno.readFile(MLP);
  const cases: [string, Uint8Array, number, boolean][] = [
    ["an exported model", mlp.subarray(0, 65536), mlp.length, true],
    ["a truncated model", mlp.subarray(0, 100), 100, true],
    ["a safetensors header", new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]), 10, false],
    ["an ir_version of 0", new Uint8Array([8, 0, 0x12, 0]), 4, false],
    ["an unknown second field", new Uint8Array([8, 7, 0x7a, 0]), 4, false],
    ["a zip file", new Uint8Array([0x50, 0x4b, 3, 4]), 4, false],
    ["too few bytes", new Uint8Array([8]), 1, false],
  ];
  for (const [name, head, size, want] of cases) {
    await t.step(name, () => assert.equal(onnxFormat.sniff(head, size), want));
  }
});

Deno.test("openOnnx() rejects malformed models with a typed error saying what and where", async (t) => {
  const mlp = await Deno.readFile(MLP);
  const f32 = (n: number) => new Uint8Array(n * 4);
  const cases: [string, Uint8Array, new (...a: never[]) => Error, RegExp][] = [
    [
      "a truncated file",
      mlp.subarray(0, 5000),
      TruncatedError,
      /^Cannot decode ONNX model at offset 19: field 7 declares \d+ bytes but only 4977 remain in its message$/,
    ],
    [
      "raw_data of the wrong length",
      modelProto([tensorProto({ name: "w", dataType: 1, dims: [4], raw: f32(3) })]),
      FormatError,
      /^Cannot decode ONNX initializer 'w' at offset \d+: raw_data has 12 bytes, expected 16 for F32 \[4\]$/,
    ],
    [
      "a negative dimension",
      modelProto([tensorProto({ name: "w", dataType: 1, dims: [-1], raw: f32(1) })]),
      FormatError,
      /^Invalid dimension -1 in shape \[-1\]$/,
    ],
    [
      "more dimensions than MAX_RANK",
      modelProto([tensorProto({ name: "w", dataType: 1, dims: new Array(65).fill(1), raw: f32(1) })]),
      LimitError,
      /^Cannot decode ONNX initializer at offset \d+: more than 64 dimensions$/,
    ],
    [
      "dimensions whose product overflows",
      modelProto([tensorProto({ name: "w", dataType: 1, dims: [2 ** 40, 2 ** 40], raw: f32(1) })]),
      LimitError,
      /^Shape \[1099511627776, 1099511627776\] has more elements than can be addressed \(over 2\^53\)$/,
    ],
    [
      "typed values too few for the declared shape",
      modelProto([tensorProto({ name: "w", dataType: 1, dims: [1000000], floatData: [1, 2] })]),
      FormatError,
      /^Cannot decode ONNX initializer 'w' at offset \d+: 10 bytes of values cannot hold 1000000 elements of shape \[1000000\]$/,
    ],
    [
      "an unknown data type",
      modelProto([tensorProto({ name: "w", dataType: 99, dims: [1], raw: f32(1) })]),
      FormatError,
      /^Cannot decode ONNX initializer 'w' at offset \d+: unknown data type 99$/,
    ],
    [
      "no data for a non-empty tensor",
      modelProto([tensorProto({ name: "w", dataType: 1, dims: [2] })]),
      FormatError,
      /^Cannot decode ONNX initializer 'w' at offset \d+: it has 2 elements but no data$/,
    ],
    [
      "a second graph",
      new Uint8Array([...modelProto([]), 0x3a, 0]),
      FormatError,
      /^Cannot decode ONNX model: a second graph field at offset \d+$/,
    ],
    [
      "no graph",
      new Uint8Array([0x08, 0x07, 0x12, 0x01, 0x61]),
      FormatError,
      /^Cannot decode ONNX model .*model\.onnx: it has no graph$/,
    ],
    [
      "an illegal wire type",
      new Uint8Array([0x08, 0x07, 0x3f, 0x00]),
      FormatError,
      /^Cannot decode ONNX model at offset 2: illegal tag: field no 7 wire type 7$/,
    ],
    [
      "a length prefix that is cut off",
      new Uint8Array([0x08, 0x07, 0x3a, 0xff]),
      FormatError,
      /^Cannot decode ONNX model at offset 2: /,
    ],
    [
      "an external location with ..",
      modelProto([
        tensorProto({ name: "w", dataType: 1, dims: [1], external: { location: "../secret.bin" } }),
      ]),
      FormatError,
      /^Refusing external data location '\.\.\/secret\.bin' of initializer 'w': it must be a relative path inside the model's folder$/,
    ],
    [
      "an absolute external location",
      modelProto([tensorProto({ name: "w", dataType: 1, dims: [1], external: { location: "/etc/passwd" } })]),
      FormatError,
      /^Refusing external data location '\/etc\/passwd' of initializer 'w': it must be a relative path inside the model's folder$/,
    ],
    [
      "an external length that disagrees with the shape",
      modelProto([
        tensorProto({ name: "w", dataType: 1, dims: [2], external: { location: "w.bin", length: "4" } }),
      ]),
      FormatError,
      /^Cannot decode ONNX initializer 'w' at offset \d+: external length 4 does not match 8 bytes for F32 \[2\]$/,
    ],
    [
      "an external offset that is not a number",
      modelProto([
        tensorProto({ name: "w", dataType: 1, dims: [2], external: { location: "w.bin", offset: "-3" } }),
      ]),
      FormatError,
      /^Cannot decode ONNX initializer 'w' at offset \d+: external offset '-3' is not a valid byte count$/,
    ],
  ];
  await using dir = await tempDir();
  for (const [name, bytes, errorClass, message] of cases) {
    await t.step(name, async () => {
      const path = `${dir.path}/model.onnx`;
      await Deno.writeFile(path, bytes);
      await assert.rejects(
        async () => await (await openOnnxPath(path)).close(),
        (e: Error) => {
          assert.ok(e instanceof errorClass, `${e.name}: ${e.message}`);
          assert.match(e.message, message);
          return true;
        },
      );
    });
  }
});

Deno.test("openOnnx() checks external data ranges and refuses symlinks out of the model's folder", async (t) => {
  await using outside = await tempDir();
  await using dir = await tempDir();
  await Deno.writeFile(`${outside.path}/secret.bin`, new Uint8Array(64));
  await Deno.symlink(`${outside.path}/secret.bin`, `${dir.path}/link.bin`);
  await Deno.writeFile(`${dir.path}/short.bin`, new Uint8Array(8));
  const cases: [string, Record<string, string>, new (...a: never[]) => Error, RegExp][] = [
    [
      "a symlink to a file outside",
      { location: "link.bin" },
      FormatError,
      /resolves outside the model's folder$/,
    ],
    [
      "a range past the end of the data file",
      { location: "short.bin", offset: "4" },
      TruncatedError,
      /^Cannot read initializer 'w': 16 bytes at offset 4 of short\.bin go past its end \(8 bytes\)$/,
    ],
  ];
  for (const [name, external, errorClass, message] of cases) {
    await t.step(name, async () => {
      const path = `${dir.path}/model.onnx`;
      await Deno.writeFile(path, modelProto([tensorProto({ name: "w", dataType: 1, dims: [4], external })]));
      await assert.rejects(async () => await (await openOnnxPath(path)).close(), (e: Error) => {
        assert.ok(e instanceof errorClass, `${e.name}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
    });
  }
  await t.step("a model in memory cannot find its external data", async () => {
    const bytes = modelProto([
      tensorProto({ name: "w", dataType: 1, dims: [4], external: { location: "w.bin" } }),
    ]);
    const file = await openOnnx(bytesSource(bytes));
    await assert.rejects(() => file.tensors[0].read(), (e: Error) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /^Cannot read initializer 'w' of <memory>: its data is in an external file/);
      return true;
    });
    await file.close();
  });
});

Deno.test("ckpt inspect on a truncated ONNX file exits 2 with one line on stderr", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/broken.onnx`;
  await Deno.writeFile(path, (await Deno.readFile(MLP)).subarray(0, 3000));
  const result = await runCli(["inspect", path], { permissions: ONNX_PERMISSIONS });
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.match(
    result.stderr.trim(),
    /^ckpt inspect: Cannot decode ONNX model at offset 19: field 7 declares/,
  );
  assert.equal(result.stderr.trim().split("\n").length, 1);
});

Deno.test("writeOnnxPath() with the model's own tensors reproduces the model byte for byte", async () => {
  await using dir = await tempDir();
  const model = await openOnnxPath(MLP);
  await writeOnnxPath(model, `${dir.path}/copy.onnx`, { input: MLP });
  await model.close();
  assert.deepEqual(await Deno.readFile(`${dir.path}/copy.onnx`), await Deno.readFile(MLP));
});

Deno.test("writeOnnxPath() stores cast weights back in the graph's dtype (fake F16)", async () => {
  await using dir = await tempDir();
  const out = `${dir.path}/mlp-f16.onnx`;
  const model = await openOnnxPath(MLP);
  await writeOnnxPath(pipe(model, cast("F16")), out, { input: MLP });
  await model.close();
  const before = await readAll(MLP);
  const after = await readAll(out);
  for (const [name, { entry, bytes }] of before) {
    const got = after.get(name)!;
    assert.equal(got.entry.dtype, "F32");
    const count = elementCount(entry.shape);
    const roundTrip = castBytes(castBytes(bytes, "F32", "F16", count), "F16", "F32", count);
    assert.deepEqual(got.bytes, roundTrip, name);
  }
  // Same dtype and sizes: every byte outside the weights is unchanged, so the files are the same length.
  assert.equal((await Deno.stat(out)).size, (await Deno.stat(MLP)).size);
});

Deno.test({
  name: "writeOnnxPath() output passes onnx.checker and matches numpy_helper's view of the weights",
  ignore: skipUnlessPython("onnx", "numpy"),
  async fn() {
    await using dir = await tempDir();
    for (const input of [MLP, MLP_EXTERNAL, TYPED]) {
      const out = `${dir.path}/${input.slice(input.lastIndexOf("/") + 1)}`;
      const model = await openOnnxPath(input);
      await writeOnnxPath(pipe(model, cast("BF16")), out, { input });
      await model.close();
      const printed = await runPython(
        `
import sys, onnx, numpy as np
from onnx import numpy_helper
a = onnx.load(sys.argv[1]); b = onnx.load(sys.argv[2])
onnx.checker.check_model(b)
for x, y in zip(a.graph.initializer, b.graph.initializer):
    u = numpy_helper.to_array(x); v = numpy_helper.to_array(y)
    assert x.name == y.name and u.dtype == v.dtype and u.shape == v.shape, x.name
    if u.dtype == np.float32:
        bits = u.view(np.uint32).astype(np.uint64)
        rounded = (((bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)) << np.uint64(16)).astype(np.uint32).view(np.float32)
        assert np.array_equal(v, rounded), x.name
    elif u.dtype.kind == "f":
        assert np.allclose(v, u, rtol=2**-8, atol=0) and not np.array_equal(v, u), x.name
    else:
        assert np.array_equal(u, v), x.name
print(len(b.graph.initializer))
`,
        [input, out],
      );
      assert.ok(Number(printed.trim()) > 0);
    }
    // The external model's copy keeps its data external, beside the copy.
    assert.deepEqual(
      (await listDir(dir.path)).filter((n) => n.startsWith("mlp_external")),
      ["mlp_external.onnx", "mlp_external.onnx.data"],
    );
  },
});

Deno.test("writeOnnxPath() rejects tensors that do not fit the graph and leaves nothing behind", async (t) => {
  const w = new Uint8Array(new Float32Array(128 * 64).buffer);
  const cases: [string, () => Promise<void>, new (...a: never[]) => Error, RegExp][] = [
    [
      "a shape that differs from the graph's",
      () => write([tensorFromBytes("0.weight", "F32", [64, 128], w)]),
      UsageError,
      /^Cannot write '0\.weight' into an ONNX model: its shape \[64, 128\] differs from the graph's \[128, 64\]$/,
    ],
    [
      "a name that is not an initializer",
      () => write([tensorFromBytes("extra", "F32", [1], new Uint8Array(4))]),
      UsageError,
      /^Cannot write 'extra' into the ONNX model: it has no initializer of that name$/,
    ],
    [
      "an integer tensor for a float initializer",
      () => write([tensorFromBytes("0.weight", "I32", [128, 64], w)]),
      UsageError,
      /^Cannot write '0\.weight' into an ONNX model: it is I32 but the graph declares F32$/,
    ],
    [
      "a block-quantized tensor",
      () => write([{ ...tensorFromBytes("0.weight", "F32", [128, 64], w), encoding: "Q4_0" }]),
      UsageError,
      /^Cannot write '0\.weight' into an ONNX model: it is Q4_0-encoded; dequantize it first \(fake quantization\)$/,
    ],
    [
      "a tensor given twice",
      () =>
        write([
          tensorFromBytes("0.bias", "F32", [128], w.subarray(0, 512)),
          tensorFromBytes("0.bias", "F32", [128], w.subarray(0, 512)),
        ]),
      UsageError,
      /^Cannot write ONNX: tensor '0\.bias' appears twice$/,
    ],
    [
      "no source model",
      () => writeOnnxPath({ metadata: {}, tensors: [] }, `${dirPath}/out.onnx`, {}),
      UsageError,
      /^Cannot write ONNX without a source model/,
    ],
    [
      "the source model as the output",
      () => writeOnnxPath({ metadata: {}, tensors: [] }, MLP, { input: MLP }),
      TypeError,
      /^Refusing to write .*mlp\.onnx: it is also an input; choose another output path$/,
    ],
  ];
  await using dir = await tempDir();
  const dirPath = dir.path;
  function write(tensors: TensorEntry[]): Promise<void> {
    return writeOnnxPath({ metadata: {}, tensors }, `${dirPath}/out.onnx`, { input: MLP });
  }
  for (const [name, run, errorClass, message] of cases) {
    await t.step(name, async () => {
      await assert.rejects(run, (e: Error) => {
        assert.ok(e instanceof errorClass, `${e.name}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
      assert.deepEqual(await listDir(dirPath), []);
    });
  }
});

Deno.test("ckpt convert turns an ONNX model's initializers into safetensors", async () => {
  await using dir = await tempDir();
  const out = `${dir.path}/mlp.safetensors`;
  const result = await runCli(["convert", MLP, out], { permissions: ONNX_PERMISSIONS });
  assert.equal(result.code, 0, result.stderr);
  const a = await readAll(MLP);
  const b = await readAll(out);
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [name, { bytes }] of a) assert.deepEqual(b.get(name)!.bytes, bytes, name);
});

Deno.test({
  name: "openOnnx() on torchvision's ResNet-18 finds torchvision's parameter count among its weights",
  ignore: skipUnlessTorchOnnx(),
  async fn() {
    const path = await resnet18();
    const torchCount = JSON.parse(await Deno.readTextFile(path.replace(/\.onnx$/, ".json"))).parameters;
    assert.equal(torchCount, 11_689_512);
    const file = await openOnnxPath(path);
    try {
      const weights = file.tensors.filter((t) => !/running_(mean|var)$/.test(t.name));
      assert.equal(weights.reduce((n, t) => n + elementCount(t.shape), 0), torchCount);
      const report = sizeReport(file.tensors, file.fileBytes);
      assert.equal(report.groups.weights.tensors, weights.length);
      assert.equal(report.groups.buffers.tensors, 40); // 20 BatchNorms × running_mean, running_var
      const source = await fileSource(path);
      assert.equal(source.size, file.fileBytes);
      await source.close();
    } finally {
      await file.close();
    }
  },
});
