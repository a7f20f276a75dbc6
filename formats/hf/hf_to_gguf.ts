/**
 * A Hugging Face model as the GGUF llama.cpp runs: typed hyperparameter and
 * tokenizer keys as llama.cpp's converter writes them, and lazy tensors with
 * GGUF names, Q/K rows permuted where the architecture asks, norms and 1-D
 * tensors in F32, the rest in the chosen type — each produced in bounded
 * chunks of whole rows when written.
 *
 * @module
 */

import { castBytes } from "../../lib/cast.ts";
import type { DType } from "../../lib/dtype.ts";
import { elementCount } from "../../lib/dtype.ts";
import { FormatError, UsageError } from "../../lib/errors.ts";
import { quantizeRowQ8_0 } from "../../lib/quant/q8_0.ts";
import type { TensorEntry } from "../../lib/tensor.ts";
import type { GgufKeyValue } from "../gguf/gguf_value.ts";
import type { ChunkedTensorEntry } from "../gguf/write_gguf_files.ts";
import { ROPE_TYPES, ropeParameters } from "./architectures/_hparams.ts";
import type { Hparams, TensorRule } from "./architectures/_table.ts";
import { type HfModel, modelNameOf } from "./open_hf_model.ts";
import { type TokenizerKeyValues, tokenizerKeyValues } from "./tokenizer_key_values.ts";

/** The GGUF tensor types `hfToGguf` writes weights as. */
export type HfGgufType = "F32" | "F16" | "BF16" | "Q8_0";

/** `general.file_type` (llama_ftype) of each output type. */
export const FILE_TYPE_OF: Readonly<Record<HfGgufType, number>> = Object.freeze({
  F32: 0,
  F16: 1,
  Q8_0: 7,
  BF16: 32,
});

/** Options for {@linkcode hfToGguf}. */
export interface HfToGgufOptions {
  /** Type of 2-D weights; norms, biases and 1-D tensors stay F32. @default "F16" */
  dtype?: HfGgufType;
  /** Write no tokenizer keys (weights and hyperparameters only). @default false */
  noVocab?: boolean;
  /** Override the BPE pre-tokenizer name (`tokenizer.ggml.pre`). @default derived from tokenizer.json */
  pre?: string;
  /** `general.name`. @default from the folder's name, as llama.cpp's converter does */
  name?: string;
}

/** The GGUF to write: key/values and tensors, with a summary. */
export interface HfGguf {
  /** Typed key/values, `general.architecture` first. */
  readonly kv: GgufKeyValue[];
  /** Tensors with GGUF names, each able to produce its bytes in chunks. */
  readonly tensors: ChunkedTensorEntry[];
  /** The tokenizer keys' summary, unless `noVocab`. */
  readonly tokenizer?: TokenizerKeyValues;
  /** Parameters written (elements of every tensor). */
  readonly parameters: number;
}

const SOURCE_DTYPES: ReadonlySet<DType> = new Set<DType>(["F32", "F16", "BF16"]);

interface Matched {
  rule: TensorRule;
  bid: number | undefined;
  suffix: "weight" | "bias";
  ggufName: string;
}

function ruleRegex(rule: TensorRule): RegExp {
  const escaped = rule.hf.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace("\\{bid\\}", "(\\d+)");
  return new RegExp(`^${escaped}\\.(weight|bias)$`);
}

function describeHparams(h: Hparams): string {
  return `hidden_size ${h.hidden}, num_attention_heads ${h.heads}, num_key_value_heads ${h.kvHeads}, head_dim ${h.headDim}, intermediate_size ${h.ff}, vocab_size ${h.vocab}`;
}

/** Permute rows for llama.cpp's RoPE: within each head, rows `k·hd/2 + j` go to `2j + k`. */
export function permuteRows(
  src: Float32Array,
  dst: Float32Array,
  rows: number,
  cols: number,
  heads: number,
): void {
  const hd = rows / heads;
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let k = 0; k < 2; k++) {
        const from = (h * hd + k * half + j) * cols;
        const to = (h * hd + j * 2 + k) * cols;
        dst.set(src.subarray(from, from + cols), to);
      }
    }
  }
}

/** Undo {@linkcode permuteRows}. */
export function unpermuteRows(
  src: Float32Array,
  dst: Float32Array,
  rows: number,
  cols: number,
  heads: number,
): void {
  const hd = rows / heads;
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let k = 0; k < 2; k++) {
        const from = (h * hd + j * 2 + k) * cols;
        const to = (h * hd + k * half + j) * cols;
        dst.set(src.subarray(from, from + cols), to);
      }
    }
  }
}

