// Shard-parallel conversion gives the same bytes as a serial run, and as
// converting each shard alone (the fleet recipe in the README).

import assert from "node:assert/strict";
import { tensorFromBytes } from "../lib/tensor.ts";
import { FormatError, UsageError } from "../lib/errors.ts";
import { openSafetensorsIndex, writeSafetensorsShards } from "../formats/safetensors/mod.ts";
import { convertShards } from "../formats/convert_shards.ts";
import type { ConvertSpec } from "../lib/convert_spec.ts";
import { listDir, runCli, tempDir } from "./_helpers.ts";

/** A checkpoint of 4 shards with float, half and integer tensors. */
async function makeSharded(dir: string): Promise<string> {
  const tensors = [];
  for (let layer = 0; layer < 6; layer++) {
    const w = new Float32Array(64 * 32).map((_, i) => Math.sin(i * 0.37 + layer) * (layer + 1));
    const b = new Float32Array(32).map((_, i) => i / 32 - layer);
    tensors.push(tensorFromBytes(`layers.${layer}.weight`, "F32", [64, 32], new Uint8Array(w.buffer)));
    tensors.push(tensorFromBytes(`layers.${layer}.bias`, "F32", [32], new Uint8Array(b.buffer)));
  }
  const half = new Uint16Array(128).map((_, i) => 0x3c00 + i);
  tensors.push(tensorFromBytes("embed.half", "F16", [8, 16], new Uint8Array(half.buffer)));
  const ids = new BigInt64Array(16).map((_, i) => BigInt(i * 1000));
  tensors.push(tensorFromBytes("position_ids", "I64", [16], new Uint8Array(ids.buffer)));
  const index = `${dir}/model.safetensors.index.json`;
  await writeSafetensorsShards({ metadata: { source: "parallel_test" }, tensors }, index, {
    maxShardSize: 12_000,
  });
  return index;
}

