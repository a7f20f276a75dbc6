import assert from "node:assert/strict";
import type { SchemeName } from "../lib/quant/mod.ts";
import {
  dequantize,
  hasQuantizedTensors,
  QUANTIZATION_METADATA_KEY,
  quantize,
  registerGpuProvider,
  type TensorReport,
} from "../lib/quant/mod.ts";
import { pipe } from "../lib/pipeline.ts";
import {
  collectTensors,
  finalMetadata,
  type TensorEntry,
  tensorFromBytes,
  type TensorStream,
} from "../lib/tensor.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { writeSafetensors } from "../formats/safetensors/mod.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { gpuBackend } from "../gpu/mod.ts";
import { bytesOf } from "./_helpers.ts";

function wave(n: number, phase = 0): Float32Array {
  return new Float32Array(n).map((_, i) => Math.sin(i * 0.113 + phase) * (1 + (i % 5)));
}

function model(): TensorStream {
  return {
    metadata: { format: "pt" },
    tensors: [
      tensorFromBytes("layer.weight", "F32", [16, 64], bytesOf(wave(1024))),
      tensorFromBytes("layer.bias", "F32", [16], bytesOf(wave(16, 1))),
      tensorFromBytes("norm.weight", "F32", [64], bytesOf(wave(64, 2))),
      tensorFromBytes("odd.weight", "F32", [3, 10], bytesOf(wave(30, 3))),
      tensorFromBytes("steps", "I64", [2], new Uint8Array(16)),
    ],
  };
}

async function readAll(
  stream: TensorStream,
): Promise<Map<string, { entry: TensorEntry; bytes: Uint8Array }>> {
  const out = new Map();
  for (const entry of await collectTensors(stream)) {
    out.set(entry.name, { entry, bytes: (await entry.read()).slice() });
  }
  return out;
}

Deno.test("quantize() writes codes, companions and a ckpt.quantization record per tensor", async (t) => {
  await t.step("int8 per channel", async () => {
    const stream = pipe(model(), quantize({ scheme: "int8", perChannel: true }, { device: "cpu" }));
    const tensors = await readAll(stream);
    assert.deepEqual([...tensors.keys()], [
      "layer.weight",
      "layer.weight.scale",
      "layer.bias",
      "norm.weight",
      "odd.weight",
      "odd.weight.scale",
      "steps",
    ]);
    const w = tensors.get("layer.weight")!.entry;
    assert.deepEqual([w.dtype, w.shape], ["I8", [16, 64]]);
    assert.deepEqual(tensors.get("layer.weight.scale")!.entry.shape, [16]);
    const records = JSON.parse(finalMetadata(stream)[QUANTIZATION_METADATA_KEY]);
    assert.deepEqual(records["layer.weight"], {
      scheme: "int8",
      dtype: "F32",
      shape: [16, 64],
      perChannel: true,
      axis: 0,
    });
    assert.equal(stream.metadata.format, "pt");
  });
  await t.step("Q4_0 as block-encoded entries, with rows not of 32 kept", async () => {
    const reports: TensorReport[] = [];
    const stream = pipe(
      model(),
      quantize({ scheme: "Q4_0" }, { device: "cpu", onTensor: (r) => reports.push(r) }),
    );
    const tensors = await readAll(stream);
    const w = tensors.get("layer.weight")!;
    assert.deepEqual([w.entry.encoding, w.entry.dtype, w.entry.byteLength, w.bytes.length], [
      "Q4_0",
      "F32",
      576,
      576,
    ]);
    assert.equal(tensors.get("odd.weight")!.entry.dtype, "F32");
    const odd = reports.find((r) => r.name === "odd.weight")!;
    assert.deepEqual([odd.scheme, odd.reason], [
      "none",
      "its innermost dimension 10 is not a multiple of 32",
    ]);
    assert.equal(QUANTIZATION_METADATA_KEY in stream.metadata, false);
  });
  await t.step("keep1d: false quantizes biases and norms too", async () => {
    const stream = pipe(model(), quantize({ scheme: "F16", keep1d: false }, { device: "cpu" }));
    const tensors = await readAll(stream);
    assert.equal(tensors.get("layer.bias")!.entry.dtype, "F16");
    assert.equal(tensors.get("steps")!.entry.dtype, "I64");
  });
  await t.step("include and exclude choose tensors by name", async () => {
    const stream = pipe(
      model(),
      quantize({ scheme: "BF16", include: "weight", exclude: "^odd" }, { device: "cpu" }),
    );
    const tensors = await readAll(stream);
    assert.equal(tensors.get("layer.weight")!.entry.dtype, "BF16");
    assert.equal(tensors.get("odd.weight")!.entry.dtype, "F32");
  });
});

