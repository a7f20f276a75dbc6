// The default device: `auto` takes a GPU only when the adapter is hardware,
// `gpu` takes any; the GPU path writes tensors from their arrays in bounded
// chunks and still gives the CPU reference's bytes.

import assert from "node:assert/strict";
import { classifyAdapter } from "../gpu/adapter_kind.ts";
import { gpuBackend, requestGpu } from "../gpu/request_gpu.ts";
import { GpuQuantizer } from "../gpu/gpu_quantizer.ts";
import { resolveDevice } from "../lib/quant/mod.ts";
import { schemeByName } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import type { QuantSettings } from "../lib/quant/scheme.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";
import { runCli, tempDir } from "./_helpers.ts";

Deno.test("classifyAdapter() tells software rasterizers from hardware", async (t) => {
  const cases: [string, Parameters<typeof classifyAdapter>[0], "hardware" | "software", RegExp][] = [
    [
      "llvmpipe as Deno reports it",
      {
        vendor: "65541",
        device: "0",
        description: "llvmpipe (LLVM 15.0.6, 256 bits)",
        isFallbackAdapter: true,
      },
      "software",
      /fallback adapter/,
    ],
    [
      "llvmpipe without the fallback flag",
      { description: "llvmpipe (LLVM 17.0.6, 256 bits)" },
      "software",
      /llvmpipe/,
    ],
    ["lavapipe by vendor id only", { vendor: "0x10005", device: "0" }, "software", /Mesa/],
    ["SwiftShader", { vendor: "6880", device: "49374", description: "" }, "software", /SwiftShader/],
    ["SwiftShader by name", { description: "SwiftShader Device (Subzero)" }, "software", /SwiftShader/i],
    [
      "WARP",
      { vendor: "5140", device: "140", description: "Microsoft Basic Render Driver" },
      "software",
      /basic render/i,
    ],
    ["an NVIDIA H200", { vendor: "4318", device: "8997", description: "NVIDIA H200" }, "hardware", /no sign/],
    [
      "an AMD GPU",
      { vendor: "4098", architecture: "rdna-3", description: "AMD Radeon RX 7900 XTX" },
      "hardware",
      /no sign/,
    ],
    ["Apple silicon", { vendor: "apple", architecture: "metal-3", description: "" }, "hardware", /no sign/],
  ];
  for (const [label, info, kind, reason] of cases) {
    await t.step(label, () => {
      const c = classifyAdapter(info);
      assert.equal(c.kind, kind);
      assert.match(c.reason, reason);
      assert.ok(c.name.length > 0);
    });
  }
  assert.equal(classifyAdapter({ vendor: "apple", architecture: "metal-3" }).name, "apple metal-3");
  assert.equal(classifyAdapter({}).name, "WebGPU adapter");
});

const gpu = await requestGpu();
if (!gpu) console.warn("skipping the adapter tests: WebGPU has no adapter here");

Deno.test({
  name: "resolveDevice(): auto uses only a hardware adapter, gpu uses any",
  ignore: !gpu,
  async fn() {
    const backend = await gpuBackend();
    assert.equal(backend?.software, gpu!.adapter.kind === "software");
    const forced = await resolveDevice("gpu");
    assert.equal(forced.backend?.name, gpu!.adapterName);
    const auto = await resolveDevice("auto");
    if (gpu!.adapter.kind === "software") {
      assert.equal(auto.backend, undefined);
      assert.match(auto.reason, /^cpu \(left the software adapter .* alone: .*; --device gpu uses it\)$/);
      assert.match(forced.reason, /^gpu \(.*, a software adapter\)$/);
    } else {
      assert.equal(auto.backend?.name, gpu!.adapterName);
      assert.equal(auto.reason, `gpu (${gpu!.adapterName})`);
    }
    assert.equal((await resolveDevice("cpu")).backend, undefined);
    assert.equal((await resolveDevice("cpu")).reason, "cpu");
  },
});

Deno.test({
  name: "the adapter here is classified from what WebGPU reports (llvmpipe is software)",
  ignore: !gpu,
  async fn() {
    const adapter = await navigator.gpu.requestAdapter();
    const c = classifyAdapter(adapter!.info);
    assert.equal(c.kind, gpu!.adapter.kind);
    if (/llvmpipe|swiftshader|lavapipe/i.test(adapter!.info.description)) assert.equal(c.kind, "software");
  },
});

Deno.test({
  name: "ckpt quantize names the device it chose: --device auto and --device gpu",
  ignore: !gpu,
  async fn() {
    await using dir = await tempDir();
    const w = new Float32Array(64 * 32).map((_, i) => Math.sin(i));
    await withSink(await fileSink(`${dir.path}/m.safetensors`), (sink) =>
      writeSafetensors({
        metadata: {},
        tensors: [tensorFromBytes("w", "F32", [64, 32], new Uint8Array(w.buffer))],
      }, sink));
    const run = (device: string) =>
      runCli(
        ["quantize", `${dir.path}/m.safetensors`, `${dir.path}/q-${device}.safetensors`, "--scheme", "int8"]
          .concat(["--device", device, "--json", "--quiet"]),
        {
          permissions: ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"],
          env: { XDG_RUNTIME_DIR: "" },
        },
      );
    const [auto, forced] = [await run("auto"), await run("gpu")];
    assert.equal(auto.code, 0, auto.stderr);
    assert.equal(forced.code, 0, forced.stderr);
    const autoDevice = JSON.parse(auto.stdout).device as string;
    const forcedDevice = JSON.parse(forced.stdout).device as string;
    assert.ok(forcedDevice.startsWith(`gpu (${gpu!.adapterName}`), forcedDevice);
    if (gpu!.adapter.kind === "software") assert.match(autoDevice, /^cpu \(left the software adapter /);
    else assert.equal(autoDevice, forcedDevice);
    assert.deepEqual(
      await Deno.readFile(`${dir.path}/q-auto.safetensors`),
      await Deno.readFile(`${dir.path}/q-gpu.safetensors`),
    );
  },
});

Deno.test({
  name:
    "GpuQuantizer's default chunks (16 MiB, 64 MiB in flight) give the CPU's bytes, many tensors and one large",
  ignore: !gpu,
  async fn() {
    const q = await GpuQuantizer.create();
    assert.ok(q);
    try {
      const values = (n: number, seed: number) => {
        const x = new Float32Array(n);
        let s = seed;
        for (let i = 0; i < n; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          x[i] = (s / 2 ** 32 - 0.5) * (1 + (i % 7));
        }
        return x;
      };
      // 6M values (24 MiB): two chunks; the small ones share a chunk, at odd offsets.
      const sizes = [[96, 32], [3, 64], [1536, 4096], [1, 32], [5, 96]];
      const cases: [string, Partial<QuantSettings>][] = [["Q8_0", {}], ["NF4", {}], ["int8", {
        perChannel: true,
      }]];
      for (const [name, partial] of cases) {
        const scheme = schemeByName(name);
        const settings = { ...DEFAULT_SETTINGS, ...partial };
        const jobs = sizes.map((shape, i) => {
          const plan = scheme.plan(shape, settings);
          return { scheme, plan, values: values(plan.count, i + 1) };
        });
        const results = await q.quantize(jobs);
        jobs.forEach((job, i) => {
          const cpu = scheme.quantize(job.plan, job.values);
          assert.deepEqual(results[i].data, cpu.data, `${name} tensor ${i}`);
          assert.deepEqual(results[i].companions, cpu.companions, `${name} tensor ${i} companions`);
        });
        assert.equal(q.liveBuffers, 0);
      }
    } finally {
      q.destroy();
    }
  },
});
