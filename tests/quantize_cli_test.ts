import assert from "node:assert/strict";
import { writeSafetensors } from "../formats/safetensors/mod.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { bytesOf, listDir, runCli, tempDir } from "./_helpers.ts";

async function makeModel(path: string): Promise<Float32Array> {
  const w = new Float32Array(32 * 64).map((_, i) => Math.cos(i * 0.07) * ((i % 9) + 1) * 0.1);
  await withSink(await fileSink(path), (sink) =>
    writeSafetensors({
      metadata: {},
      tensors: [
        tensorFromBytes("fc.weight", "F32", [32, 64], bytesOf(w)),
        tensorFromBytes("fc.bias", "F32", [32], bytesOf(new Float32Array(32).fill(0.5))),
      ],
    }, sink));
  return w;
}

Deno.test("ckpt quantize writes the output, a table and a JSON report", async () => {
  await using dir = await tempDir();
  await makeModel(`${dir.path}/m.safetensors`);
  const out = await runCli([
    "quantize",
    `${dir.path}/m.safetensors`,
    `${dir.path}/q.safetensors`,
    "--scheme",
    "int8",
    "--per-channel",
    "--device",
    "cpu",
    "--report",
    `${dir.path}/r.json`,
    "--verbose",
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^tensor\s+scheme\s+before\s+after\s+rmse\s+sqnr dB$/m);
  assert.match(out.stdout, /^fc\.weight\s+int8\s+8\.00 KiB\s+2\.13 KiB\s+\S+\s+\d+\.\d$/m);
  assert.match(out.stdout, /^fc\.bias\s+kept \(bias or norm\)/m);
  assert.match(out.stdout, /total \(1 of 2 quantized\)/);
  const report = JSON.parse(await Deno.readTextFile(`${dir.path}/r.json`));
  assert.equal(report.scheme, "int8");
  assert.equal(report.device, "cpu");
  assert.deepEqual(report.totals, { tensors: 2, quantized: 1, bytesBefore: 8320, bytesAfter: 2304 });
  const weight = report.tensors.find((t: { name: string }) => t.name === "fc.weight");
  assert.ok(weight.sqnrDb > 30 && weight.cosine > 0.999);
  const file = await openTensorFile(`${dir.path}/q.safetensors`);
  assert.deepEqual(file.tensors.map((t) => `${t.name}:${t.dtype}`).sort(), [
    "fc.bias:F32",
    "fc.weight.scale:F32",
    "fc.weight:I8",
  ]);
  await file.close();
});

Deno.test("ckpt quantize --json prints one object and convert --dtype F32 dequantizes", async () => {
  await using dir = await tempDir();
  const w = await makeModel(`${dir.path}/m.safetensors`);
  const out = await runCli([
    "quantize",
    `${dir.path}/m.safetensors`,
    `${dir.path}/q.safetensors`,
    "--scheme",
    "NF4",
    "--device",
    "cpu",
    "--json",
  ]);
  assert.equal(out.code, 0, out.stderr);
  const result = JSON.parse(out.stdout);
  assert.equal(result.tensors.length, 2);
  const back = await runCli([
    "convert",
    `${dir.path}/q.safetensors`,
    `${dir.path}/f.safetensors`,
    "--dtype",
    "F32",
  ]);
  assert.equal(back.code, 0, back.stderr);
  const file = await openTensorFile(`${dir.path}/f.safetensors`);
  const entry = file.tensors.find((t) => t.name === "fc.weight")!;
  const values = new Float32Array((await entry.read()).slice().buffer);
  let worst = 0;
  for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(values[i] - w[i]));
  assert.ok(worst < 0.9 * 0.153, `max error ${worst}`); // absmax × the widest half-gap between NF4 codes
  assert.deepEqual(file.tensors.map((t) => t.name).sort(), ["fc.bias", "fc.weight"]);
  await file.close();
});

Deno.test("ckpt quantize writes GGUF blocks that convert back to safetensors", async () => {
  await using dir = await tempDir();
  await makeModel(`${dir.path}/m.safetensors`);
  const out = await runCli([
    "quantize",
    `${dir.path}/m.safetensors`,
    `${dir.path}/q.gguf`,
    "--scheme",
    "Q8_0",
    "--device",
    "cpu",
  ]);
  assert.equal(out.code, 0, out.stderr);
  const file = await openTensorFile(`${dir.path}/q.gguf`);
  assert.equal(file.tensors.find((t) => t.name === "fc.weight")!.encoding, "Q8_0");
  await file.close();
  const back = await runCli(["convert", `${dir.path}/q.gguf`, `${dir.path}/f.safetensors`, "--dtype", "F32"]);
  assert.equal(back.code, 0, back.stderr);
});