Deno.test("quantize() reports metrics computed on the same pass", async () => {
  const reports: TensorReport[] = [];
  await readAll(
    pipe(model(), quantize({ scheme: "Q8_0" }, { device: "cpu", onTensor: (r) => reports.push(r) })),
  );
  const w = reports.find((r) => r.name === "layer.weight")!;
  assert.equal(w.device, "cpu");
  assert.equal(w.bytesBefore, 4096);
  assert.equal(w.bytesAfter, 1088);
  assert.ok(w.metrics!.sqnrDb > 35 && w.metrics!.sqnrDb < 60, `sqnr ${w.metrics!.sqnrDb}`);
  assert.ok(w.metrics!.cosine > 0.999);
  const bias = reports.find((r) => r.name === "layer.bias")!;
  assert.deepEqual([bias.scheme, bias.reason], ["none", "bias or norm"]);
});

Deno.test("dequantize() reverses every codes scheme through a safetensors file", async (t) => {
  for (const scheme of ["int8", "minmax4", "NF4", "FP4", "F8_E4M3", "F16"] as const) {
    await t.step(scheme, async () => {
      const sink = memorySink();
      await writeSafetensors(
        pipe(model(), quantize({ scheme, doubleQuant: scheme === "FP4" }, { device: "cpu" })),
        sink,
      );
      const file = await openTensorFile(sink.bytes());
      assert.ok(hasQuantizedTensors(file));
      const restored = pipe(file, dequantize());
      const tensors = await readAll(restored);
      assert.deepEqual([...tensors.keys()].sort(), [
        "layer.bias",
        "layer.weight",
        "norm.weight",
        "odd.weight",
        "steps",
      ]);
      const w = tensors.get("layer.weight")!;
      assert.deepEqual([w.entry.dtype, w.entry.shape], ["F32", [16, 64]]);
      const values = new Float32Array(w.bytes.buffer);
      const x = wave(1024);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(values[i] - x[i]));
      assert.ok(worst < 1.5, `${scheme}: max error ${worst}`);
      assert.equal(QUANTIZATION_METADATA_KEY in restored.metadata, false);
      await file.close();
    });
  }
  await t.step("ggml blocks decode to F32 or the asked dtype", async () => {
    const stream = pipe(
      model(),
      quantize({ scheme: "Q5_1" }, { device: "cpu" }),
      dequantize({ dtype: "F16" }),
    );
    const w = (await readAll(stream)).get("layer.weight")!;
    assert.deepEqual([w.entry.dtype, w.entry.encoding, w.bytes.length], ["F16", undefined, 2048]);
  });
});

Deno.test("dequantize() rejects broken quantization records", async (t) => {
  const code = tensorFromBytes("w", "I8", [2, 2], new Uint8Array(4));
  const scale = tensorFromBytes("w.scale", "F32", [], new Uint8Array(4));
  const cases: [string, Record<string, string>, TensorEntry[], string][] = [
    [
      "invalid JSON",
      { [QUANTIZATION_METADATA_KEY]: "{" },
      [code],
      "Cannot parse the ckpt.quantization metadata: invalid JSON",
    ],
    [
      "not an object",
      { [QUANTIZATION_METADATA_KEY]: "[1]" },
      [code],
      "Cannot parse the ckpt.quantization metadata: expected a JSON object",
    ],
    [
      "a bad record",
      { [QUANTIZATION_METADATA_KEY]: '{"w":{"scheme":"int8","dtype":"F99","shape":[2,2]}}' },
      [code],
      "Cannot parse the ckpt.quantization entry for 'w'",
    ],
    [
      "an unknown scheme",
      { [QUANTIZATION_METADATA_KEY]: '{"w":{"scheme":"Q9","dtype":"F32","shape":[2,2]}}' },
      [code],
      "Tensor 'w' was quantized with an unknown scheme 'Q9'",
    ],
    [
      "a missing companion",
      { [QUANTIZATION_METADATA_KEY]: '{"w":{"scheme":"int8","dtype":"F32","shape":[2,2]}}' },
      [code],
      "Cannot dequantize 'w': its companion 'w.scale' is missing",
    ],
    [
      "codes of the wrong length",
      { [QUANTIZATION_METADATA_KEY]: '{"w":{"scheme":"int8","dtype":"F32","shape":[3,2]}}' },
      [code, scale],
      "Cannot dequantize 'w': its code tensor holds 4 bytes, expected 6",
    ],
  ];
  for (const [name, metadata, tensors, message] of cases) {
    await t.step(name, async () => {
      await assert.rejects(
        () => collectTensors(dequantize()({ metadata, tensors })),
        (e: Error) => e.name === "FormatError" && e.message === message,
      );
    });
  }
});

