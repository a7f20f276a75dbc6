// Quantized torch.ao state dicts, made by torch 2.x (tests/data/torch/make_quantized.py)
// in the setup, read by default and dequantized exactly as torch's dequantize() does.
import assert from "node:assert/strict";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { openTorch } from "../formats/torch/mod.ts";
import { fileSource } from "../lib/byte_source.ts";
import { dequantize, QUANTIZATION_METADATA_KEY } from "../lib/quant/mod.ts";
import type { TensorEntry, TensorStream } from "../lib/tensor.ts";
import { DATA, runCli, tempDir } from "./_helpers.ts";
import { runVenv, skipUnlessVenv } from "./_oracles.ts";

const ignore = skipUnlessVenv("torch", "safetensors");

async function generated(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await tempDir("ckpt-quantized-");
  await runVenv(await Deno.readTextFile(`${DATA}/torch/make_quantized.py`), [dir.path]);
  return dir;
}

async function tensorsOf(stream: TensorStream): Promise<Map<string, TensorEntry>> {
  const out = new Map<string, TensorEntry>();
  for await (const t of stream.tensors) out.set(t.name, t);
  return out;
}

async function assertSameTensors(actual: TensorStream, expectedPath: string): Promise<void> {
  const want = await openTensorFile(expectedPath);
  const got = await tensorsOf(actual);
  assert.deepEqual([...got.keys()].sort(), want.tensors.map((t) => t.name).sort());
  for (const w of want.tensors) {
    const g = got.get(w.name)!;
    assert.equal(g.dtype, w.dtype, w.name);
    assert.deepEqual(g.shape, w.shape, w.name);
    // Byte equality: every float32 equals torch's dequantize() output bit for bit.
    assert.deepEqual(await g.read(), await w.read(), w.name);
  }
  await want.close();
}

Deno.test({
  name:
    "openTorch() reads torch.ao quantized state dicts without --permissive, as int8 codes torch's dequantize() reverses",
  ignore,
  async fn(t) {
    await using dir = await generated();
    await t.step("static: per-channel qint8 conv weights", async () => {
      const file = await openTorch(await fileSource(`${dir.path}/static.pt`));
      const byName = new Map(file.tensors.map((e) => [e.name, e]));
      assert.equal(byName.get("conv1.weight")!.dtype, "I8");
      assert.deepEqual(byName.get("conv1.weight.scale")!.shape, [4]);
      assert.equal(byName.has("conv1.weight.zero_point"), false); // symmetric: zero points are all 0
      assert.equal(byName.get("conv1.scale")!.dtype, "F32"); // the activation's scale, a plain tensor
      const records = JSON.parse(file.metadata[QUANTIZATION_METADATA_KEY]);
      assert.deepEqual(records["conv1.weight"], {
        scheme: "int8",
        dtype: "F32",
        shape: [4, 3, 3, 3],
        perChannel: true,
        affine: false,
        axis: 0,
      });
      await assertSameTensors(dequantize()(file), `${dir.path}/static.expected.safetensors`);
      await file.close();
    });
    await t.step("dynamic: packed Linear weight and bias unpacked", async () => {
      const file = await openTorch(await fileSource(`${dir.path}/dynamic.pt`));
      const names = file.tensors.map((e) => e.name);
      assert.ok(
        names.includes("0.weight") && names.includes("0.bias") && names.includes("2.weight"),
        `${names}`,
      );
      assert.ok(!names.some((n) => n.includes("_packed_params._packed_params")));
      assert.equal(file.tensors.find((e) => e.name === "0.weight")!.dtype, "I8");
      await assertSameTensors(dequantize()(file), `${dir.path}/dynamic.expected.safetensors`);
      await file.close();
    });
    await t.step(
      "qint8 with a zero point, quint8 along axis 1, float64 scales, qint32, float zero points",
      async () => {
        const file = await openTorch(await fileSource(`${dir.path}/tensors.pt`));
        const byName = new Map(file.tensors.map((e) => [e.name, e]));
        // qint8 codes with a nonzero zero point move to quint8's range (q - zp is unchanged).
        assert.equal(byName.get("qint8_zp")!.dtype, "U8");
        assert.deepEqual(byName.get("quint8_axis1.zero_point")!.shape, [6]);
        // Scales float32 cannot hold are applied in float64 as torch does, on read.
        assert.equal(byName.get("qint8_f64_scales")!.dtype, "F32");
        // qint32 codes and float zero points do not fit int8 codes: read as torch's float32 values.
        assert.equal(byName.get("qint32")!.dtype, "F32");
        assert.equal(byName.get("float_qparams")!.dtype, "F32");
        await assertSameTensors(dequantize()(file), `${dir.path}/tensors.expected.safetensors`);
        await file.close();
      },
    );
    await t.step(
      "ckpt convert keeps them quantized in safetensors; --dtype F32 equals torch's dequantize()",
      async () => {
        const q = `${dir.path}/q.safetensors`;
        const f = `${dir.path}/f.safetensors`;
        const r1 = await runCli(["convert", `${dir.path}/static.pt`, q]);
        assert.equal(r1.code, 0, r1.stderr);
        const kept = await openTensorFile(q);
        assert.equal(kept.tensors.find((e) => e.name === "conv2.weight")!.dtype, "I8");
        assert.ok(kept.metadata[QUANTIZATION_METADATA_KEY].includes('"conv2.weight"'));
        // The quantized safetensors file dequantizes to torch's values too.
        await assertSameTensors(dequantize()(kept), `${dir.path}/static.expected.safetensors`);
        await kept.close();
        const r2 = await runCli(["convert", `${dir.path}/static.pt`, f, "--dtype", "F32"]);
        assert.equal(r2.code, 0, r2.stderr);
        const back = await openTensorFile(f);
        await assertSameTensors(back, `${dir.path}/static.expected.safetensors`);
        await back.close();
      },
    );
  },
});
