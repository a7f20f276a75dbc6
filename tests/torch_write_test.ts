import assert from "node:assert/strict";
import { bytesSource, fileSource } from "../lib/byte_source.ts";
import { byteLengthOf, type DType, DTYPES } from "../lib/dtype.ts";
import { fileSink, memorySink, withSink } from "../lib/byte_sink.ts";
import { UsageError } from "../lib/errors.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { openTorch, writeTorch } from "../formats/torch/mod.ts";
import { openZip } from "../formats/zip/mod.ts";
import { bytesOf, DATA, runCli, runPython, skipUnlessPython, tempDir } from "./_helpers.ts";
import { runVenv, skipUnlessVenv } from "./_oracles.ts";

const TORCH = `${DATA}/torch`;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("writeTorch() lays out the records torch writes, each on a 64-byte boundary", async () => {
  const sink = memorySink();
  await writeTorch({
    metadata: {},
    tensors: [
      tensorFromBytes("a", "F32", [3], bytesOf(new Float32Array([1, 2, 3]))),
      tensorFromBytes("b.c", "I64", [], bytesOf(new BigInt64Array([7n]))),
    ],
  }, sink);
  await sink.close();
  const zip = await openZip(bytesSource(sink.bytes()));
  assert.deepEqual(zip.entries.map((e) => e.name), [
    "archive/data.pkl",
    "archive/data/0",
    "archive/data/1",
    "archive/version",
  ]);
  for (const e of zip.entries) assert.equal(e.dataOffset % 64, 0, e.name);
  const back = await openTorch(bytesSource(sink.bytes()));
  assert.deepEqual(back.tensors.map((t) => [t.name, t.dtype, t.shape]), [["a", "F32", [3]], [
    "b.c",
    "I64",
    [],
  ]]);
  assert.deepEqual(
    new Float32Array((await back.tensors[0].read()).slice().buffer),
    new Float32Array([1, 2, 3]),
  );
});

Deno.test("writeTorch() refuses dtypes torch has no dtype for", async (t) => {
  for (const dtype of ["F4", "F6_E2M3", "F6_E3M2"] as const) {
    await t.step(dtype, async () => {
      await assert.rejects(
        writeTorch(
          {
            metadata: {},
            tensors: [tensorFromBytes("q", dtype, [4], new Uint8Array(byteLengthOf(dtype, [4])))],
          },
          memorySink(),
        ),
        (e: Error) => {
          assert.ok(e instanceof UsageError);
          assert.match(
            e.message,
            new RegExp(`Cannot write 'q' to a PyTorch file: torch has no dtype for ${dtype}`),
          );
          return true;
        },
      );
    });
  }
});

// ckpt dtype -> the torch dtype torch 2.x loads it as.
const TORCH_NAMES: Partial<Record<DType, string>> = {
  BOOL: "torch.bool",
  U8: "torch.uint8",
  I8: "torch.int8",
  U16: "torch.uint16",
  I16: "torch.int16",
  F16: "torch.float16",
  BF16: "torch.bfloat16",
  U32: "torch.uint32",
  I32: "torch.int32",
  F32: "torch.float32",
  C64: "torch.complex64",
  C128: "torch.complex128",
  F64: "torch.float64",
  U64: "torch.uint64",
  I64: "torch.int64",
  F8_E4M3: "torch.float8_e4m3fn",
  F8_E5M2: "torch.float8_e5m2",
  F8_E8M0: "torch.float8_e8m0fnu",
  F8_E4M3FNUZ: "torch.float8_e4m3fnuz",
  F8_E5M2FNUZ: "torch.float8_e5m2fnuz",
};

Deno.test({
  name: "torch 2.x loads writeTorch() output of every dtype with weights_only=True, bytes equal",
  ignore: skipUnlessVenv("torch"),
  async fn() {
    await using dir = await tempDir();
    const path = `${dir.path}/all.pt`;
    const dtypes = (Object.keys(DTYPES) as DType[]).filter((d) => !["F4", "F6_E2M3", "F6_E3M2"].includes(d));
    // Every ckpt dtype but the packed sub-byte ones (refused above) has a torch dtype.
    assert.deepEqual(dtypes.filter((d) => !TORCH_NAMES[d]), []);
    const tensors = dtypes.map((d, k) => {
      const bytes = new Uint8Array(byteLengthOf(d, [2, 3])).map((_, i) =>
        d === "BOOL" ? (i + k) & 1 : (i * 37 + k) & 0x7f
      );
      return tensorFromBytes(`t.${d}`, d, [2, 3], bytes);
    });
    await withSink(await fileSink(path), (sink) => writeTorch({ metadata: {}, tensors }, sink));
    const out = await runVenv(
      `import sys, json, torch
sd = torch.load(sys.argv[1], weights_only=True)
print(json.dumps({k: [str(v.dtype), list(v.shape), bytes(v.contiguous().untyped_storage()).hex()] for k, v in sd.items()}))`,
      [path],
    );
    const loaded = JSON.parse(out) as Record<string, [string, number[], string]>;
    assert.deepEqual(Object.keys(loaded), tensors.map((t) => t.name));
    for (const t of tensors) {
      assert.deepEqual(loaded[t.name], [TORCH_NAMES[t.dtype], [2, 3], hex(await t.read())], t.name);
    }
    // And ckpt reads its own file back.
    const back = await openTorch(await fileSource(path));
    assert.deepEqual(back.tensors.map((t) => t.dtype), dtypes);
    await back.close();
  },
});