Deno.test("quantize() rejects unknown schemes and devices", async (t) => {
  await t.step("unknown scheme", () => {
    assert.throws(
      () => quantize({ scheme: "int4" as SchemeName }),
      (e: Error) =>
        e.name === "UsageError" && e.message.startsWith("Unknown scheme 'int4'; known schemes: F16"),
    );
  });
  await t.step("unknown device", () => {
    assert.throws(
      () => quantize({ scheme: "F16" }, { device: "tpu" as "cpu" }),
      (e: Error) => e.name === "UsageError" && e.message === "Unknown device 'tpu'; use auto, gpu or cpu",
    );
  });
  await t.step("device gpu without an adapter", async () => {
    registerGpuProvider(() => Promise.resolve(undefined));
    try {
      const stream = pipe(model(), quantize({ scheme: "F16" }, { device: "gpu" }));
      await assert.rejects(
        () => readAll(stream),
        (e: Error) =>
          e.name === "UsageError" &&
          e.message === "No WebGPU adapter is available; use --device cpu (or auto to fall back)",
      );
    } finally {
      registerGpuProvider(gpuBackend);
    }
  });
});

Deno.test("quantize() on the GPU gives the CPU's bytes through the transform", async (t) => {
  const backend = await gpuBackend();
  if (!backend) {
    console.warn("skipping: WebGPU has no adapter here");
    return;
  }
  for (const scheme of ["Q4_1", "int8", "NF4", "minmax6", "F8_E5M2"] as const) {
    await t.step(scheme, async () => {
      const gpuReports: TensorReport[] = [];
      const onGpu = await readAll(
        pipe(model(), quantize({ scheme }, { device: "gpu", onTensor: (r) => gpuReports.push(r) })),
      );
      const onCpu = await readAll(pipe(model(), quantize({ scheme }, { device: "cpu" })));
      assert.deepEqual([...onGpu.keys()], [...onCpu.keys()]);
      for (const [name, { bytes }] of onCpu) assert.deepEqual(onGpu.get(name)!.bytes, bytes, name);
      assert.ok(gpuReports.some((r) => r.device === "gpu"));
    });
  }
});

Deno.test("quantize() holds at most heldBytes of unread results and recomputes the rest identically", async () => {
  // Eight 16×64 weights; each int8 result is 1024 codes + 64 bytes of scales.
  let sourceReads = 0;
  const source = (): TensorStream => ({
    metadata: {},
    tensors: Array.from({ length: 8 }, (_, i) => {
      const entry = tensorFromBytes(`w${i}`, "F32", [16, 64], bytesOf(wave(1024, i)));
      return { ...entry, read: (out?: Uint8Array) => (sourceReads++, entry.read(out)) };
    }),
  });
  const reference = await readAll(
    pipe(source(), quantize({ scheme: "int8", perChannel: true }, { device: "cpu" })),
  );
  for (const [heldBytes, expectedReads] of [[Infinity, 8], [3 * 1088, 8 + 5], [0, 16]] as const) {
    sourceReads = 0;
    const reports: string[] = [];
    const entries = await collectTensors(
      pipe(
        source(),
        quantize({ scheme: "int8", perChannel: true }, {
          device: "cpu",
          heldBytes,
          onTensor: (r) => reports.push(r.name),
        }),
      ),
    );
    // A dtype-ordered writer's order: every F32 scale, then every I8 code tensor.
    const order = [...entries.filter((e) => e.dtype === "F32"), ...entries.filter((e) => e.dtype === "I8")];
    for (const entry of order) {
      assert.deepEqual(
        (await entry.read()).slice(),
        reference.get(entry.name)!.bytes,
        `${heldBytes} ${entry.name}`,
      );
    }
    assert.equal(sourceReads, expectedReads, `heldBytes ${heldBytes}`);
    assert.deepEqual(reports.sort(), ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"]);
  }
});
