// Tensors of one file spread over CPU Workers: the same bytes and the same
// error metrics whatever the number of workers, through the library and the CLI.

import assert from "node:assert/strict";
import {
  cpuWorkers,
  quantize,
  type QuantizeDevice,
  type QuantizeSpec,
  type TensorReport,
} from "../lib/quant/mod.ts";
import { pipe } from "../lib/pipeline.ts";
import { collectStream, tensorFromBytes, type TensorStream } from "../lib/tensor.ts";
import { writeSafetensors } from "../formats/safetensors/mod.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { runCli, tempDir } from "./_helpers.ts";

function model(): TensorStream {
  const tensors = [];
  for (let i = 0; i < 7; i++) {
    const rows = 8 + 8 * i;
    const values = new Float32Array(rows * 64).map((_, j) => Math.sin(j * (i + 1) * 0.37) * (i + 1));
    tensors.push(tensorFromBytes(`layer.${i}.weight`, "F32", [rows, 64], new Uint8Array(values.buffer)));
  }
  tensors.push(tensorFromBytes("norm.weight", "F32", [64], new Uint8Array(256)));
  return { metadata: { source: "test" }, tensors };
}

async function quantizedBytes(
  spec: QuantizeSpec,
  device: Parameters<typeof quantize>[1],
): Promise<Uint8Array> {
  const sink = memorySink();
  await writeSafetensors(pipe(model(), quantize(spec, device)), sink);
  return sink.bytes();
}

Deno.test("quantize() on 1, 2 and 3 CPU workers writes the CPU reference's bytes", async (t) => {
  const specs: QuantizeSpec[] = [
    { scheme: "int8", perChannel: true },
    { scheme: "NF4", doubleQuant: true },
    { scheme: "F8_E4M3", saturate: true },
    { scheme: "minmax3" },
  ];
  for (const spec of specs) {
    await t.step(spec.scheme, async () => {
      const reference = await quantizedBytes(spec, { device: "cpu" });
      for (const workers of [1, 2, 3]) {
        const pool = cpuWorkers(workers);
        try {
          assert.deepEqual(await quantizedBytes(spec, { device: pool, batchBytes: 32 * 1024 }), reference);
        } finally {
          pool.close();
        }
      }
    });
  }
});

async function reportsOf(device: QuantizeDevice): Promise<TensorReport[]> {
  const reports: TensorReport[] = [];
  const out = pipe(model(), quantize({ scheme: "Q4_0" }, { device, onTensor: (r) => reports.push(r) }));
  // Reports of quantized tensors arrive as their bytes are computed: read them all.
  for (const t of (await collectStream(out)).tensors) await t.read();
  return reports;
}

Deno.test("CPU workers measure the same error as the main thread", async () => {
  const onThread = await reportsOf("cpu");
  const pool = cpuWorkers(2);
  const onPool = await reportsOf(pool).finally(() => pool.close());
  const measured = (list: TensorReport[]) =>
    new Map(list.filter((r) => r.metrics).map((r) => [r.name, [r.metrics, r.device]]));
  assert.equal(measured(onThread).size, 7);
  assert.deepEqual(measured(onPool), measured(onThread));
});

Deno.test("ckpt quantize --jobs 1 and --jobs 3 write the same file", async () => {
  await using dir = await tempDir();
  const sink = memorySink();
  await writeSafetensors(model(), sink);
  await Deno.writeFile(`${dir.path}/m.safetensors`, sink.bytes());
  for (const [scheme, ext] of [["int8", "safetensors"], ["Q8_0", "gguf"]]) {
    const outputs: Uint8Array[] = [];
    for (const jobs of ["1", "3"]) {
      const out = `${dir.path}/q${jobs}.${ext}`;
      const result = await runCli([
        "quantize",
        `${dir.path}/m.safetensors`,
        out,
        "--scheme",
        scheme,
        "--device",
        "cpu",
        "--jobs",
        jobs,
        "--json",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).jobs, Number(jobs));
      outputs.push(await Deno.readFile(out));
    }
    assert.deepEqual(outputs[1], outputs[0], `${scheme}: --jobs 3 differs from --jobs 1`);
  }
});

Deno.test("cpuWorkers() refuses a bad worker count", () => {
  assert.throws(() => cpuWorkers(0), /Invalid number of jobs 0: use a positive integer/);
});