Deno.test("torch.load(weights_only=True) accepts writeTorch() output with every value equal", {
  ignore: skipUnlessPython("torch"),
}, async (t) => {
  await using dir = await tempDir();
  for (const fixture of ["dtypes", "views", "mobilenet"]) {
    await t.step(fixture, async () => {
      // Read torch's own file, write it back with ckpt, load it with torch.
      const path = `${dir.path}/${fixture}.pt`;
      const source = await openTensorFile(`${TORCH}/${fixture}.pt`);
      await withSink(await fileSink(path), (sink) => writeTorch(source, sink));
      await source.close();
      const out = await runPython(
        `import sys, json, hashlib, torch
sd = torch.load(sys.argv[1], weights_only=True)
def raw(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16: t = t.view(torch.int16)
    return t.numpy().tobytes()
print(json.dumps({k: [type(sd).__name__, str(v.dtype), list(v.shape), hashlib.sha256(raw(v)).hexdigest()] for k, v in sd.items()}))`,
        [path],
      );
      const loaded = JSON.parse(out) as Record<string, [string, string, number[], string]>;
      const expected = JSON.parse(await Deno.readTextFile(`${TORCH}/${fixture}.expected.json`)).tensors;
      assert.deepEqual(Object.keys(loaded).sort(), Object.keys(expected).sort());
      for (const [name, [type, , shape, digest]] of Object.entries(loaded)) {
        assert.equal(type, "OrderedDict");
        assert.deepEqual(shape, expected[name].shape, name);
        const want = expected[name].sha256 ??
          hex(new Uint8Array(await crypto.subtle.digest("SHA-256", hexBytes(expected[name].hex)))) as string;
        assert.equal(digest, want, name);
      }
    });
  }
});

function hexBytes(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

Deno.test("ckpt convert turns a torchvision resnet18 .pt into safetensors with the same values", {
  ignore: skipUnlessPython("torch", "torchvision"),
}, async () => {
  await using dir = await tempDir();
  const pt = `${dir.path}/resnet18.pt`;
  const st = `${dir.path}/resnet18.safetensors`;
  await runPython(
    `import sys, torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])`,
    [pt],
  );
  const result = await runCli(["convert", pt, st]);
  assert.equal(result.code, 0, result.stderr);
  // Compare every tensor's bytes, read back by Python from the safetensors layout.
  const out = await runPython(
    `import sys, json, struct, torch
sd = torch.load(sys.argv[1], weights_only=True)
b = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
bad = [k for k, v in sd.items() if b[8 + n + h[k]["data_offsets"][0]:8 + n + h[k]["data_offsets"][1]] != v.contiguous().numpy().tobytes()
       or h[k]["shape"] != list(v.shape)]
print(json.dumps({"count": len(sd), "header": len([k for k in h if k != "__metadata__"]), "bad": bad}))`,
    [pt, st],
  );
  const report = JSON.parse(out);
  assert.equal(report.count, 122);
  assert.equal(report.header, 122);
  assert.deepEqual(report.bad, []);
});

Deno.test("cli/pt2safetensors.ts converts a checkpoint and leaves nothing behind on bad input", async (t) => {
  await using dir = await tempDir();
  await t.step("good input", async () => {
    const out = `${dir.path}/m.safetensors`;
    const result = await runCli([`${TORCH}/checkpoint.pt`, out], { script: "cli/pt2safetensors.ts" });
    assert.equal(result.code, 0, result.stderr);
    const file = await openTensorFile(out);
    assert.equal(file.tensors.length, 16);
    assert.equal(file.metadata.epoch, "3");
    assert.equal(file.metadata.format, "pt");
    await file.close();
  });
  await t.step("truncated input", async () => {
    const bad = `${dir.path}/bad.pt`;
    await Deno.writeFile(bad, (await Deno.readFile(`${TORCH}/checkpoint.pt`)).subarray(0, 2000));
    const result = await runCli([bad, `${dir.path}/bad.safetensors`], { script: "cli/pt2safetensors.ts" });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^ckpt pt2safetensors: Cannot read zip .*no end-of-central-directory record\n$/,
    );
    await assert.rejects(Deno.stat(`${dir.path}/bad.safetensors`), Deno.errors.NotFound);
  });
});
