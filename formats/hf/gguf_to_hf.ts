/**
 * A GGUF model as a Hugging Face folder: config.json from the GGUF
 * hyperparameters, tensors with Hugging Face names and the Q/K permutation
 * undone (block-quantized tensors dequantized to F32), and tokenizer files
 * where the vocabulary allows — the same architecture tables read backwards.
 *
 * @module
 */

import { FormatError, UsageError } from "../../lib/errors.ts";
import { dequantizeEntry } from "../../lib/ggml_blocks.ts";
import type { TensorEntry } from "../../lib/tensor.ts";
import type { GgufArray, GgufItem, GgufKeyValue } from "../gguf/gguf_value.ts";
import { architectureByName, ARCHITECTURES } from "./architectures/architecture_by_name.ts";
import type { Hparams } from "./architectures/_table.ts";
import { llama3RopeFactors, unpermuteRows } from "./hf_to_gguf.ts";
import { preTokenizerFor } from "./pre_tokenizer.ts";
import { PIECE_TYPE } from "./_piece_type.ts";
import type { JsonObject } from "./open_hf_model.ts";

/** The files of a Hugging Face folder, ready to write. */
export interface HfFolderContents {
  /** config.json. */
  readonly config: JsonObject;
  /** generation_config.json. */
  readonly generationConfig: JsonObject;
  /** Tensors with Hugging Face names. */
  readonly tensors: TensorEntry[];
  /** tokenizer.json (BPE vocabularies). */
  readonly tokenizerJson?: JsonObject;
  /** tokenizer.model (SentencePiece vocabularies). */
  readonly tokenizerModel?: Uint8Array;
  /** tokenizer_config.json, with any tokenizer. */
  readonly tokenizerConfig?: JsonObject;
  /** What could not be carried over, for the caller to show. */
  readonly warnings: string[];
}

function lookup(kv: readonly GgufKeyValue[]): (key: string) => GgufItem | undefined {
  const map = new Map(kv.map((e) => [e.key, e.value]));
  return (key) => map.get(key);
}

function items(value: GgufItem | undefined): readonly GgufItem[] {
  return value !== undefined && typeof value === "object" && "items" in (value as object)
    ? (value as GgufArray).items
    : [];
}

/** Find Llama 3 rope parameters that reproduce `factors` exactly, trying the published settings. */
function fitLlama3(factors: Float32Array, theta: number, headDim: number): JsonObject | undefined {
  const factor = Math.max(...factors);
  for (const low of [1, 2]) {
    for (const high of [4, 8, 2]) {
      for (let ctx = 16; ctx <= 1 << 20; ctx *= 2) {
        const rope = {
          rope_type: "llama3",
          rope_theta: theta,
          factor,
          low_freq_factor: low,
          high_freq_factor: high,
          original_max_position_embeddings: ctx,
        };
        const again = llama3RopeFactors({ rope_parameters: rope }, headDim)!;
        if (again.every((v, i) => v === factors[i])) return rope;
      }
    }
  }
  return undefined;
}

function reorderedEntry(entry: TensorEntry, name: string, heads: number | undefined): TensorEntry {
  const plain = dequantizeEntry(entry);
  if (heads === undefined) {
    return { ...plain, name, read: (out?: Uint8Array) => plain.read(out) };
  }
  const rows = plain.shape[0];
  const rowBytes = plain.byteLength / rows;
  return {
    name,
    dtype: plain.dtype,
    shape: plain.shape,
    byteLength: plain.byteLength,
    async read(out?: Uint8Array): Promise<Uint8Array> {
      const src = await plain.read();
      const target = out ? out.subarray(0, plain.byteLength) : new Uint8Array(plain.byteLength);
      // Rows are moved as bytes: the same permutation for every element type.
      const aligned = new Uint8Array(src);
      const dst = new Uint8Array(plain.byteLength);
      const cols = rowBytes / 4;
      if (Number.isInteger(cols) && rowBytes % 4 === 0) {
        unpermuteRows(new Float32Array(aligned.buffer), new Float32Array(dst.buffer), rows, cols, heads);
      } else {
        const halfCols = rowBytes / 2;
        const a16 = new Uint16Array(aligned.buffer);
        const d16 = new Uint16Array(dst.buffer);
        const hd = rows / heads;
        for (let h = 0; h < heads; h++) {
          for (let j = 0; j < hd / 2; j++) {
            for (let k = 0; k < 2; k++) {
              const from = (h * hd + j * 2 + k) * halfCols;
              d16.set(a16.subarray(from, from + halfCols), (h * hd + k * (hd / 2) + j) * halfCols);
            }
          }
        }
      }
      target.set(dst);
      return target;
    },
  };
}