/** Llama 3's per-frequency RoPE factors (`rope_freqs.weight`), in fp32 steps as the converter's torch code runs. */
export function llama3RopeFactors(
  config: Record<string, unknown>,
  headDim: number,
): Float32Array | undefined {
  const rp = ropeParameters(config);
  if (typeof rp.rope_type !== "string" || rp.rope_type.toLowerCase() !== "llama3") return undefined;
  const base = typeof rp.rope_theta === "number" ? rp.rope_theta : 10000;
  const factor = typeof rp.factor === "number" ? rp.factor : 8;
  const low = typeof rp.low_freq_factor === "number" ? rp.low_freq_factor : 1;
  const high = typeof rp.high_freq_factor === "number" ? rp.high_freq_factor : 4;
  const oldCtx = typeof rp.original_max_position_embeddings === "number"
    ? rp.original_max_position_embeddings
    : 8192;
  const f = Math.fround;
  const lowWavelen = oldCtx / low;
  const highWavelen = oldCtx / high;
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = f(1 / f(f(base) ** f(f(2 * i) / headDim)));
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = f(f(f(f(oldCtx) / wavelen) - low) / f(high - low));
      out[i] = f(1 / f(f(f(1 - smooth) / f(factor)) + smooth));
    }
  }
  return out;
}

function sizeLabel(params: number): string {
  const [scaled, suffix] = params > 1e12
    ? [params * 1e-12, "T"]
    : params > 1e9
    ? [params * 1e-9, "B"]
    : params > 1e6
    ? [params * 1e-6, "M"]
    : [params * 1e-3, "K"];
  const digits = String(Math.round(scaled)).replace(/^0+/, "").length;
  return `${scaled.toFixed(Math.max(2 - digits, 0))}${suffix}`;
}

/** F32/F16/BF16 bytes (2-byte aligned: they come from our own buffers) widened into `out`, exactly. */
function widen(bytes: Uint8Array, dtype: DType, out: Float32Array): void {
  if (dtype === "F32") out.set(new Float32Array(bytes.buffer, bytes.byteOffset, out.length));
  else if (dtype === "F16") out.set(new Float16Array(bytes.buffer, bytes.byteOffset, out.length));
  else {
    const half = new Uint16Array(bytes.buffer, bytes.byteOffset, out.length);
    const wide = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < half.length; i++) wide[i] = half[i] << 16;
  }
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * One output tensor whose bytes come from `source` rows, widened to F32,
 * permuted by head when `heads` is set, and encoded as `type`.
 */
/**
 * Work buffers shared by every entry of one plan: a writer takes one entry's
 * chunks at a time, and fresh buffers per tensor would only feed the garbage
 * collector (peak memory then follows the model instead of the chunk).
 */
class Buffers {
  raw = new Uint8Array(0);
  f32 = new Float32Array(0);
  permuted = new Float32Array(0);
  out = new Uint8Array(0);
  bytes(field: "raw" | "out", n: number): Uint8Array {
    if (this[field].length < n) this[field] = new Uint8Array(n);
    return this[field].subarray(0, n);
  }
  floats(field: "f32" | "permuted", n: number): Float32Array {
    if (this[field].length < n) this[field] = new Float32Array(n);
    return this[field].subarray(0, n);
  }
}

function convertedEntry(
  name: string,
  source: TensorEntry,
  type: HfGgufType | "F32",
  heads: number | undefined,
  shared: Buffers,
): ChunkedTensorEntry {
  const shape = source.shape.length === 0 ? [1] : [...source.shape];
  const rows = shape.length === 1 ? shape[0] : shape[0];
  const cols = shape.length === 1 ? 1 : elementCount(shape.slice(1));
  const outRowBytes = type === "F32" ? cols * 4 : type === "Q8_0" ? (cols / 32) * 34 : cols * 2;
  const byteLength = rows * outRowBytes;
  const srcRowBytes = cols * (source.dtype === "F32" ? 4 : 2);
  const group = heads === undefined ? 1 : rows / heads;
  const passThrough = heads === undefined && source.dtype === type;

  async function* chunks(maxBytes: number, buffers: Buffers = shared): AsyncGenerator<Uint8Array> {
    // Whole head groups per chunk, so a permutation never crosses a chunk.
    const perChunk = Math.max(group, Math.floor(maxBytes / Math.max(cols * 4, 1) / group) * group);
    for (let r0 = 0; r0 < rows; r0 += perChunk) {
      const n = Math.min(perChunk, rows - r0);
      const srcBytes = n * srcRowBytes;
      const bytes = source.location
        ? await source.location.source.read(
          source.location.offset + r0 * srcRowBytes,
          srcBytes,
          buffers.bytes("raw", srcBytes),
        )
        : (await source.read()).subarray(r0 * srcRowBytes, r0 * srcRowBytes + srcBytes);
      if (passThrough) {
        yield bytes;
        continue;
      }
      const values = n * cols;
      let v = buffers.floats("f32", values);
      widen(bytes, source.dtype, v);
      if (heads !== undefined) {
        const permuted = buffers.floats("permuted", values);
        permuteRows(v, permuted, n, cols, n / group);
        v = permuted;
      }
      const outBytes = n * outRowBytes;
      if (type === "F32") {
        yield bytesOf(v);
        continue;
      }
      const target = buffers.bytes("out", outBytes);
      if (type === "Q8_0") quantizeRowQ8_0(v, target);
      else castBytes(bytesOf(v), "F32", type, values, { out: target });
      yield target;
    }
  }

  return {
    name,
    dtype: type === "Q8_0" ? "F32" : type,
    shape,
    byteLength,
    ...(type === "Q8_0" ? { encoding: "Q8_0" } : {}),
    chunks,
    async read(out?: Uint8Array): Promise<Uint8Array> {
      const target = out ? out.subarray(0, byteLength) : new Uint8Array(byteLength);
      let at = 0;
      // Own buffers: read() may run beside another entry's chunks.
      for await (const piece of chunks(Math.max(byteLength, 1) * 4, new Buffers())) {
        target.set(piece, at);
        at += piece.length;
      }
      return target;
    },
  };
}