Deno.test("ckpt quantize rejects bad usage with exit 2, one line and no output", async (t) => {
  const cases: [string, string[], RegExp][] = [
    [
      "an unknown scheme",
      ["--scheme", "Q3"],
      /^ckpt quantize: Unknown scheme 'Q3'; known schemes: F16, BF16, .*NF4, FP4$/,
    ],
    ["a missing scheme", [], /^ckpt quantize: Missing --scheme \(see --help\)$/],
    [
      "a GGUF scheme to safetensors",
      ["--scheme", "Q4_0"],
      /^ckpt quantize: Scheme Q4_0 writes ggml blocks, which only GGUF stores; use a \.gguf output$/,
    ],
    [
      "an unknown device",
      ["--scheme", "F16", "--device", "tpu"],
      /^ckpt quantize: Unknown --device 'tpu'; use auto, gpu or cpu$/,
    ],
    [
      "a bad axis",
      ["--scheme", "int8", "--axis", "x"],
      /^ckpt quantize: Invalid --axis 'x': expected an integer$/,
    ],
    [
      "an axis beyond the rank",
      ["--scheme", "int8", "--per-channel", "--axis", "5", "--device", "cpu"],
      /^ckpt quantize: Axis 5 is out of range for a tensor of rank 2$/,
    ],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      await using dir = await tempDir();
      await makeModel(`${dir.path}/m.safetensors`);
      const out = await runCli([
        "quantize",
        `${dir.path}/m.safetensors`,
        `${dir.path}/q.safetensors`,
        ...args,
      ]);
      assert.equal(out.code, 2);
      assert.match(out.stderr.trim(), message);
      assert.equal(out.stderr.trim().split("\n").length, 1);
      assert.deepEqual(await listDir(dir.path), ["m.safetensors"]);
    });
  }
});

Deno.test("ckpt quantize --help names the schemes and permissions", async () => {
  const out = await runCli(["quantize", "--help"]);
  assert.equal(out.code, 0);
  assert.match(out.stdout, /Usage: ckpt quantize IN OUT --scheme SCHEME/);
  assert.match(out.stdout, /minmax8/);
  assert.match(out.stdout, /Permissions: --allow-read/);
});

Deno.test("ckpt quantize --device auto keeps stderr clean on a machine without a display", async () => {
  await using dir = await tempDir();
  await makeModel(`${dir.path}/m.safetensors`);
  // An empty XDG_RUNTIME_DIR (as on headless machines) makes the native display probe log errors.
  const out = await runCli(
    [
      "quantize",
      `${dir.path}/m.safetensors`,
      `${dir.path}/q.safetensors`,
      "--scheme",
      "int8",
      "--device",
      "auto",
    ],
    {
      permissions: ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"],
      env: { XDG_RUNTIME_DIR: "" },
    },
  );
  assert.equal(out.code, 0, out.stderr);
  // Nothing on stderr; the device chosen is in the last line.
  assert.equal(out.stderr, "");
  assert.match(out.stdout, /written in .* on the (gpu \(|cpu)/);
});

Deno.test("ckpt quantize prints a summary by default and nothing with --quiet", async () => {
  await using dir = await tempDir();
  await makeModel(`${dir.path}/m.safetensors`);
  const args = ["quantize", `${dir.path}/m.safetensors`, `${dir.path}/q.safetensors`, "--scheme", "NF4"];
  const loud = await runCli([...args, "--device", "cpu"]);
  assert.equal(loud.code, 0, loud.stderr);
  assert.match(loud.stdout, /^1 of 2 tensors quantized: 8\.13 KiB → 1\.25 KiB of tensor data \(\d+\.\d%\)$/m);
  assert.match(loud.stdout, /^worst by SQNR \(of 1\):$/m);
  assert.match(loud.stdout, /^ {2}1 tensor \(128 B\): bias or norm$/m);
  assert.match(loud.stdout, /q\.safetensors: \S+ \S+ written in [\d.]+ s on the cpu/);
  assert.doesNotMatch(loud.stdout, /^tensor\s+scheme/m, "the per-tensor table needs --verbose");
  await Deno.remove(`${dir.path}/q.safetensors`);
  const quiet = await runCli([...args, "--device", "cpu", "--quiet"]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stdout, "");
  assert.equal(quiet.stderr, "");
  assert.ok((await Deno.stat(`${dir.path}/q.safetensors`)).isFile);
});