function bpeTokenizer(
  get: (key: string) => GgufItem | undefined,
  tokens: string[],
  types: number[],
): JsonObject | undefined {
  const pre = String(get("tokenizer.ggml.pre") ?? "default");
  const preTokenizer = preTokenizerFor(pre);
  if (preTokenizer === undefined) return undefined;
  const vocab: Record<string, number> = {};
  const added: JsonObject[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (types[i] === PIECE_TYPE.unused && /^\[PAD\d+\]$/.test(tokens[i])) continue;
    Object.defineProperty(vocab, tokens[i], {
      value: i,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    if (types[i] === PIECE_TYPE.control || types[i] === PIECE_TYPE.userDefined) {
      added.push({
        id: i,
        content: tokens[i],
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: types[i] !== PIECE_TYPE.control,
        special: types[i] === PIECE_TYPE.control,
      });
    }
  }
  const merges = items(get("tokenizer.ggml.merges")).map((m) => {
    const s = String(m);
    const at = s.indexOf(" ");
    return [s.slice(0, at), s.slice(at + 1)];
  });
  const bos = get("tokenizer.ggml.bos_token_id");
  const addBos = get("tokenizer.ggml.add_bos_token") === true && typeof bos === "number";
  const bosText = typeof bos === "number" ? tokens[bos] : undefined;
  const postProcessor = addBos
    ? {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: bosText, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bosText, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: bosText, type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { [bosText!]: { id: bosText, ids: [bos], tokens: [bosText] } },
    }
    : { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: postProcessor,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      // llama.cpp looks whole Llama 3 words up before merging.
      ignore_merges: pre === "llama-bpe",
      vocab,
      merges,
    },
  };
}

/**
 * Plan a Hugging Face folder from an opened GGUF (its typed key/values and
 * tensors). Throws `UsageError` listing the supported architectures for any
 * other `general.architecture`, and `FormatError` for a tensor the table does
 * not name or a missing hyperparameter.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "@ckpt/ckpt/gguf";
 * import { ggufToHf } from "@ckpt/ckpt/hf";
 * const gguf = await openGguf(await fileSource("model.gguf"));
 * const folder = await ggufToHf(gguf.kv, gguf.tensors);
 * console.log(folder.config.architectures);
 * ```
 */
export async function ggufToHf(
  kv: readonly GgufKeyValue[],
  tensors: readonly TensorEntry[],
  path = "GGUF",
): Promise<HfFolderContents> {
  const get = lookup(kv);
  const archName = String(get("general.architecture") ?? "");
  const arch = architectureByName(archName);
  if (!arch) {
    throw new UsageError(
      `Cannot convert ${path} to a Hugging Face folder: general.architecture is '${archName}'; supported: ${
        ARCHITECTURES.map((a) => a.name).join(", ")
      }`,
    );
  }
  const num = (key: string, fallback?: number): number => {
    const v = get(`${archName}.${key}`) ?? fallback;
    if (typeof v !== "number" && typeof v !== "bigint") {
      throw new FormatError(`Cannot convert ${path}: key ${archName}.${key} is missing`, { format: "gguf" });
    }
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new FormatError(
        `Cannot convert ${path}: key ${archName}.${key} is ${v}, expected a positive integer`,
        {
          format: "gguf",
        },
      );
    }
    return n;
  };
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const embd = byName.get("token_embd.weight");
  if (!embd) {
    throw new FormatError(`Cannot convert ${path}: tensor token_embd.weight is missing`, { format: "gguf" });
  }
  const hidden = num("embedding_length");
  const heads = num("attention.head_count");
  const h: Hparams = {
    hidden,
    heads,
    kvHeads: num("attention.head_count_kv", heads),
    headDim: num("attention.key_length", Math.floor(hidden / heads)),
    layers: num("block_count"),
    ff: num("feed_forward_length"),
    vocab: embd.shape[0],
  };
  const warnings: string[] = [];
  const config: JsonObject = { architectures: [arch.hfClasses[0]], model_type: arch.modelType };
  for (const rule of arch.hparams) {
    if (!rule.configKey) continue;
    const v = get(`${archName}.${rule.key}`);
    if (v === undefined) continue;
    config[rule.configKey] = typeof v === "bigint" ? Number(v) : v;
  }
  Object.assign(config, {
    hidden_size: h.hidden,
    num_attention_heads: h.heads,
    num_key_value_heads: h.kvHeads,
    head_dim: h.headDim,
    num_hidden_layers: h.layers,
    intermediate_size: h.ff,
    vocab_size: h.vocab,
    rms_norm_eps: Number((get(`${archName}.attention.layer_norm_rms_epsilon`) as number).toPrecision(7)),
  });
  const theta = Number(get(`${archName}.rope.freq_base`) ?? 10000);
  let rope: JsonObject = { rope_type: "default", rope_theta: theta };
  const scalingType = get(`${archName}.rope.scaling.type`);
  if (scalingType === "linear" || scalingType === "yarn") {
    rope = {
      rope_type: scalingType,
      rope_theta: theta,
      factor: Number(get(`${archName}.rope.scaling.factor`)),
    };
    const yarnKeys: [string, string][] = [
      ["original_context_length", "original_max_position_embeddings"],
      ["yarn_ext_factor", "extrapolation_factor"],
      ["yarn_attn_factor", "attention_factor"],
      ["yarn_beta_fast", "beta_fast"],
      ["yarn_beta_slow", "beta_slow"],
    ];
    for (const [key, field] of scalingType === "yarn" ? yarnKeys : []) {
      const v = get(`${archName}.rope.scaling.${key}`);
      if (typeof v === "number") rope[field] = v;
    }
  }
  const ropeFreqs = byName.get("rope_freqs.weight");
  const rest = tensors.filter((t) => t !== ropeFreqs);
  const tied = !byName.has("output.weight");
  config.tie_word_embeddings = tied;
  const hasBias = tensors.some((t) => /^blk\.\d+\.attn_[qkv]\.bias$/.test(t.name));
  Object.assign(config, arch.configExtras?.(h, hasBias) ?? {});
  const bos = get("tokenizer.ggml.bos_token_id");
  const eos = get("tokenizer.ggml.eos_token_id");
  const pad = get("tokenizer.ggml.padding_token_id");
  if (bos !== undefined) config.bos_token_id = Number(bos);
  if (eos !== undefined) config.eos_token_id = Number(eos);
  if (pad !== undefined) config.pad_token_id = Number(pad);
  // The type the weights are stored in (block types come back as F32).
  const stored = dequantizeEntry(embd).dtype;
  config.dtype = stored === "F16" ? "float16" : stored === "BF16" ? "bfloat16" : "float32";

  // Tensor names, the table read backwards.
  const rules = arch.tensors.map((rule) => {
    const escaped = rule.gguf.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace("\\{bid\\}", "(\\d+)");
    return { rule, regex: new RegExp(`^${escaped}\\.(weight|bias)$`) };
  });
  const out: TensorEntry[] = [];
  for (const t of rest) {
    let name: string | undefined;
    let permute: number | undefined;
    let matchedRule: (typeof rules)[number]["rule"] | undefined;
    for (const { rule, regex } of rules) {
      const m = regex.exec(t.name);
      if (!m) continue;
      const hasBid = rule.gguf.includes("{bid}");
      name = `${rule.hf.replace("{bid}", hasBid ? m[1] : "")}.${m[hasBid ? 2 : 1]}`;
      permute = rule.permute === "heads" ? h.heads : rule.permute === "kvHeads" ? h.kvHeads : undefined;
      matchedRule = rule;
      break;
    }
    if (!name || !matchedRule) {
      throw new FormatError(
        `Cannot convert ${path}: tensor '${t.name}' has no Hugging Face name in the ${archName} table`,
        { format: "gguf" },
      );
    }
    // The shapes the forward direction checks: the permutation then moves whole heads of row pairs.
    const full = matchedRule.shape(h);
    const expected = name.endsWith(".bias") ? [full[0]] : full;
    if (
      t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i]) || h.headDim % 2 !== 0
    ) {
      throw new FormatError(
        `Cannot convert ${path}: tensor '${t.name}' has shape [${
          t.shape.join(", ")
        }], but its hyperparameters give [${expected.join(", ")}] (head dimension ${h.headDim})`,
        { format: "gguf" },
      );
    }
    out.push(reorderedEntry(t, name, permute));
  }

  if (ropeFreqs) {
    // Llama 3 scaling: find the settings that give these factors back.
    const bytes = new Uint8Array(await dequantizeEntry(ropeFreqs).read());
    const fitted = fitLlama3(new Float32Array(bytes.buffer, 0, bytes.length / 4), theta, h.headDim);
    if (fitted) rope = fitted;
    else warnings.push("rope_freqs.weight matches no Llama 3 rope setting; written with the default rope");
  }
  config.rope_parameters = rope;
  config.max_position_embeddings ??= 2048;

  // Tokenizer.
  const model = get("tokenizer.ggml.model");
  const tokens = items(get("tokenizer.ggml.tokens")).map(String);
  const types = items(get("tokenizer.ggml.token_type")).map(Number);
  let tokenizerJson: JsonObject | undefined;
  let tokenizerModel: Uint8Array | undefined;
  let tokenizerConfig: JsonObject | undefined;
  const text = (id: GgufItem | undefined) => typeof id === "number" ? tokens[id] : undefined;
  const template = get("tokenizer.chat_template");
  const common: JsonObject = {
    bos_token: text(bos),
    eos_token: text(eos),
    pad_token: text(pad),
    unk_token: text(get("tokenizer.ggml.unknown_token_id")),
    ...(typeof get("tokenizer.ggml.add_bos_token") === "boolean"
      ? { add_bos_token: get("tokenizer.ggml.add_bos_token") }
      : {}),
    ...(typeof get("tokenizer.ggml.add_eos_token") === "boolean"
      ? { add_eos_token: get("tokenizer.ggml.add_eos_token") }
      : {}),
    ...(typeof template === "string" ? { chat_template: template } : {}),
    model_max_length: config.max_position_embeddings,
    clean_up_tokenization_spaces: false,
  };
  if (model === "gpt2" && tokens.length > 0) {
    tokenizerJson = bpeTokenizer(get, tokens, types);
    if (tokenizerJson) tokenizerConfig = { tokenizer_class: "PreTrainedTokenizerFast", ...common };
    else {warnings.push(
        `no tokenizer written: pre-tokenizer '${
          get("tokenizer.ggml.pre")
        }' has no tokenizer.json form in ckpt`,
      );}
  } else if (model === "llama" && tokens.length > 0) {
    const scores = items(get("tokenizer.ggml.scores")).map(Number);
    // Loaded here only: the protobuf runtime reads an environment variable when it loads.
    const { encodeSentencePieceModel } = await import("./sentencepiece_model.ts");
    tokenizerModel = encodeSentencePieceModel({
      pieces: tokens.map((piece, i) => ({
        piece,
        score: scores[i] ?? 0,
        type: types[i] ?? PIECE_TYPE.normal,
      })),
      modelType: 2,
      byteFallback: types.includes(PIECE_TYPE.byte),
      addDummyPrefix: get("tokenizer.ggml.add_space_prefix") !== false,
      removeExtraWhitespaces: false,
    });
    tokenizerConfig = { tokenizer_class: "LlamaTokenizer", legacy: true, ...common };
  } else if (tokens.length > 0) {
    warnings.push(`no tokenizer written: tokenizer.ggml.model '${String(model)}' is not llama or gpt2`);
  }
  const generationConfig: JsonObject = { _from_model_config: true };
  if (bos !== undefined) generationConfig.bos_token_id = Number(bos);
  if (eos !== undefined) generationConfig.eos_token_id = Number(eos);
  return { config, generationConfig, tensors: out, tokenizerJson, tokenizerModel, tokenizerConfig, warnings };
}