function f32Entry(name: string, values: Float32Array): ChunkedTensorEntry {
  const bytes = bytesOf(values);
  return {
    name,
    dtype: "F32",
    shape: [values.length],
    byteLength: bytes.length,
    async *chunks(): AsyncGenerator<Uint8Array> {
      yield bytes;
    },
    read(out?: Uint8Array): Promise<Uint8Array> {
      if (!out) return Promise.resolve(bytes);
      out.set(bytes);
      return Promise.resolve(out.subarray(0, bytes.length));
    },
  };
}

/**
 * Plan the GGUF for an opened model folder. Every tensor is matched to the
 * architecture's table and its shape checked against config.json; unknown
 * tensors, missing ones, contradicting shapes and vocabularies larger than
 * the embedding are `FormatError`s naming the file and the field. Nothing is
 * read beyond headers until the tensors are written.
 *
 * @example
 * ```ts ignore
 * import { openHfModel, hfToGguf } from "@ckpt/ckpt/hf";
 * import { writeGgufFiles } from "@ckpt/ckpt/gguf";
 * const model = await openHfModel("Llama-3.2-1B");
 * const gguf = hfToGguf(model, { dtype: "F16" });
 * await writeGgufFiles({ metadata: {}, tensors: gguf.tensors }, "llama.gguf", { kv: gguf.kv });
 * await model.close();
 * ```
 */