async function filesOf(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await listDir(dir)) {
    const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/${name}`));
    out.set(name, Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(""));
  }
  return out;
}

const SPECS: [string, ConvertSpec][] = [
  ["a cast to BF16 with an exclude", { dtype: "BF16", exclude: "^position_ids$" }],
  ["an include and a cast to F16", { include: "weight|half", dtype: "F16" }],
  ["int8 per-channel quantization", { quantize: { scheme: "int8", perChannel: true } }],
  ["NF4 quantization", { quantize: { scheme: "NF4" } }],
];

Deno.test("convertShards() writes the same bytes with 1, 2 and 4 jobs", async (t) => {
  await using input = await tempDir();
  const index = await makeSharded(input.path);
  const shardCount = (await listDir(input.path)).filter((n) => n.endsWith(".safetensors")).length;
  assert.ok(shardCount >= 4, `only ${shardCount} shards`);
  for (const [label, spec] of SPECS) {
    await t.step(label, async () => {
      const results = [];
      for (const jobs of [1, 2, 4]) {
        await using out = await tempDir();
        const result = await convertShards(index, `${out.path}/converted.safetensors.index.json`, {
          jobs,
          spec: spec,
        });
        assert.equal(result.shards.length, shardCount);
        results.push({ files: await filesOf(out.path), tensors: result.tensors, bytes: result.bytes });
      }
      assert.equal(results[0].files.size, shardCount + 1);
      assert.deepEqual(results[1], results[0]);
      assert.deepEqual(results[2], results[0]);
    });
  }
});

Deno.test("convertShards() output equals converting each shard alone with ckpt convert", async () => {
  await using input = await tempDir();
  await using out = await tempDir();
  await using fleet = await tempDir();
  const index = await makeSharded(input.path);
  await convertShards(index, `${out.path}/model.safetensors.index.json`, {
    jobs: 3,
    spec: { dtype: "F16", exclude: "bias$" },
  });
  const shards = (await listDir(input.path)).filter((n) => n.endsWith(".safetensors"));
  for (const shard of shards) {
    const result = await runCli([
      "convert",
      `${input.path}/${shard}`,
      `${fleet.path}/${shard}`,
      "--dtype",
      "F16",
      "--exclude",
      "bias$",
      "--quiet",
    ]);
    assert.equal(result.code, 0, result.stderr);
  }
  const ours = await filesOf(out.path);
  const theirs = await filesOf(fleet.path);
  assert.deepEqual([...theirs.values()], [...ours].filter(([n]) => !n.endsWith(".json")).map(([, h]) => h));
  const reopened = await openSafetensorsIndex(`${out.path}/model.safetensors.index.json`);
  try {
    assert.equal(reopened.tensors.length, 8);
    assert.ok(reopened.tensors.every((t) => !t.name.endsWith("bias")));
    assert.deepEqual(
      reopened.tensors.filter((t) => t.name.endsWith(".weight")).map((t) => t.dtype),
      Array(6).fill("F16"),
    );
    const index = JSON.parse(await Deno.readTextFile(`${out.path}/model.safetensors.index.json`));
    assert.equal(index.metadata.total_size, reopened.tensors.reduce((s, t) => s + t.byteLength, 0));
  } finally {
    await reopened.close();
  }
});

Deno.test("ckpt convert --jobs converts shards in parallel and matches the library", async () => {
  await using input = await tempDir();
  await using out = await tempDir();
  await using lib = await tempDir();
  const index = await makeSharded(input.path);
  const result = await runCli([
    "convert",
    index,
    `${out.path}/m.safetensors.index.json`,
    "--jobs",
    "2",
    "--dtype",
    "BF16",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^.*m\.safetensors\.index\.json: \d+ shards, 14 tensors, \d+ bytes of tensor data written in [\d.]+ s with 2 jobs$/m,
  );
  await convertShards(index, `${lib.path}/m.safetensors.index.json`, {
    jobs: 1,
    spec: { dtype: "BF16" },
  });
  assert.deepEqual(await filesOf(out.path), await filesOf(lib.path));
});

Deno.test("ckpt quantize --jobs quantizes shards in parallel and matches the library", async (t) => {
  await using input = await tempDir();
  const index = await makeSharded(input.path);
  await using out = await tempDir();
  await using lib = await tempDir();
  const result = await runCli([
    "quantize",
    index,
    `${out.path}/q.safetensors.index.json`,
    "--scheme",
    "int8",
    "--per-channel",
    "--jobs",
    "2",
    "--exclude",
    "^embed",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /q\.safetensors\.index\.json: \d+ shards, \d+ tensors, .* with 2 jobs$/m);
  await convertShards(index, `${lib.path}/q.safetensors.index.json`, {
    jobs: 1,
    spec: { quantize: { scheme: "int8", perChannel: true, exclude: "^embed" } },
  });
  assert.deepEqual(await filesOf(out.path), await filesOf(lib.path));
  const usage: [string, string[], RegExp][] = [
    [
      "--device gpu",
      ["--device", "gpu"],
      /^ckpt quantize: --jobs quantizes on the CPU, one Worker a shard; drop --device gpu$/m,
    ],
    ["--report", ["--report", `${out.path}/r.json`], /^ckpt quantize: --report and --json list every tensor/],
    ["--json", ["--json"], /^ckpt quantize: --report and --json list every tensor/],
    [
      "a ggml scheme",
      ["--scheme", "Q4_0"],
      /^ckpt quantize: Scheme Q4_0 writes ggml blocks, which only GGUF stores/,
    ],
  ];
  for (const [label, extra, message] of usage) {
    await t.step(label, async () => {
      await using dir = await tempDir();
      const run = await runCli([
        "quantize",
        index,
        `${dir.path}/q.safetensors.index.json`,
        "--scheme",
        "NF4",
        "--jobs",
        "2",
        ...extra,
      ]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1);
      assert.deepEqual(await listDir(dir.path), []);
    });
  }
});

Deno.test("convertShards() rejects bad requests and leaves nothing behind on failure", async (t) => {
  await using input = await tempDir();
  const index = await makeSharded(input.path);
  const shards = (await listDir(input.path)).filter((n) => n.endsWith(".safetensors"));
  const cases: [string, (out: string) => Promise<unknown>, new (...a: never[]) => Error, RegExp][] = [
    [
      "an output that is not an index",
      (out) => convertShards(index, `${out}/x.safetensors`, { jobs: 2 }),
      UsageError,
      /^Shard-parallel output must be a \.safetensors\.index\.json path, not '.*x\.safetensors'$/,
    ],
    [
      "zero jobs",
      (out) => convertShards(index, `${out}/x.safetensors.index.json`, { jobs: 0 }),
      UsageError,
      /^Invalid number of jobs 0: use a positive integer$/,
    ],
    [
      "a dtype that is not a float",
      (out) => convertShards(index, `${out}/x.safetensors.index.json`, { jobs: 2, spec: { dtype: "I8" } }),
      UsageError,
      /^Cannot cast to 'I8': use a floating-point dtype such as F16, BF16 or F32$/,
    ],
    [
      "an output shard that would replace an input shard",
      () =>
        convertShards(index, `${input.path}/model.safetensors.index.json`.replace("model.", "model."), {
          jobs: 2,
        }),
      UsageError,
      /^Refusing to write .*model(-00001-of-\d{5}\.safetensors|\.safetensors\.index\.json): it is also an input; choose another output path$/,
    ],
  ];
  for (const [label, run, errorClass, message] of cases) {
    await t.step(label, async () => {
      await using out = await tempDir();
      await assert.rejects(run(out.path), (error: Error) => {
        assert.ok(error instanceof errorClass, `${error.name}: ${error.message}`);
        assert.match(error.message, message);
        return true;
      });
      assert.deepEqual(await listDir(out.path), []);
    });
  }
  await t.step("a corrupt shard fails the run with its FormatError and no output appears", async () => {
    const bad = `${input.path}/${shards[2]}`;
    const bytes = await Deno.readFile(bad);
    await Deno.writeFile(bad, bytes.map((b, i) => (i === 9 ? 0x7b : b)).map((b, i) => (i === 8 ? 0x5b : b)));
    for (const jobs of [1, 3]) {
      await using out = await tempDir();
      await assert.rejects(
        convertShards(index, `${out.path}/y.safetensors.index.json`, { jobs, spec: { dtype: "F16" } }),
        (error: Error) => {
          assert.ok(error instanceof FormatError, `${error.name}: ${error.message}`);
          assert.match(error.message, /safetensors/);
          return true;
        },
      );
      assert.deepEqual(await listDir(out.path), []);
    }
  });
});
