// Hugging Face folders → GGUF → llama.cpp, and back, against the real
// consumers: llama.cpp's own converter (convert_hf_to_gguf.py from the source
// bundled with node-llama-cpp), llama.cpp itself (node-llama-cpp's prebuilt
// CPU binary) and transformers. The models are trained for a few steps by
// tests/data/hf/make_tiny_models.py and cached under tests/out/.

import assert from "node:assert/strict";
import { listDir, REPO, runCli, tempDir } from "./_helpers.ts";
import { hasNodeOracle, hasVenv, NODE_ORACLES, runVenv, VENV_PYTHON } from "./_oracles.ts";
import { fileSource } from "../lib/byte_source.ts";
import { openGguf } from "../formats/gguf/open_gguf.ts";
import { openGgufSplit } from "../formats/gguf/open_gguf_split.ts";
import { writeGgufFiles } from "../formats/gguf/write_gguf_files.ts";
import type { GgufArray, GgufKeyValue } from "../formats/gguf/gguf_value.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import {
  convertGgufToHf,
  convertHfToGguf,
  hfToGguf,
  openHfModel,
  permuteRows,
  tokenizerKeyValues,
  unpermuteRows,
} from "../formats/hf/mod.ts";

const HF_DATA = `${REPO}/tests/data/hf`;
const MODELS = ["llama-spm", "llama-bpe", "qwen2-bpe"] as const;
const PRE: Record<string, string | null> = {
  "qwen2-yarn": "qwen2",
  "llama-spm": null,
  "llama-bpe": "llama-bpe",
  "qwen2-bpe": "qwen2",
};
const PROMPTS = ["The quick brown", "A llama eats", "Tensors are arrays", "One two three"];
const TEXTS = [
  "Hello world, hello tensors!",
  "The quick brown fox jumps over the lazy dog. 123 4567",
  "  spaces   and\nnew lines\t tabs <|end|> ünïcödé 🦙",
];
const STEPS = 8;

const ORACLES_READY =
  hasVenv("torch", "transformers", "sentencepiece", "tokenizers", "numpy", "safetensors") &&
  hasNodeOracle("node-llama-cpp");