export function hfToGguf(model: HfModel, options: HfToGgufOptions = {}): HfGguf {
  const dtype = options.dtype ?? "F16";
  if (!(dtype in FILE_TYPE_OF)) {
    throw new UsageError(
      `Cannot write a GGUF of type '${dtype}': use one of ${Object.keys(FILE_TYPE_OF).join(", ")}`,
    );
  }
  const arch = model.architecture;
  const h = model.hparams;
  const configPath = `${model.folder}/config.json`;
  const matchers = arch.tensors.map((rule) => ({ rule, regex: ruleRegex(rule) }));
  const byName = new Map(model.tensors.map((t) => [t.name, t]));
  const tied = model.config.tie_word_embeddings === true || !byName.has("lm_head.weight");
  const heads = (rule: TensorRule) =>
    rule.permute === "heads" ? h.heads : rule.permute === "kvHeads" ? h.kvHeads : undefined;

  const ropeType = ropeParameters(model.config).rope_type;
  if (ropeType !== undefined && !ROPE_TYPES.includes(String(ropeType).toLowerCase())) {
    throw new FormatError(
      `Cannot convert ${configPath}: field 'rope_type' is ${
        JSON.stringify(ropeType)
      }; llama.cpp's ${arch.name} takes ${ROPE_TYPES.join(", ")}`,
      { format: "hf" },
    );
  }
  if (arch.tensors.some((r) => r.permute) && h.headDim % 2 !== 0) {
    throw new FormatError(
      `Cannot convert ${configPath}: head_dim ${h.headDim} is odd; RoPE needs pairs of dimensions`,
      {
        format: "hf",
      },
    );
  }
  const tensors: ChunkedTensorEntry[] = [];
  const buffers = new Buffers();
  const ropeFactors = arch.name === "llama" ? llama3RopeFactors(model.config, h.headDim) : undefined;
  if (ropeFactors) tensors.push(f32Entry("rope_freqs.weight", ropeFactors));
  const seen = new Set<string>();
  for (const t of model.tensors) {
    if (arch.dropped.some((re) => re.test(t.name))) continue;
    if (t.name === "lm_head.weight" && tied && model.config.tie_word_embeddings === true) continue;
    let matched: Matched | undefined;
    for (const { rule, regex } of matchers) {
      const m = regex.exec(t.name);
      if (!m) continue;
      const hasBid = rule.hf.includes("{bid}");
      const bid = hasBid ? Number(m[1]) : undefined;
      const suffix = m[hasBid ? 2 : 1] as "weight" | "bias";
      if (!(rule.suffixes ?? ["weight"]).includes(suffix)) continue;
      matched = { rule, bid, suffix, ggufName: `${rule.gguf.replace("{bid}", String(bid))}.${suffix}` };
      break;
    }
    if (!matched) {
      throw new FormatError(
        `Cannot convert ${model.folder}: tensor '${t.name}' has no ${arch.name} GGUF name (${model.hfClass} tensors are ${
          arch.tensors.map((r) => r.hf).join(", ")
        })`,
        { format: "hf" },
      );
    }
    if (matched.bid !== undefined && matched.bid >= h.layers) {
      throw new FormatError(
        `Cannot convert ${model.folder}: tensor '${t.name}' is for block ${matched.bid}, but config.json num_hidden_layers is ${h.layers}`,
        { format: "hf" },
      );
    }
    const full = matched.rule.shape(h);
    const expected = matched.suffix === "bias" ? [full[0]] : full;
    if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
      throw new FormatError(
        `Cannot convert ${model.folder}: tensor '${t.name}' has shape [${
          t.shape.join(", ")
        }], but ${configPath} (${describeHparams(h)}) gives [${expected.join(", ")}]`,
        { format: "hf" },
      );
    }
    if (!SOURCE_DTYPES.has(t.dtype)) {
      throw new UsageError(`Cannot convert tensor '${t.name}': dtype ${t.dtype} is not F32, F16 or BF16`);
    }
    const is1d = t.shape.length <= 1;
    let type: HfGgufType = is1d || matched.ggufName.endsWith("_norm.weight") || matched.suffix !== "weight"
      ? "F32"
      : dtype;
    // As the converter does: a row that is not whole Q8_0 blocks falls back to F16.
    if (type === "Q8_0" && t.shape[t.shape.length - 1] % 32 !== 0) type = "F16";
    tensors.push(convertedEntry(matched.ggufName, t, type, heads(matched.rule), buffers));
    seen.add(t.name);
  }
  for (const rule of arch.tensors) {
    if (rule.required === false) continue;
    // One block after another: an absurd num_hidden_layers fails at the first missing block.
    const perBlock = rule.hf.includes("{bid}");
    for (let bid = 0; bid < (perBlock ? h.layers : 1); bid++) {
      const name = `${perBlock ? rule.hf.replace("{bid}", String(bid)) : rule.hf}.weight`;
      if (!seen.has(name)) {
        throw new FormatError(
          `Cannot convert ${model.folder}: tensor '${name}' is missing from ${model.paths?.[0]}`,
          {
            format: "hf",
          },
        );
      }
    }
  }

  const parameters = tensors.reduce((sum, t) => sum + elementCount(t.shape), 0);
  const kv: GgufKeyValue[] = [
    { key: "general.architecture", type: "string", value: arch.name },
    { key: "general.type", type: "string", value: "model" },
    { key: "general.name", type: "string", value: options.name ?? modelNameOf(model.folder) },
    { key: "general.size_label", type: "string", value: sizeLabel(parameters) },
  ];
  for (const rule of arch.hparams) {
    const value = rule.from(model.config, h);
    if (value === undefined) continue;
    if ((rule.type === "u32" || rule.type === "f32") && typeof value !== "number") {
      throw new FormatError(
        `Cannot convert ${configPath}: field for ${arch.name}.${rule.key} is not a number`,
        {
          format: "hf",
        },
      );
    }
    kv.push({
      key: `${arch.name}.${rule.key}`,
      type: rule.type,
      value: rule.type === "f32" ? Math.fround(value as number) : value,
    });
  }
  kv.push({ key: "general.file_type", type: "u32", value: FILE_TYPE_OF[dtype] });
  kv.push({ key: "general.quantization_version", type: "u32", value: 2 });
  let tokenizer: TokenizerKeyValues | undefined;
  if (!options.noVocab) {
    const addPrefix = model.tokenizer.tokenizerConfig?.add_prefix_space;
    if (arch.name === "llama" && typeof addPrefix === "boolean") {
      kv.push({ key: "tokenizer.ggml.add_space_prefix", type: "bool", value: addPrefix });
    }
    tokenizer = tokenizerKeyValues(model.tokenizer, { embeddingRows: h.vocab, pre: options.pre });
    kv.push(...tokenizer.kv);
  }
  return { kv, tensors, tokenizer, parameters };
}
