// A Hugging Face folder quantized to a llama-quantize file type in one pass
// equals llama.cpp's two-step route: the folder's F32 GGUF, then
// llama_model_quantize on it (and ckpt's own GGUF requantization).

import assert from "node:assert/strict";
import { writeSafetensors } from "../formats/safetensors/mod.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { listDir, runCli, tempDir } from "./_helpers.ts";
import { llamaModelQuantize, skipUnlessGgmlOracle } from "./_ggml_oracle.ts";

const HIDDEN = 256;
const FF = 512;
const LAYERS = 2;
const VOCAB = 512;
const HEADS = 4;
const KV_HEADS = 2;
const HEAD_DIM = HIDDEN / HEADS;

/** A tiny LlamaForCausalLM folder (no tokenizer) whose rows are multiples of 256. */
async function makeLlamaFolder(dir: string): Promise<void> {
  let seed = 7;
  const random = (n: number, scale: number) =>
    new Float32Array(n).map(() => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return ((seed / 2 ** 32) * 2 - 1) * scale;
    });
  const tensors: TensorEntry[] = [];
  const add = (name: string, shape: number[], scale = 0.05) => {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors.push(tensorFromBytes(name, "F32", shape, new Uint8Array(random(n, scale).buffer)));
  };
  add("model.embed_tokens.weight", [VOCAB, HIDDEN]);
  for (let i = 0; i < LAYERS; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [HIDDEN], 1);
    add(`${p}.self_attn.q_proj.weight`, [HEADS * HEAD_DIM, HIDDEN]);
    add(`${p}.self_attn.k_proj.weight`, [KV_HEADS * HEAD_DIM, HIDDEN]);
    add(`${p}.self_attn.v_proj.weight`, [KV_HEADS * HEAD_DIM, HIDDEN]);
    add(`${p}.self_attn.o_proj.weight`, [HIDDEN, HEADS * HEAD_DIM]);
    add(`${p}.post_attention_layernorm.weight`, [HIDDEN], 1);
    add(`${p}.mlp.gate_proj.weight`, [FF, HIDDEN]);
    add(`${p}.mlp.up_proj.weight`, [FF, HIDDEN]);
    add(`${p}.mlp.down_proj.weight`, [HIDDEN, FF]);
  }
  add("model.norm.weight", [HIDDEN], 1);
  add("lm_head.weight", [VOCAB, HIDDEN]);
  await withSink(
    await fileSink(`${dir}/model.safetensors`),
    (sink) => writeSafetensors({ metadata: { format: "pt" }, tensors }, sink),
  );
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: HIDDEN,
      intermediate_size: FF,
      num_hidden_layers: LAYERS,
      num_attention_heads: HEADS,
      num_key_value_heads: KV_HEADS,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      vocab_size: VOCAB,
      tie_word_embeddings: false,
      torch_dtype: "float32",
    }),
  );
}

async function cli(args: string[]): Promise<void> {
  const result = await runCli(args, { permissions: ["--allow-read", "--allow-write", "--allow-env"] });
  assert.equal(result.code, 0, `${args.join(" ")}\n${result.stderr}`);
}

Deno.test("ckpt quantize MODEL_DIR out.gguf --scheme Q4_K_M equals the F32 GGUF requantized", async (t) => {
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.path}/tiny-llama`);
  await makeLlamaFolder(`${dir.path}/tiny-llama`);
  await cli(["convert", `${dir.path}/tiny-llama`, `${dir.path}/f32.gguf`, "--dtype", "F32", "--no-vocab"]);
  for (const fileType of ["Q4_K_M", "Q2_K", "Q6_K"]) {
    await t.step(fileType, async () => {
      const direct = `${dir.path}/direct-${fileType}.gguf`;
      const twoStep = `${dir.path}/two-step-${fileType}.gguf`;
      await cli([
        "quantize",
        `${dir.path}/tiny-llama`,
        direct,
        "--scheme",
        fileType,
        "--no-vocab",
        "--jobs",
        "2",
      ]);
      await cli(["quantize", `${dir.path}/f32.gguf`, twoStep, "--scheme", fileType, "--jobs", "1"]);
      assert.deepEqual(await Deno.readFile(direct), await Deno.readFile(twoStep));
    });
  }
});

Deno.test({
  name: "a model folder quantized to Q4_K_M equals llama_model_quantize of its F32 GGUF",
  ignore: skipUnlessGgmlOracle("libllama.v0.4.0.so"),
  async fn() {
    await using dir = await tempDir();
    await Deno.mkdir(`${dir.path}/tiny-llama`);
    await makeLlamaFolder(`${dir.path}/tiny-llama`);
    await cli(["convert", `${dir.path}/tiny-llama`, `${dir.path}/f32.gguf`, "--dtype", "F32", "--no-vocab"]);
    await llamaModelQuantize(`${dir.path}/f32.gguf`, `${dir.path}/llama.gguf`, 15);
    await cli([
      "quantize",
      `${dir.path}/tiny-llama`,
      `${dir.path}/ckpt.gguf`,
      "--scheme",
      "Q4_K_M",
      "--no-vocab",
    ]);
    assert.deepEqual(
      await Deno.readFile(`${dir.path}/ckpt.gguf`),
      await Deno.readFile(`${dir.path}/llama.gguf`),
    );
  },
});

Deno.test("a model folder to a file type refuses a non-GGUF output and leaves nothing", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.path}/m`);
  await makeLlamaFolder(`${dir.path}/m`);
  const before = await listDir(dir.path);
  const result = await runCli([
    "quantize",
    `${dir.path}/m`,
    `${dir.path}/q.safetensors`,
    "--scheme",
    "Q4_K_M",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /File type Q4_K_M writes a GGUF model; use a \.gguf output/);
  assert.deepEqual(await listDir(dir.path), before);
});