if (!ORACLES_READY) {
  console.warn(
    `skipping the oracle tests of hf_gguf_test.ts: ${VENV_PYTHON} with torch, transformers, sentencepiece, tokenizers, safetensors ` +
      `and ${NODE_ORACLES}/node-llama-cpp are needed (see .ci/run)`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function digest(...files: string[]): Promise<string> {
  const parts = await Promise.all(files.map((f) => Deno.readFile(f)));
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) joined.set(p, (at += p.length) - p.length);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
  return [...hash.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Fixture {
  /** The folder holding the three model folders. */
  models: string;
  /** The folder holding llama.cpp's converter outputs. */
  theirs: string;
}

let fixture: Promise<Fixture> | undefined;

/** The outputs of llama.cpp's converter the tests compare with: [model, outtype]. */
const CONVERTER_CASES = [
  ...MODELS.map((m) => [m, "f32"] as const),
  ["llama-bpe", "f16"] as const,
  ["qwen2-bpe", "q8_0"] as const,
  ["llama-spm", "bf16"] as const,
  ["qwen2-yarn", "f32"] as const,
];

async function git(...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", { args, stderr: "piped" }).output();
  if (!out.success) throw new Error(`git ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Train the models and run llama.cpp's converter, once: both are cached under tests/out/ by the scripts' hash. */
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const key = await digest(`${HF_DATA}/make_tiny_models.py`, `${HF_DATA}/oracle.py`);
    const root = `${REPO}/tests/out/hf-gguf-${key}`;
    const models = `${root}/models`;
    const theirs = `${root}/llama-cpp`;
    if (!(await exists(`${models}/done`))) {
      await runVenv(await Deno.readTextFile(`${HF_DATA}/make_tiny_models.py`), [models]);
      await Deno.writeTextFile(`${models}/done`, "");
    }
    const src = `${REPO}/tests/out/llama-src`;
    if (!(await exists(`${src}/convert_hf_to_gguf.py`))) {
      await git(
        "clone",
        "-q",
        "--no-checkout",
        `${NODE_ORACLES}/node-llama-cpp/llama/gitRelease.bundle`,
        src,
      );
      await git("-C", src, "checkout", "-q", "HEAD", "--", "convert_hf_to_gguf.py", "conversion", "gguf-py");
    }
    await Deno.mkdir(theirs, { recursive: true });
    const convert = [];
    for (const [model, outtype] of CONVERTER_CASES) {
      const out = `${theirs}/${model}.${outtype}.gguf`;
      if (await exists(out)) continue;
      convert.push({ src, model: `${models}/${model}`, out, outtype, pre: PRE[model] });
    }
    if (convert.length > 0) {
      await runVenv(await Deno.readTextFile(`${HF_DATA}/oracle.py`), [JSON.stringify({ convert })]);
    }
    return { models, theirs };
  })();
  return fixture;
}

async function runLlamaCpp(
  jobs: { model: string; prompts?: string[]; steps?: number; texts?: string[] }[],
): Promise<LlamaRun[]> {
  const out = await new Deno.Command("node", {
    args: [`${HF_DATA}/llama_cpp_run.mjs`, JSON.stringify({ node_modules: NODE_ORACLES, jobs })],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`node-llama-cpp failed: ${new TextDecoder().decode(out.stderr)}\n${stdout}`);
  }
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

// SentencePiece tokenizers load the protobuf runtime, which reads one environment variable.
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env=BUF_BIGINT_DISABLE"];

async function ckpt(...args: string[]): Promise<string> {
  const r = await runCli(args, { permissions: PERMISSIONS });
  assert.equal(r.code, 0, `ckpt ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function kvMap(kv: readonly GgufKeyValue[]): Map<string, { type: string; value: unknown }> {
  const plain = (v: unknown): unknown => {
    if (typeof v === "bigint") return Number(v);
    if (typeof v !== "object" || v === null) return v;
    const arr = v as { itemType: string; items: unknown[] };
    return { itemType: arr.itemType, items: arr.items.map(plain) };
  };
  return new Map(kv.map((e) => [e.key, { type: e.type, value: plain(e.value) }]));
}

async function assertSameGguf(ours: string, theirs: string): Promise<void> {
  const a = await openGguf(await fileSource(ours));
  const b = await openGguf(await fileSource(theirs));
  try {
    assert.deepEqual(kvMap(a.kv), kvMap(b.kv), `${ours}: key/values`);
    const names = (f: typeof a) => f.tensorInfos.map((t) => t.name).sort();
    assert.deepEqual(names(a), names(b));
    for (const info of b.tensorInfos) {
      const mine = a.tensorInfos.find((t) => t.name === info.name)!;
      assert.deepEqual([mine.type.name, mine.dims], [info.type.name, info.dims], info.name);
      const [x, y] = [
        a.tensors.find((t) => t.name === info.name)!,
        b.tensors.find((t) => t.name === info.name)!,
      ];
      assert.deepEqual(await x.read(), await y.read(), `${info.name}: bytes`);
    }
  } finally {
    await a.close();
    await b.close();
  }
}

interface LlamaRun {
  runs: { ids: number[]; out: number[] }[];
  texts: number[][];
}

interface OracleRun {
  dir: string;
  llama: Record<string, LlamaRun>;
  greedy: Record<string, number[][]>;
  compare: Record<string, { max_abs_diff: number; same_tokens: boolean[]; config: Record<string, unknown> }>;
}

let oracleRun: Promise<OracleRun> | undefined;

/**
 * Everything the oracle tests check, produced in one pass: ckpt's GGUFs
 * (F32 and F16 of each model, a split one) and the folders converted back,
 * then one llama.cpp process and one transformers process for all of them.
 */
function runOracles(): Promise<OracleRun> {
  oracleRun ??= (async () => {
    const { models, theirs } = await setup();
    const dir = await Deno.makeTempDir({ prefix: "ckpt-hf-gguf-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const jobs: Record<string, { model: string; prompts?: string[]; steps?: number; texts?: string[] }> = {};
    for (const model of MODELS) {
      for (const dtype of ["F32", "F16"]) {
        const out = `${dir}/${model}.${dtype}.gguf`;
        await convertHfToGguf(`${models}/${model}`, out, { dtype: dtype as "F32" | "F16" });
        jobs[`${model}.${dtype}`] = { model: out, prompts: PROMPTS, steps: STEPS, texts: TEXTS };
      }
      jobs[`${model}.converter`] = { model: `${theirs}/${model}.f32.gguf`, texts: TEXTS };
    }
    // The CLI's --max-shard-size (the other conversions here call the library: fewer processes).
    await ckpt(
      "convert",
      `${models}/llama-bpe`,
      `${dir}/m.gguf`,
      "--dtype",
      "F32",
      "--max-shard-size",
      "150KB",
      "-q",
    );
    jobs.split = { model: `${dir}/m-00001-of-00003.gguf`, prompts: PROMPTS, steps: STEPS };

    const compare: Record<string, { a: string; b: string; ids: number[]; texts: string[] }> = {};
    const back = async (name: string, gguf: string, original: string, texts: string[]) => {
      await convertGgufToHf(gguf, `${dir}/${name}-back`);
      compare[name] = { a: original, b: `${dir}/${name}-back`, ids: [1, 5, 9, 20, 40, 7, 3, 100], texts };
    };
    for (const model of MODELS) await back(model, `${dir}/${model}.F32.gguf`, `${models}/${model}`, TEXTS);
    await convertHfToGguf(`${models}/qwen2-bpe`, `${dir}/q8.gguf`, { dtype: "Q8_0" });
    await back("q8", `${dir}/q8.gguf`, `${models}/qwen2-bpe`, []);
    // YaRN scaling keys come back as rope_parameters.
    await convertHfToGguf(`${models}/qwen2-yarn`, `${dir}/yarn.gguf`, { dtype: "F32" });
    await back("yarn", `${dir}/yarn.gguf`, `${models}/qwen2-yarn`, []);
    // A GGUF llama.cpp's own converter wrote comes back too.
    await back("converter", `${theirs}/llama-bpe.f32.gguf`, `${models}/llama-bpe`, TEXTS);

    const names = Object.keys(jobs);
    const results = await runLlamaCpp(names.map((n) => jobs[n]));
    const llama = Object.fromEntries(names.map((n, i) => [n, results[i]]));
    const greedyNames = MODELS.flatMap((m) => [`${m}.F32`, `${m}.F16`]);
    const greedy = greedyNames.map((n) => ({
      model: `${models}/${n.split(".")[0]}`,
      prompts: llama[n].runs.map((r) => r.ids),
      steps: STEPS,
    }));
    const compareNames = Object.keys(compare);
    const hf = JSON.parse(
      await runVenv(await Deno.readTextFile(`${HF_DATA}/oracle.py`), [
        JSON.stringify({ greedy, compare: compareNames.map((n) => compare[n]) }),
      ]),
    );
    return {
      dir,
      llama,
      greedy: Object.fromEntries(greedyNames.map((n, i) => [n, hf.greedy[i]])),
      compare: Object.fromEntries(compareNames.map((n, i) => [n, hf.compare[i]])),
    };
  })();
  return oracleRun;
}

Deno.test({
  name:
    "ckpt convert writes the GGUF llama.cpp's converter writes: every key, type and tensor byte (F32, F16, BF16, Q8_0)",
  ignore: !ORACLES_READY,
  async fn() {
    const { models, theirs } = await setup();
    await using dir = await tempDir();
    for (const [model, outtype] of CONVERTER_CASES) {
      const out = `${dir.path}/${model}.${outtype}.gguf`;
      await ckpt("convert", `${models}/${model}`, out, "--dtype", outtype.toUpperCase(), "-q");
      await assertSameGguf(out, `${theirs}/${model}.${outtype}.gguf`);
    }
  },
});

Deno.test({
  name:
    "llama.cpp runs ckpt's GGUF: greedy continuations equal transformers' (F32 all, F16 all but at most one)",
  ignore: !ORACLES_READY,
  async fn() {
    const { llama, greedy } = await runOracles();
    for (const model of MODELS) {
      assert.deepEqual(llama[`${model}.F32`].runs.map((r) => r.out), greedy[`${model}.F32`], `${model} F32`);
      const f16 = llama[`${model}.F16`].runs;
      const off = f16.filter((r, p) => JSON.stringify(r.out) !== JSON.stringify(greedy[`${model}.F16`][p]));
      assert.ok(off.length <= 1, `${model} F16: ${off.length} prompts differ`);
      // The prompts really continue: not one token repeated.
      assert.ok(
        llama[`${model}.F32`].runs.some((r) => new Set(r.out).size > 2),
        `${model}: degenerate output`,
      );
    }
  },
});

Deno.test({
  name:
    "llama.cpp tokenizes like the GGUF llama.cpp's own converter writes (SentencePiece, Llama 3 BPE, Qwen2 BPE)",
  ignore: !ORACLES_READY,
  async fn() {
    const { llama } = await runOracles();
    for (const model of MODELS) {
      assert.deepEqual(llama[`${model}.F32`].texts, llama[`${model}.converter`].texts, model);
      assert.ok(llama[`${model}.F32`].texts.every((ids) => ids.length > 3));
    }
  },
});

Deno.test({
  name: "a GGUF converted back to a folder loads in transformers with the same logits and tokenizer",
  ignore: !ORACLES_READY,
  async fn() {
    const { dir, compare } = await runOracles();
    for (const name of [...MODELS, "converter"]) {
      assert.equal(compare[name].max_abs_diff, 0, `${name}: logits`);
      assert.deepEqual(compare[name].same_tokens, TEXTS.map(() => true), `${name}: tokenizer`);
    }
    assert.deepEqual(await listDir(`${dir}/llama-bpe-back`), [
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    assert.ok((await listDir(`${dir}/llama-spm-back`)).includes("tokenizer.model"));
    // Llama 3 rope scaling is recovered from rope_freqs.weight.
    assert.equal(compare["llama-bpe"].config.rope_type, "llama3");
    assert.equal(compare["llama-bpe"].config.original_max_position_embeddings, 64);
    assert.equal(compare.yarn.max_abs_diff, 0, "YaRN: logits");
    assert.equal(compare.yarn.config.rope_type, "yarn");
    // Block-quantized weights come back dequantized: close, not equal.
    assert.ok(
      compare.q8.max_abs_diff > 0 && compare.q8.max_abs_diff < 0.25,
      `Q8_0: ${compare.q8.max_abs_diff}`,
    );
  },
});

Deno.test({
  name: "split GGUF: gguf-split names and keys, llama.cpp loads the splits, ckpt opens them as one file",
  ignore: !ORACLES_READY,
  async fn() {
    const { dir, llama } = await runOracles();
    for (let i = 0; i < 3; i++) {
      const split = await openGguf(await fileSource(`${dir}/m-0000${i + 1}-of-00003.gguf`));
      const kv = kvMap(split.kv);
      assert.deepEqual(kv.get("split.no"), { type: "u16", value: i });
      assert.deepEqual(kv.get("split.count"), { type: "u16", value: 3 });
      assert.deepEqual(kv.get("split.tensors.count"), { type: "i32", value: 21 });
      assert.equal(kv.has("general.architecture"), i === 0);
      await split.close();
    }
    assert.equal(await exists(`${dir}/m-00004-of-00003.gguf`), false);
    const whole = await openGgufSplit(`${dir}/m-00002-of-00003.gguf`);
    const single = await openGguf(await fileSource(`${dir}/llama-bpe.F32.gguf`));
    assert.deepEqual(whole.tensors.map((t) => t.name), single.tensors.map((t) => t.name));
    assert.deepEqual(kvMap(whole.kv), kvMap(single.kv));
    await whole.close();
    await single.close();
    assert.deepEqual(llama.split.runs, llama["llama-bpe.F32"].runs);
    // Any split, converted, gives the one-file GGUF back.
    await ckpt("convert", `${dir}/m-00003-of-00003.gguf`, `${dir}/joined.gguf`, "-q");
    assert.deepEqual(
      await Deno.readFile(`${dir}/joined.gguf`),
      await Deno.readFile(`${dir}/llama-bpe.F32.gguf`),
    );
  },
});

// ---- Everything below needs no oracle: small folders written here.

const H = { hidden: 8, heads: 2, kvHeads: 1, layers: 1, ff: 16, vocab: 8 };

interface FolderOptions {
  config?: Record<string, unknown>;
  tokenizer?: Record<string, unknown> | null;
  shapes?: Record<string, number[]>;
  extra?: Record<string, number[]>;
}

function llamaTensors(
  shapes: Record<string, number[]> = {},
  extra: Record<string, number[]> = {},
): TensorEntry[] {
  const hd = H.hidden / H.heads;
  const base: Record<string, number[]> = {
    "model.embed_tokens.weight": [H.vocab, H.hidden],
    "model.norm.weight": [H.hidden],
    "model.layers.0.input_layernorm.weight": [H.hidden],
    "model.layers.0.post_attention_layernorm.weight": [H.hidden],
    "model.layers.0.self_attn.q_proj.weight": [H.heads * hd, H.hidden],
    "model.layers.0.self_attn.k_proj.weight": [H.kvHeads * hd, H.hidden],
    "model.layers.0.self_attn.v_proj.weight": [H.kvHeads * hd, H.hidden],
    "model.layers.0.self_attn.o_proj.weight": [H.hidden, H.heads * hd],
    "model.layers.0.mlp.gate_proj.weight": [H.ff, H.hidden],
    "model.layers.0.mlp.up_proj.weight": [H.ff, H.hidden],
    "model.layers.0.mlp.down_proj.weight": [H.hidden, H.ff],
    ...shapes,
    ...extra,
  };
  return Object.entries(base).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i + name.length));
    return tensorFromBytes(name, "F32", shape, new Uint8Array(values.buffer));
  });
}

const BPE_TOKENIZER = {
  added_tokens: [{ id: 7, content: "<|end|>", special: true, normalized: false }],
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  model: { type: "BPE", vocab: { a: 0, b: 1, c: 2, ab: 3, "Ġ": 4 }, merges: ["a b"] },
};

async function makeFolder(path: string, options: FolderOptions = {}): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: H.hidden,
    num_attention_heads: H.heads,
    num_key_value_heads: H.kvHeads,
    num_hidden_layers: H.layers,
    intermediate_size: H.ff,
    vocab_size: H.vocab,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    ...options.config,
  };
  await Deno.writeTextFile(`${path}/config.json`, JSON.stringify(config));
  if (options.tokenizer !== null) {
    await Deno.writeTextFile(`${path}/tokenizer.json`, JSON.stringify(options.tokenizer ?? BPE_TOKENIZER));
  }
  await withSink(
    await fileSink(`${path}/model.safetensors`),
    (sink) => writeSafetensors({ metadata: {}, tensors: llamaTensors(options.shapes, options.extra) }, sink),
  );
  return path;
}

async function refuses(args: string[], pattern: RegExp, output: string): Promise<void> {
  const r = await runCli(args);
  assert.equal(r.code, 2, `ckpt ${args.join(" ")} should exit 2: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(await exists(output), false, `${output} must not exist`);
  const dir = output.slice(0, output.lastIndexOf("/"));
  if (await exists(dir)) assert.deepEqual((await listDir(dir)).filter((n) => n.includes(".partial")), []);
}

Deno.test("ckpt convert FOLDER x.gguf writes a llama GGUF from a small folder, and inspect summarises it", async () => {
  await using dir = await tempDir();
  const folder = await makeFolder(`${dir.path}/tiny-llama`);
  await ckpt("convert", folder, `${dir.path}/out.gguf`, "--dtype", "F32", "-q");
  const file = await openGguf(await fileSource(`${dir.path}/out.gguf`));
  const kv = kvMap(file.kv);
  assert.deepEqual(kv.get("general.architecture"), { type: "string", value: "llama" });
  assert.deepEqual(kv.get("general.name"), { type: "string", value: "Tiny Llama" });
  assert.deepEqual(kv.get("llama.block_count"), { type: "u32", value: 1 });
  assert.deepEqual(kv.get("llama.attention.layer_norm_rms_epsilon"), {
    type: "f32",
    value: Math.fround(1e-5),
  });
  assert.deepEqual(kv.get("llama.rope.freq_base"), { type: "f32", value: 10000 });
  assert.deepEqual(kv.get("tokenizer.ggml.pre"), { type: "string", value: "gpt2" });
  assert.deepEqual(kv.get("tokenizer.ggml.token_type")?.value, {
    itemType: "i32",
    items: [1, 1, 1, 1, 1, 5, 5, 3],
  });
  assert.equal(file.tensors.some((t) => t.name === "output.weight"), false); // tied
  const q = file.tensorInfos.find((t) => t.name === "blk.0.attn_q.weight")!;
  assert.deepEqual(q.dims, [8, 8]); // innermost first
  await file.close();
  // The safetensors file with config.json beside it gets the same treatment; --plain keeps the tensors as they are.
  await ckpt("convert", `${folder}/model.safetensors`, `${dir.path}/same.gguf`, "--dtype", "F32", "-q");
  assert.deepEqual(await Deno.readFile(`${dir.path}/same.gguf`), await Deno.readFile(`${dir.path}/out.gguf`));
  await ckpt("convert", `${folder}/model.safetensors`, `${dir.path}/plain.gguf`, "--plain", "-q");
  const plain = await openGguf(await fileSource(`${dir.path}/plain.gguf`));
  assert.ok(plain.tensors.some((t) => t.name === "model.embed_tokens.weight"));
  await plain.close();
  const text = await ckpt("inspect", folder);
  assert.match(text, /LlamaForCausalLM → GGUF llama/);
  assert.match(text, /parameters\s+664 \(664\)/); // 64 + 8 + 16 + 64 + 32 + 32 + 64 + 3 × 128
  assert.match(text, /tokenizer\s+gpt2, 8 tokens, 1 merges, pre gpt2/);
  assert.match(text, /llama\.attention\.head_count_kv\s+1/);
});

Deno.test("MistralForCausalLM converts as llama; linear rope scaling and rope_parameters.rope_theta become typed keys", async () => {
  await using dir = await tempDir();
  const folder = await makeFolder(`${dir.path}/mistral`, {
    config: {
      architectures: ["MistralForCausalLM"],
      rope_theta: undefined,
      rope_parameters: { rope_type: "linear", factor: 2.5, rope_theta: 20000 },
      head_dim: 4,
    },
  });
  await ckpt("convert", folder, `${dir.path}/m.gguf`, "-q");
  const file = await openGguf(await fileSource(`${dir.path}/m.gguf`));
  const kv = kvMap(file.kv);
  assert.deepEqual(kv.get("general.architecture"), { type: "string", value: "llama" });
  assert.deepEqual(kv.get("general.file_type"), { type: "u32", value: 1 }); // F16 by default
  assert.deepEqual(kv.get("llama.rope.scaling.type"), { type: "string", value: "linear" });
  assert.deepEqual(kv.get("llama.rope.scaling.factor"), { type: "f32", value: 2.5 });
  assert.deepEqual(kv.get("llama.rope.freq_base"), { type: "f32", value: 20000 });
  assert.deepEqual(kv.get("llama.attention.key_length"), { type: "u32", value: 4 });
  assert.deepEqual(kv.get("llama.rope.dimension_count"), { type: "u32", value: 4 });
  assert.equal(file.tensorInfos.find((t) => t.name === "blk.0.attn_norm.weight")?.type.name, "F32");
  assert.equal(file.tensorInfos.find((t) => t.name === "blk.0.ffn_up.weight")?.type.name, "F16");
  await file.close();
  // And back: the linear scaling returns to config.json.
  await ckpt("convert", `${dir.path}/m.gguf`, `${dir.path}/back/`, "-q");
  const config = JSON.parse(await Deno.readTextFile(`${dir.path}/back/config.json`));
  assert.deepEqual(config.rope_parameters, { rope_type: "linear", rope_theta: 20000, factor: 2.5 });
  assert.deepEqual(config.architectures, ["LlamaForCausalLM"]);
});

Deno.test("tokenizerKeyValues() pads SentencePiece vocabularies and marks added tokens as the converter does", () => {
  const sentencePiece = {
    pieces: [
      { piece: "<unk>", score: 0, type: 2 },
      { piece: "<s>", score: 0, type: 3 },
      { piece: "</s>", score: 0, type: 3 },
      { piece: "<0x41>", score: 0, type: 6 },
      { piece: "\u2581a", score: -1.5, type: 1 },
    ],
    modelType: 2,
    byteFallback: true,
    addDummyPrefix: true,
    removeExtraWhitespaces: false,
  };
  const out = tokenizerKeyValues({
    folder: "m",
    config: { vocab_size: 8, bos_token_id: 1, eos_token_id: 2 },
    sentencePiece,
    addedTokens: { "<tool>": 5 },
    tokenizerConfig: {
      add_bos_token: true,
      added_tokens_decoder: {
        "6": { content: "\u2581hi", special: false },
        "7": { content: "<|eot|>", special: false },
      },
    },
  }, { embeddingRows: 8 });
  const kv = new Map(out.kv.map((e) => [e.key, e.value]));
  assert.deepEqual((kv.get("tokenizer.ggml.tokens") as GgufArray).items, [
    "<unk>",
    "<s>",
    "</s>",
    "<0x41>",
    "\u2581a",
    "<tool>",
    " hi",
    "<|eot|>",
  ]);
  assert.deepEqual((kv.get("tokenizer.ggml.token_type") as GgufArray).items, [
    2,
    3,
    3,
    6,
    1,
    4,
    4,
    3,
  ]);
  assert.deepEqual((kv.get("tokenizer.ggml.scores") as GgufArray).items, [
    0,
    0,
    0,
    0,
    -1.5,
    -1000,
    -1000,
    -1000,
  ]);
  assert.equal(kv.get("tokenizer.ggml.bos_token_id"), 1);
  assert.equal(kv.get("tokenizer.ggml.add_bos_token"), true);
  assert.throws(
    () => tokenizerKeyValues({ folder: "m", config: { vocab_size: 8 }, sentencePiece }, { embeddingRows: 4 }),
    /config\.json vocab_size has 8 tokens, more than the 4 rows of the token embedding/,
  );
});

Deno.test("hfToGguf() produces bodies in bounded chunks of whole heads, and the permutation undoes", async () => {
  await using dir = await tempDir();
  const folder = await makeFolder(`${dir.path}/m`);
  const model = await openHfModel(folder);
  const gguf = hfToGguf(model, { dtype: "F32", noVocab: true });
  const q = gguf.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
  const pieces: Uint8Array[] = [];
  for await (const p of q.chunks(64)) pieces.push(p.slice());
  assert.ok(
    pieces.length === 2 && pieces.every((p) => p.length === 128),
    "one head (4 rows × 8 × 4 bytes) a chunk",
  );
  const joined = new Uint8Array(256);
  pieces.forEach((p, i) => joined.set(p, i * 128));
  assert.deepEqual(joined, await q.read());
  const original = new Float32Array(
    (await model.tensors.find((t) => t.name.endsWith("q_proj.weight"))!.read()).slice().buffer,
  );
  const back = new Float32Array(64);
  unpermuteRows(new Float32Array(joined.buffer), back, 8, 8, 2);
  assert.deepEqual(back, original);
  const again = new Float32Array(64);
  permuteRows(original, again, 8, 8, 2);
  assert.deepEqual(again, new Float32Array(joined.buffer));
  await model.close();
});

Deno.test("ckpt convert refuses bad model folders with exit 2, naming the file and field, and writes nothing", async (t) => {
  await using dir = await tempDir();
  const out = (name: string) => `${dir.path}/${name}.gguf`;
  await t.step("missing config.json", async () => {
    const folder = await makeFolder(`${dir.path}/noconfig`);
    await Deno.remove(`${folder}/config.json`);
    await refuses(
      ["convert", folder, out("noconfig")],
      /noconfig: the folder has no config\.json/,
      out("noconfig"),
    );
  });
  await t.step("missing tokenizer (and --no-vocab writes weights only)", async () => {
    const folder = await makeFolder(`${dir.path}/notok`, { tokenizer: null });
    await refuses(
      ["convert", folder, out("notok")],
      /neither tokenizer\.model nor tokenizer\.json.*--no-vocab/,
      out("notok"),
    );
    await ckpt("convert", folder, out("notok"), "--no-vocab", "-q");
    const file = await openGguf(await fileSource(out("notok")));
    assert.equal(file.kv.some((e) => e.key.startsWith("tokenizer.")), false);
    await file.close();
  });
  await t.step("unknown architecture", async () => {
    const folder = await makeFolder(`${dir.path}/gpt2`, { config: { architectures: ["GPT2LMHeadModel"] } });
    await refuses(
      ["convert", folder, out("gpt2")],
      /config\.json: field 'architectures' is \["GPT2LMHeadModel"\]; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/,
      out("gpt2"),
    );
  });
  await t.step("unknown pre-tokenizer (and --pre overrides it)", async () => {
    const tokenizer = {
      ...BPE_TOKENIZER,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: "\\p{L}+|\\d" }, behavior: "Isolated" },
          { type: "ByteLevel", use_regex: false },
        ],
      },
    };
    const folder = await makeFolder(`${dir.path}/pre`, { tokenizer });
    await refuses(
      ["convert", folder, out("pre")],
      /tokenizer\.json.*regex "\\\\p\{L\}\+\|\\\\d".*--pre NAME/,
      out("pre"),
    );
    await ckpt("convert", folder, out("pre"), "--pre", "llama-bpe", "-q");
    const file = await openGguf(await fileSource(out("pre")));
    assert.equal(file.metadata["tokenizer.ggml.pre"], "llama-bpe");
    await file.close();
  });
  await t.step("shapes that contradict config.json", async () => {
    const folder = await makeFolder(`${dir.path}/shape`, { config: { intermediate_size: 32 } });
    await refuses(
      ["convert", folder, out("shape")],
      /tensor 'model\.layers\.0\.mlp\.down_proj\.weight' has shape \[8, 16\], but .*config\.json .*intermediate_size 32.* gives \[8, 32\]/,
      out("shape"),
    );
  });
  await t.step("a rope type llama.cpp can't represent", async () => {
    const folder = await makeFolder(`${dir.path}/rope`, {
      config: { rope_scaling: { rope_type: "dynamic", factor: 2 } },
    });
    await refuses(
      ["convert", folder, out("rope")],
      /config\.json: field 'rope_type' is "dynamic"; llama\.cpp's llama takes default, linear, yarn, llama3/,
      out("rope"),
    );
  });
  await t.step("a block beyond num_hidden_layers, an unknown tensor", async () => {
    const extra = await makeFolder(`${dir.path}/extra`, {
      extra: { "model.layers.1.input_layernorm.weight": [8] },
    });
    await refuses(
      ["convert", extra, out("extra")],
      /block 1, but config\.json num_hidden_layers is 1/,
      out("extra"),
    );
    const odd = await makeFolder(`${dir.path}/odd`, { extra: { "vision_tower.proj.weight": [8] } });
    await refuses(
      ["convert", odd, out("odd")],
      /tensor 'vision_tower\.proj\.weight' has no llama GGUF name/,
      out("odd"),
    );
  });
  await t.step("a vocabulary larger than the embedding", async () => {
    const tokenizer = { ...BPE_TOKENIZER, added_tokens: [{ id: 12, content: "<|x|>", special: true }] };
    const folder = await makeFolder(`${dir.path}/vocab`, { tokenizer });
    await refuses(
      ["convert", folder, out("vocab")],
      /tokenizer\.json has 13 tokens, more than the 8 rows of the token embedding/,
      out("vocab"),
    );
  });
  await t.step("truncated and missing shards", async () => {
    const folder = await makeFolder(`${dir.path}/shards`);
    await Deno.rename(`${folder}/model.safetensors`, `${folder}/model-00001-of-00001.safetensors`);
    const header = await openHfModel(`${folder}/model-00001-of-00001.safetensors`);
    const weightMap = Object.fromEntries(
      header.tensors.map((t) => [t.name, "model-00001-of-00001.safetensors"]),
    );
    await header.close();
    await Deno.writeTextFile(
      `${folder}/model.safetensors.index.json`,
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const bytes = await Deno.readFile(`${folder}/model-00001-of-00001.safetensors`);
    await Deno.writeFile(`${folder}/model-00001-of-00001.safetensors`, bytes.subarray(0, bytes.length - 100));
    await refuses(["convert", folder, out("trunc")], /model-00001-of-00001\.safetensors/, out("trunc"));
    await Deno.remove(`${folder}/model-00001-of-00001.safetensors`);
    await refuses(["convert", folder, out("missing")], /model-00001-of-00001\.safetensors/, out("missing"));
  });
  await t.step("a GGUF of an architecture with no table, to a folder", async () => {
    const folder = await makeFolder(`${dir.path}/arch`);
    await ckpt("convert", `${folder}/model.safetensors`, out("plainarch"), "--plain", "-q");
    await refuses(
      ["convert", out("plainarch"), `${dir.path}/back/`],
      /general\.architecture is ''; supported: llama, qwen2/,
      `${dir.path}/back/config.json`,
    );
  });
  await t.step("an absurd num_hidden_layers fails at the first missing block", async () => {
    const folder = await makeFolder(`${dir.path}/layers`, { config: { num_hidden_layers: 1_000_000_000 } });
    await refuses(
      ["convert", folder, out("layers")],
      /tensor 'model\.layers\.1\.input_layernorm\.weight' is missing/,
      out("layers"),
    );
  });
  await t.step("a GGUF whose tensors contradict its hyperparameters, to a folder", async () => {
    const folder = await makeFolder(`${dir.path}/heads`);
    await ckpt("convert", folder, out("heads"), "-q");
    const good = await openGguf(await fileSource(out("heads")));
    const kv = good.kv.map((e) => e.key === "llama.attention.head_count" ? { ...e, value: 3 } : e);
    await writeGgufFiles({ metadata: {}, tensors: good.tensors }, out("heads3"), { kv });
    await good.close();
    await refuses(
      ["convert", out("heads3"), `${dir.path}/heads-back/`],
      /heads3\.gguf: tensor 'blk\.0\.attn_k\.weight' has shape \[4, 8\], but its hyperparameters give \[2, 8\]/,
      `${dir.path}/heads-back/config.json`,
    );
  });
  await t.step("a split GGUF with a split missing", async () => {
    const folder = await makeFolder(`${dir.path}/split`);
    await ckpt("convert", folder, out("s"), "--max-shard-size", "300B", "-q");
    const splits = (await listDir(dir.path)).filter((n) => /^s-\d{5}-of-\d{5}\.gguf$/.test(n));
    assert.ok(splits.length > 2);
    await Deno.remove(`${dir.path}/${splits[1]}`);
    await refuses(
      ["convert", `${dir.path}/${splits[0]}`, out("joined")],
      /split 2 of \d+ .* is missing/,
      out("joined"),
    );
  });
});
