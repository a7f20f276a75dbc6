import assert from "node:assert/strict";
import { GGUF_FILE_TYPES, planFileType } from "../formats/gguf/file_type.ts";
import { openGguf } from "../formats/gguf/open_gguf.ts";
import { quantizeGguf } from "../formats/gguf/quantize_gguf.ts";
import { writeGguf } from "../formats/gguf/write_gguf.ts";
import { ggufKeyValuesOf } from "../formats/gguf/gguf_value.ts";
import { bytesSource, fileSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { FormatError, UsageError } from "../lib/errors.ts";
import { llamaModelQuantize, skipUnlessGgmlOracle } from "./_ggml_oracle.ts";
import { runCli, tempDir } from "./_helpers.ts";
import { hasNodeOracle, NODE_ORACLES, runVenv, skipUnlessNodeOracle, skipUnlessVenv } from "./_oracles.ts";

const ignore = skipUnlessGgmlOracle("libllama.v0.4.0.so") || skipUnlessVenv("gguf", "numpy");
const RUN = ["--allow-read", "--allow-write", "--allow-env"];

// Models written by gguf-py (llama.cpp's Python writer). "rows: 2" gives every
// weight two rows of its real length: llama-quantize chooses types from names
// and row lengths, so a 32-layer model costs a few hundred KiB.
const MODELS = {
  deep: { layers: 32, embd: 256, ff: 256, heads: 32, heads_kv: 8, vocab: 300, rows: 2, seed: 1 },
  tiedMha: {
    layers: 16,
    embd: 256,
    ff: 256,
    heads: 8,
    heads_kv: 8,
    vocab: 300,
    rows: 2,
    tied: true,
    seed: 2,
  },
  // ffn_down rows of 416 (not a multiple of 256) and a tensor with rows of 100 (not even 32).
  fallback: {
    layers: 8,
    embd: 256,
    ff: 416,
    heads: 4,
    heads_kv: 1,
    vocab: 300,
    rows: 2,
    extra: [["blk.0.extra.weight", 2, 100]],
    seed: 3,
  },
  f16: { layers: 8, embd: 256, ff: 256, heads: 4, heads_kv: 2, vocab: 300, rows: 2, dtype: "F16", seed: 4 },
  bf16: { layers: 8, embd: 256, ff: 256, heads: 4, heads_kv: 2, vocab: 300, rows: 2, dtype: "BF16", seed: 5 },
  // A mixture of experts (8: attn_v/attn_k to Q8_0, attn_output to Q5_K, ffn_down by its layer in the name).
  moe: { layers: 4, embd: 256, ff: 256, heads: 4, heads_kv: 1, vocab: 300, rows: 2, experts: 8, seed: 7 },
  // 80 layers with grouped heads: llama.cpp's 70B, whose Q3_K/Q4_K attn_v become Q5_K.
  llama70b: { layers: 80, embd: 256, ff: 256, heads: 64, heads_kv: 8, vocab: 300, rows: 2, seed: 8 },
  // Falcon: a fused attn_qkv, Q8_0 output, its own ffn_down and attn_output mixes.
  falcon: {
    arch: "falcon",
    layers: 32,
    embd: 256,
    ff: 256,
    heads: 8,
    heads_kv: 1,
    vocab: 300,
    rows: 2,
    seed: 9,
  },
  // Real shapes, small enough to quantize in a moment.
  small: { layers: 2, embd: 256, ff: 512, heads: 4, heads_kv: 2, vocab: 320, seed: 6 },
};
type ModelName = keyof typeof MODELS;

let dir: { path: string } & AsyncDisposable;
const paths = {} as Record<ModelName, string>;

async function setup(): Promise<void> {
  if (dir) return;
  dir = await tempDir("ckpt-ftype-");
  const args: string[] = [];
  for (const [name, config] of Object.entries(MODELS)) {
    paths[name as ModelName] = `${dir.path}/${name}.gguf`;
    args.push(paths[name as ModelName], JSON.stringify(config));
  }
  const script = await Deno.readTextFile(new URL("./data/gguf/make_llama_gguf.py", import.meta.url));
  await runVenv(script, args);
}

async function ours(path: string, fileType: string, pure = false): Promise<Uint8Array> {
  const file = await openGguf(await fileSource(path));
  try {
    const sink = memorySink();
    await writeGguf(await quantizeGguf(file, fileType, { pure }), sink);
    return sink.bytes();
  } finally {
    await file.close();
  }
}

let n = 0;
async function theirs(path: string, fileType: string, pure = false): Promise<Uint8Array> {
  const out = `${dir.path}/llama-${n++}.gguf`;
  await llamaModelQuantize(path, out, GGUF_FILE_TYPES[fileType].id, { pure, nthread: 2 });
  return await Deno.readFile(out);
}

/** Where two GGUF files first differ, named by tensor when it is in the data. */
async function difference(a: Uint8Array, b: Uint8Array): Promise<string> {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return "";
  const file = await openGguf(bytesSource(a));
  const at = file.tensorInfos.find((t) =>
    i >= file.dataOffset + t.offset && i < file.dataOffset + t.offset + t.byteLength
  );
  const other = await openGguf(bytesSource(b));
  const types = file.tensorInfos
    .map((t, k) => [t, other.tensorInfos[k]] as const)
    .filter(([x, y]) => x.name !== y?.name || x.type.name !== y?.type.name)
    .map(([x, y]) => `${x.name} ${x.type.name} vs ${y?.name} ${y?.type.name}`);
  return `first difference at byte ${i}${at ? ` (tensor ${at.name}, ${at.type.name})` : " (header)"}; ` +
    `sizes ${a.length}/${b.length}; differing types: ${types.slice(0, 5).join(", ")}`;
}

const CASES: [ModelName, string, boolean][] = [
  ...Object.keys(GGUF_FILE_TYPES).map((t): [ModelName, string, boolean] => ["deep", t, false]),
  ["deep", "Q4_K_M", true],
  ["deep", "Q2_K", true],
  ["deep", "Q6_K", true],
  ["tiedMha", "Q2_K", false],
  ["tiedMha", "Q4_K_M", false],
  ["tiedMha", "Q3_K_L", false],
  ["tiedMha", "Q8_0", false],
  ["fallback", "Q4_K_M", false],
  ["fallback", "Q5_K_S", false],
  ["fallback", "Q5_K_M", false],
  ["fallback", "Q6_K", false],
  ["fallback", "Q3_K_M", false],
  ["fallback", "Q2_K", false],
  ["fallback", "Q4_K_M", true],
  ["f16", "Q4_K_M", false],
  ["f16", "Q8_0", false],
  ["f16", "BF16", false],
  ["bf16", "Q5_K_S", false],
  ["bf16", "F16", false],
  ["moe", "Q4_K_M", false],
  ["moe", "Q2_K", false],
  ["moe", "Q3_K_M", false],
  ["llama70b", "Q3_K_M", false],
  ["llama70b", "Q4_K_S", false],
  ["llama70b", "Q2_K", false],
  ["falcon", "Q4_K_M", false],
  ["falcon", "Q3_K_M", false],
  ["falcon", "Q3_K_L", false],
  ["falcon", "Q4_K_S", false],
  ["falcon", "Q5_K_M", false],
  ["small", "Q4_K_M", false],
  ["small", "Q3_K_S", false],
];

Deno.test({
  name: "quantizeGguf writes the same GGUF file, byte for byte, as llama_model_quantize",
  ignore,
  async fn(t) {
    await setup();
    for (const [model, fileType, pure] of CASES) {
      await t.step(`${model} ${fileType}${pure ? " --pure" : ""}`, async () => {
        const [a, b] = await Promise.all([
          ours(paths[model], fileType, pure),
          theirs(paths[model], fileType, pure),
        ]);
        assert.equal(await difference(a, b), "");
      });
    }
  },
});

Deno.test({
  name: "the plan shows the fallbacks and mixes that llama-quantize applies",
  ignore,
  async fn() {
    await setup();
    const file = await openGguf(await fileSource(paths.fallback));
    try {
      const q = await quantizeGguf(file, "Q4_K_M");
      const type = (name: string) => q.plan.tensors.find((c) => c.name === name)!;
      assert.equal(type("blk.0.extra.weight").type, "F16"); // Q4_K → Q5_0 → rows of 100 fit neither
      assert.equal(type("blk.0.extra.weight").fallback, true);
      assert.equal(type("blk.1.ffn_down.weight").type, "Q5_0"); // rows of 416
      assert.equal(type("blk.0.ffn_down.weight").type, "Q8_0"); // use_more_bits: Q6_K → Q8_0
      assert.equal(type("blk.0.attn_v.weight").type, "Q6_K");
      assert.equal(type("blk.1.attn_v.weight").type, "Q4_K");
      assert.equal(type("output.weight").type, "Q6_K");
      assert.equal(type("blk.0.attn_norm.weight").convert, false);
      assert.deepEqual(q.plan.tensors.slice(0, 3).map((c) => c.name), [
        "output.weight",
        "output_norm.weight",
        "token_embd.weight",
      ]);
      // The transform leaves its input alone.
      assert.equal(file.metadata["general.file_type"], "0");
      assert.equal(ggufKeyValuesOf(file.metadata)?.find((kv) => kv.key === "general.file_type")?.value, 0);
      assert.equal(q.metadata["general.file_type"], "15");
    } finally {
      await file.close();
    }
  },
});

Deno.test({
  name: "ckpt quantize --scheme Q4_K_M/Q6_K/Q2_K on a GGUF model writes llama-quantize's file",
  ignore,
  async fn(t) {
    await setup();
    for (const [fileType, pure] of [["Q4_K_M", false], ["Q6_K", false], ["Q2_K", true]] as const) {
      await t.step(`${fileType}${pure ? " --pure" : ""}`, async () => {
        const out = `${dir.path}/cli-${fileType}.gguf`;
        const args = [
          "quantize",
          paths.small,
          out,
          "--scheme",
          fileType,
          "--json",
          ...(pure ? ["--pure"] : []),
        ];
        const { code, stdout, stderr } = await runCli(args, { permissions: RUN });
        assert.equal(code, 0, stderr);
        const report = JSON.parse(stdout);
        assert.equal(report.fileTypeId, GGUF_FILE_TYPES[fileType].id);
        assert.equal(report.tensors.length, 21);
        assert.equal(
          await difference(await Deno.readFile(out), await theirs(paths.small, fileType, pure)),
          "",
        );
      });
    }
  },
});

Deno.test({
  name: "ckpt quantize to a file type prints a summary, every tensor with --verbose, nothing with --quiet",
  ignore,
  async fn() {
    await setup();
    const out = `${dir.path}/printed.gguf`;
    const run = (...flags: string[]) =>
      runCli(["quantize", paths.fallback, out, "--scheme", "Q4_K_M", ...flags], { permissions: RUN });
    const plain = await run();
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^\d+ of \d+ tensors converted: .* → .* of tensor data \(\d+\.\d%\)$/m);
    assert.match(plain.stdout, /^ {2}Q6_K +\d+ tensors? +\d/m);
    assert.match(plain.stdout, /^9 tensors take a fallback type \(rows not whole blocks\)$/m);
    assert.doesNotMatch(plain.stdout, /blk\.0\.attn_v\.weight/);
    assert.match(plain.stdout, /written in .* s on the cpu/);
    const verbose = await run("--verbose");
    assert.equal(verbose.code, 0, verbose.stderr);
    assert.match(verbose.stdout, /^blk\.0\.extra\.weight +F32 → F16 \(fallback\)/m);
    assert.match(verbose.stdout, /^total \(\d+ of \d+ converted\)/m);
    const quiet = await run("--quiet");
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, "");
    assert.equal(quiet.stderr, "");
  },
});

Deno.test({
  name: "ckpt inspect shows a GGUF's file type and each tensor's stored type as gguf-py reads them",
  ignore,
  async fn() {
    await setup();
    const out = `${dir.path}/inspect-q3km.gguf`;
    const q = await runCli(["quantize", paths.fallback, out, "--scheme", "Q3_K_M", "-q"], {
      permissions: RUN,
    });
    assert.equal(q.code, 0, q.stderr);
    const { code, stdout, stderr } = await runCli(["inspect", out, "--json"]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.deepEqual(report.fileType, { id: 12, name: "Q3_K_M" });
    const pyTypes = JSON.parse(
      await runVenv(
        "import json, sys; from gguf import GGUFReader; r = GGUFReader(sys.argv[1]); " +
          "print(json.dumps([[t.name, t.tensor_type.name] for t in r.tensors]))",
        [out],
      ),
    );
    assert.deepEqual(report.tensors.map((t: { name: string; type: string }) => [t.name, t.type]), pyTypes);
    // dtype is what the values decode to; encoding is set for block types only.
    for (const t of report.tensors) {
      assert.equal(t.dtype, t.type.startsWith("Q") ? "F32" : t.type);
      assert.equal(t.encoding, t.type.startsWith("Q") ? t.type : undefined);
    }
    const text = await runCli(["inspect", out]);
    assert.match(text.stdout, /file type\s+Q3_K_M \(general\.file_type 12\)/);
    assert.match(text.stdout, /^blk\.0\.extra\.weight\s+F16\s+\[2, 100\]/m);
    assert.match(text.stdout, /^blk\.1\.ffn_down\.weight\s+Q5_0\s+\[2, 416\]/m);
  },
});

Deno.test({
  name: "ckpt quantize refuses what a file type cannot do, with exit 2 and no output",
  ignore,
  async fn(t) {
    await setup();
    const requantized = `${dir.path}/q8.gguf`;
    await Deno.writeFile(requantized, await ours(paths.small, "Q8_0"));
    const st = `${dir.path}/plain.safetensors`;
    const conv = await runCli(["convert", paths.small, st], { permissions: RUN });
    assert.equal(conv.code, 0, conv.stderr);
    const cases: [string, string[], RegExp][] = [
      [
        "a non-GGUF output",
        [paths.small, `${dir.path}/o.safetensors`, "--scheme", "Q4_K_M"],
        /writes a GGUF model/,
      ],
      ["a non-model input", [st, `${dir.path}/o.gguf`, "--scheme", "Q4_K_M"], /needs a GGUF model input/],
      [
        "--pure with a plain scheme",
        [paths.small, `${dir.path}/o.gguf`, "--scheme", "int8", "--pure"],
        /--pure/,
      ],
      [
        "scheme options",
        [paths.small, `${dir.path}/o.gguf`, "--scheme", "Q4_K_M", "--per-channel"],
        /--per-channel/,
      ],
      [
        "requantizing",
        [requantized, `${dir.path}/o.gguf`, "--scheme", "Q4_K_M"],
        /requantizing from type Q8_0/,
      ],
    ];
    for (const [label, args, message] of cases) {
      await t.step(label, async () => {
        const { code, stderr } = await runCli(["quantize", ...args], { permissions: RUN });
        assert.equal(code, 2, stderr);
        assert.match(stderr, message);
        await assert.rejects(Deno.stat(args[1]), Deno.errors.NotFound);
      });
    }
    // llama.cpp refuses the same requantization.
    await assert.rejects(theirs(requantized, "Q4_K_M"));
  },
});

Deno.test("planFileType and quantizeGguf reject unknown file types and models without hyperparameters", async () => {
  const model = { architecture: "llama", blockCount: 1, headCount: 1, headCountKv: 1, expertCount: 0 };
  assert.throws(
    () => planFileType([], model, "Q4_K_X"),
    (e) => e instanceof UsageError && /Q4_K_X/.test(e.message),
  );
  assert.throws(
    () =>
      planFileType(
        [{ name: "a", shape: [2], type: "F32" }, { name: "a", shape: [2], type: "F32" }],
        model,
        "Q8_0",
      ),
    /duplicate tensor 'a'/,
  );
  const noArch = { metadata: {}, tensors: [] };
  await assert.rejects(
    quantizeGguf(noArch, "Q4_K_M"),
    (e) => e instanceof FormatError && /general.architecture/.test(e.message),
  );
  const noBlocks = {
    metadata: { "general.architecture": "llama", "llama.attention.head_count": "4" },
    tensors: [],
  };
  await assert.rejects(quantizeGguf(noBlocks, "Q4_K_M"), /llama\.block_count/);
  const badCount = { metadata: { ...noBlocks.metadata, "llama.block_count": "[oops" }, tensors: [] };
  await assert.rejects(
    quantizeGguf(badCount, "Q4_K_M"),
    (e) => e instanceof FormatError && /llama\.block_count is '\[oops', not a count/.test(e.message),
  );
  const perLayer = {
    metadata: { ...noBlocks.metadata, "llama.block_count": "2", "llama.attention.head_count": "[8,8]" },
  };
  const plan = (await quantizeGguf({ ...perLayer, tensors: [] }, "Q6_K")).plan;
  assert.deepEqual(plan.keys.map((k) => k.value), [2, 18]);
});

function hasNode(): boolean {
  try {
    return new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}
const noNode = !hasNode();
if (noNode) console.warn("skipping the node-llama-cpp test: node is not on PATH");

Deno.test({
  name: "node-llama-cpp loads ckpt's Q8_0, Q4_K_M and Q2_K files and generates; Q8_0 continues as F32 does",
  ignore: ignore || noNode || skipUnlessNodeOracle("node-llama-cpp") ||
    !hasNodeOracle("@node-llama-cpp/linux-x64"),
  async fn() {
    await setup();
    const files = [paths.small];
    for (const fileType of ["Q8_0", "Q4_K_M", "Q2_K"]) {
      const out = `${dir.path}/load-${fileType}.gguf`;
      const q = await runCli(["quantize", paths.small, out, "--scheme", fileType, "-q"], {
        permissions: RUN,
      });
      assert.equal(q.code, 0, q.stderr);
      files.push(out);
    }
    const run = await new Deno.Command("node", {
      args: [
        new URL("./oracles/llama_generate.mjs", import.meta.url).pathname,
        NODE_ORACLES,
        "a b c",
        "6",
        ...files,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(run.success, new TextDecoder().decode(run.stderr));
    const results = JSON.parse(new TextDecoder().decode(run.stdout)) as { tokens: number[]; text: string }[];
    assert.equal(results.length, 4);
    for (const [i, r] of results.entries()) {
      assert.ok(r.tokens.length > 0, `${files[i]} generated nothing`);
      assert.ok(r.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < MODELS.small.vocab), files[i]);
    }
    assert.deepEqual(results[1].tokens, results[0].tokens, "Q8_0 greedy tokens differ from F32's");
  },
});

// Probing WebGPU on a headless machine logs XDG_RUNTIME_DIR errors unless it is set.
if (!Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) Deno.env.set("XDG_RUNTIME_DIR", "/nonexistent");
const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
if (!adapter) console.warn("skipping the GPU file-type test: WebGPU has no adapter here");

Deno.test({
  name: "ckpt quantize --scheme Q4_K_M --device gpu writes llama-quantize's file too",
  ignore: ignore || !adapter,
  async fn() {
    await setup();
    const out = `${dir.path}/gpu-Q4_K_M.gguf`;
    const args = ["quantize", paths.fallback, out, "--scheme", "Q4_K_M", "--device", "gpu", "--json"];
    const { code, stdout, stderr } = await runCli(args, { permissions: RUN });
    assert.equal(code, 0, stderr);
    assert.match(JSON.parse(stdout).device, /^gpu/);
    assert.equal(await difference(await Deno.readFile(out), await theirs(paths.fallback, "Q4_K_M")), "");
  },
});
