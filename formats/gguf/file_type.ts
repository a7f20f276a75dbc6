/**
 * llama-quantize's file types (`Q4_K_M`, `Q5_K_S`, `Q8_0`, …): which ggml
 * type each tensor of a GGUF model gets, exactly as `llama_model_quantize`
 * (llama.cpp src/llama-quant.cpp) chooses it without an importance matrix —
 * which tensors are quantized at all, the Q6_K output and tied embeddings,
 * `attn_v`/`ffn_down` raised on the layers `use_more_bits` picks, the S/M/L
 * mixes, the fallbacks for rows that are not whole blocks — plus the order
 * it writes the tensors in and the keys it sets. A pure function of names,
 * shapes, types and a few hyperparameters.
 *
 * @module
 */

import { FormatError, UsageError } from "../../lib/errors.ts";
import { ggmlTypeByName } from "../../lib/ggml_blocks.ts";

/** A llama-quantize file type: its name, its `llama_ftype` number (`general.file_type`) and default tensor type. */
export interface GgufFileType {
  /** The name llama-quantize accepts, e.g. `Q4_K_M`. */
  readonly name: string;
  /** `llama_ftype`, the value written as `general.file_type`. */
  readonly id: number;
  /** The ggml type most tensors get. */
  readonly defaultType: string;
}

/** Every file type ckpt builds, by name. */
export const GGUF_FILE_TYPES: Readonly<Record<string, GgufFileType>> = Object.freeze(
  Object.fromEntries(
    ([
      ["F32", 0, "F32"],
      ["F16", 1, "F16"],
      ["Q4_0", 2, "Q4_0"],
      ["Q4_1", 3, "Q4_1"],
      ["Q8_0", 7, "Q8_0"],
      ["Q5_0", 8, "Q5_0"],
      ["Q5_1", 9, "Q5_1"],
      ["Q2_K", 10, "Q2_K"],
      ["Q3_K_S", 11, "Q3_K"],
      ["Q3_K_M", 12, "Q3_K"],
      ["Q3_K_L", 13, "Q3_K"],
      ["Q4_K_S", 14, "Q4_K"],
      ["Q4_K_M", 15, "Q4_K"],
      ["Q5_K_S", 16, "Q5_K"],
      ["Q5_K_M", 17, "Q5_K"],
      ["Q6_K", 18, "Q6_K"],
      ["BF16", 32, "BF16"],
    ] as const).map(([name, id, defaultType]) => [name, Object.freeze({ name, id, defaultType })]),
  ),
);

// Every llama_ftype, for naming the general.file_type of files llama.cpp wrote.
const FTYPE_NAMES: Record<number, string> = {
  19: "IQ2_XXS",
  20: "IQ2_XS",
  21: "Q2_K_S",
  22: "IQ3_XS",
  23: "IQ3_XXS",
  24: "IQ1_S",
  25: "IQ4_NL",
  26: "IQ3_S",
  27: "IQ3_M",
  28: "IQ2_S",
  29: "IQ2_M",
  30: "IQ4_XS",
  31: "IQ1_M",
  36: "TQ1_0",
  37: "TQ2_0",
  38: "MXFP4_MOE",
  39: "NVFP4",
};

/**
 * The llama-quantize name of a `general.file_type` value (`15` → `Q4_K_M`),
 * or undefined for a number llama.cpp does not define. The "guessed" flag
 * (1024) is ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ggufFileTypeName } from "./file_type.ts";
 * assert.equal(ggufFileTypeName(15), "Q4_K_M");
 * assert.equal(ggufFileTypeName(99), undefined);
 * ```
 */
export function ggufFileTypeName(id: number): string | undefined {
  const base = id & ~1024;
  return Object.values(GGUF_FILE_TYPES).find((t) => t.id === base)?.name ?? FTYPE_NAMES[base];
}

/** The file type called `name`; an unknown name is a `UsageError` listing the known ones. */
export function ggufFileType(name: string): GgufFileType {
  const type = Object.hasOwn(GGUF_FILE_TYPES, name) ? GGUF_FILE_TYPES[name] : undefined;
  if (!type) {
    throw new UsageError(
      `Unknown GGUF file type '${name}'; known file types: ${Object.keys(GGUF_FILE_TYPES).join(", ")}`,
    );
  }
  return type;
}

/** One tensor as the planner sees it. */
export interface FileTypeTensor {
  /** GGUF tensor name (`blk.0.attn_v.weight`). */
  readonly name: string;
  /** Dimensions outermost first (GGUF's `ne` reversed). */
  readonly shape: readonly number[];
  /** Its stored ggml type name (`F32`, `F16`, `BF16`, `Q8_0`, …). */
  readonly type: string;
}

/** The hyperparameters the choice depends on, from the GGUF keys. */
export interface FileTypeModel {
  /** `general.architecture`. */
  readonly architecture: string;
  /** `<arch>.block_count`. */
  readonly blockCount: number;
  /** `<arch>.attention.head_count`. */
  readonly headCount: number;
  /** `<arch>.attention.head_count_kv` (the head count when absent). */
  readonly headCountKv: number;
  /** `<arch>.expert_count` (0 when absent). */
  readonly expertCount: number;
}

/** Options for {@linkcode planFileType}. */
export interface FileTypeOptions {
  /** llama-quantize's `--pure`: every quantized tensor gets the default type (still with fallbacks). @default false */
  pure?: boolean;
}

/** One tensor's decision. */
export interface TensorTypeChoice {
  /** Tensor name. */
  readonly name: string;
  /** Its type in the input. */
  readonly from: string;
  /** Its type in the output. */
  readonly type: string;
  /** True when the bytes change (`type` differs from `from`); false when they are copied. */
  readonly convert: boolean;
  /** True when a row that is not a whole block forced a fallback type. */
  readonly fallback: boolean;
}

/** What llama-quantize writes for a model and file type. */
export interface FileTypePlan {
  /** The file type. */
  readonly fileType: GgufFileType;
  /** Every tensor, in the order llama-quantize writes them (layer, then name). */
  readonly tensors: readonly TensorTypeChoice[];
  /** The keys it sets, appended after the input's (in this order): both u32. */
  readonly keys: readonly { readonly key: string; readonly value: number }[];
  /** The keys it removes from the input's metadata. */
  readonly removedKeys: readonly string[];
}

/** `GGML_QNT_VERSION`, written as `general.quantization_version`. */
export const GGML_QUANTIZATION_VERSION = 2;

function layerOf(name: string): number {
  const m = /^blk\.([+-]?\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0; // names are ASCII; std::string compares bytes
}

/**
 * The order llama.cpp's model loader keeps tensors in (its `weights_map`):
 * by the layer number of `blk.N.`, tensors without one first, then by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { llamaTensorOrder } from "./file_type.ts";
 * assert.deepEqual(
 *   llamaTensorOrder(["blk.10.a", "output.weight", "blk.2.b", "blk.2.a", "token_embd.weight"]),
 *   ["output.weight", "token_embd.weight", "blk.2.a", "blk.2.b", "blk.10.a"],
 * );
 * ```
 */
export function llamaTensorOrder(names: readonly string[]): string[] {
  return [...names].sort((a, b) => layerOf(a) - layerOf(b) || compareBytes(a, b));
}

type Category =
  | "output"
  | "token_embd"
  | "attn_qkv"
  | "attn_kv_b"
  | "attn_v"
  | "attn_k"
  | "attn_q"
  | "attn_output"
  | "ffn_up"
  | "ffn_gate"
  | "ffn_down"
  | "other";

// tensor_get_category: the first substring that matches, in this order.
function categoryOf(name: string): Category {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight") return "token_embd";
  const parts: [string, Category][] = [
    ["attn_qkv.weight", "attn_qkv"],
    ["attn_kv_b.weight", "attn_kv_b"],
    ["attn_v.weight", "attn_v"],
    ["attn_k.weight", "attn_k"],
    ["attn_q.weight", "attn_q"],
    ["attn_output.weight", "attn_output"],
    ["ffn_up", "ffn_up"],
    ["ffn_gate", "ffn_gate"],
    ["ffn_down", "ffn_down"],
  ];
  for (const [part, category] of parts) if (name.includes(part)) return category;
  return "other";
}

const isAttnV = (c: Category) => c === "attn_v" || c === "attn_qkv" || c === "attn_kv_b";

// Substrings that keep a weight as it is (tensor_allows_quantization).
const NEVER_QUANTIZED = [
  "_norm.weight",
  "ffn_gate_inp.weight",
  "ffn_gate_tid2eid.weight",
  "altup",
  "laurel",
  "per_layer_model_proj",
  "ssm_conv1d",
  "shortconv.conv.weight",
  "indexer.k_proj.weight",
  "indexer.q_proj.weight",
  "time_mix_first.weight",
  "time_mix_w0.weight",
  "time_mix_w1.weight",
  "time_mix_w2.weight",
  "time_mix_v0.weight",
  "time_mix_v1.weight",
  "time_mix_v2.weight",
  "time_mix_a0.weight",
  "time_mix_a1.weight",
  "time_mix_a2.weight",
  "time_mix_g1.weight",
  "time_mix_g2.weight",
  "time_mix_decay_w1.weight",
  "time_mix_decay_w2.weight",
  "time_mix_lerp_fused.weight",
  "attn_rel_b.weight",
  ".position_embd",
  "sam.pos_embd",
  "sam.neck.",
  "sam.net_",
  ".rel_pos",
  ".patch_embd",
  ".patch_merger",
  "a.rvq.codebook",
  "mm.a.code_embd",
];

/** ggml_n_dims: the rank ignoring trailing (outermost) dimensions of 1, at least 1. */
function ggmlDims(shape: readonly number[]): number {
  for (let i = 0; i < shape.length - 1; i++) if (shape[i] > 1) return shape.length - i;
  return 1;
}

function allowsQuantization(t: FileTypeTensor): boolean {
  if (ggmlDims(t.shape) < 2) return false;
  const name = t.name;
  // C++'s `rfind("weight") == size() - 6` also holds for 5-byte names (npos == size_t(-1)).
  if (!(name.endsWith("weight") || name.length === 5)) return false;
  if (NEVER_QUANTIZED.some((part) => name.includes(part))) return false;
  return name !== "position_embd.weight" && name !== "token_types.weight";
}

const blockSize = (type: string) => ggmlTypeByName(type)!.blockSize;
const isQuantized = (type: string) =>
  !["F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"].includes(type);

/**
 * The hyperparameters {@linkcode planFileType} needs, read from a GGUF
 * file's metadata; a missing architecture, block count or head count is a
 * `FormatError` naming the key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileTypeModelFromMetadata } from "./file_type.ts";
 * const model = fileTypeModelFromMetadata({
 *   "general.architecture": "llama",
 *   "llama.block_count": "2",
 *   "llama.attention.head_count": "8",
 *   "llama.attention.head_count_kv": "2",
 * });
 * assert.deepEqual(model, { architecture: "llama", blockCount: 2, headCount: 8, headCountKv: 2, expertCount: 0 });
 * ```
 */
export function fileTypeModelFromMetadata(metadata: Readonly<Record<string, string>>): FileTypeModel {
  const architecture = metadata["general.architecture"];
  if (!architecture) {
    throw new FormatError(
      "Cannot choose tensor types: the GGUF has no general.architecture (llama-quantize needs a model GGUF)",
      { format: "gguf" },
    );
  }
  const count = (key: string, fallback?: number): number => {
    const text = metadata[`${architecture}.${key}`];
    if (text === undefined) {
      if (fallback !== undefined) return fallback;
      throw new FormatError(`Cannot choose tensor types: the GGUF has no ${architecture}.${key}`, {
        format: "gguf",
      });
    }
    // Per-layer arrays (e.g. head counts) count by their first layer, as hparams.n_head(0) does.
    let first = text;
    if (text.startsWith("[")) {
      try {
        first = String((JSON.parse(text) as unknown[])[0]);
      } catch {
        first = "";
      }
    }
    const n = /^\d+$/.test(first) ? Number(first) : NaN;
    if (!Number.isSafeInteger(n)) {
      throw new FormatError(`Cannot choose tensor types: ${architecture}.${key} is '${text}', not a count`, {
        format: "gguf",
      });
    }
    return n;
  };
  const headCount = count("attention.head_count");
  return {
    architecture,
    blockCount: count("block_count"),
    headCount,
    headCountKv: count("attention.head_count_kv", headCount),
    expertCount: count("expert_count", 0),
  };
}

/**
 * Choose every tensor's type for a file type, as `llama_model_quantize`
 * does without an importance matrix, and list the tensors in the order it
 * writes them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planFileType } from "./file_type.ts";
 * const model = { architecture: "llama", blockCount: 1, headCount: 4, headCountKv: 4, expertCount: 0 };
 * const plan = planFileType([
 *   { name: "token_embd.weight", shape: [1000, 256], type: "F32" },
 *   { name: "blk.0.attn_v.weight", shape: [256, 256], type: "F32" },
 *   { name: "blk.0.attn_norm.weight", shape: [256], type: "F32" },
 *   { name: "blk.0.ffn_up.weight", shape: [512, 256], type: "F32" },
 * ], model, "Q4_K_M");
 * assert.deepEqual(plan.tensors.map((t) => `${t.name} ${t.type}`), [
 *   "token_embd.weight Q6_K", // tied embeddings: no output.weight
 *   "blk.0.attn_norm.weight F32",
 *   "blk.0.attn_v.weight Q6_K", // use_more_bits(0, 1)
 *   "blk.0.ffn_up.weight Q4_K",
 * ]);
 * assert.deepEqual(plan.keys, [
 *   { key: "general.quantization_version", value: 2 },
 *   { key: "general.file_type", value: 15 },
 * ]);
 * ```
 */
export function planFileType(
  tensors: readonly FileTypeTensor[],
  model: FileTypeModel,
  fileTypeName: string,
  options: FileTypeOptions = {},
): FileTypePlan {
  const fileType = ggufFileType(fileTypeName);
  const ftype = fileType.name;
  const byName = new Map<string, FileTypeTensor>();
  for (const t of tensors) {
    if (byName.has(t.name)) throw new UsageError(`Cannot choose tensor types: duplicate tensor '${t.name}'`);
    if (!ggmlTypeByName(t.type)) throw new UsageError(`Tensor '${t.name}' has unknown ggml type '${t.type}'`);
    byName.set(t.name, t);
  }
  const ordered = llamaTensorOrder([...byName.keys()]).map((n) => byName.get(n)!);
  const arch = model.architecture;
  const falcon = arch === "falcon";
  const nGqa = model.headCountKv > 0 ? Math.trunc(model.headCount / model.headCountKv) : 0;
  const nExpert = model.expertCount;
  const is70B = (arch === "llama" && model.blockCount === 80 && model.headCount !== model.headCountKv) ||
    (arch === "qwen2" && model.blockCount === 80);
  const tied = !byName.has("output.weight");
  const nAttentionWv = ordered.filter((t) => isAttnV(categoryOf(t.name))).length;
  const nLayer = model.blockCount;
  let iAttentionWv = 0;
  let iFfnDown = 0;
  const div = (a: number, b: number) => Math.trunc(a / b);
  const useMoreBits = (i: number, n: number) =>
    i < div(n, 8) || i >= div(7 * n, 8) || (i - div(n, 8)) % 3 === 2;

  // llama_tensor_get_type_impl, for the file types above (no IQ types, no imatrix).
  const mixed = (t: FileTypeTensor, category: Category, type: string): string => {
    if (category === "output" || (tied && category === "token_embd")) {
      const nx = t.shape[t.shape.length - 1];
      if (falcon || nx % blockSize(type) !== 0) return "Q8_0";
      return type !== "Q8_0" ? "Q6_K" : type;
    }
    if (category === "token_embd") return type;
    if (isAttnV(category)) {
      if (ftype === "Q2_K") type = nGqa >= 4 ? "Q4_K" : "Q3_K";
      else if (ftype === "Q3_K_M") type = iAttentionWv < 2 ? "Q5_K" : "Q4_K";
      else if (ftype === "Q3_K_L") type = "Q5_K";
      else if ((ftype === "Q4_K_M" || ftype === "Q5_K_M") && useMoreBits(iAttentionWv, nAttentionWv)) {
        type = "Q6_K";
      } else if (ftype === "Q4_K_S" && iAttentionWv < 4) type = "Q5_K";
      if (is70B && (type === "Q3_K" || type === "Q4_K")) type = "Q5_K";
      if (nExpert === 8) type = "Q8_0";
      iAttentionWv++;
      return type;
    }
    if (category === "attn_k") return nExpert === 8 ? "Q8_0" : type;
    if (category === "ffn_down") {
      let i = iFfnDown;
      if (nExpert > 1) {
        i = layerOf(t.name);
        if (!/^blk\.[+-]?\d+\./.test(t.name)) {
          throw new UsageError(`Failed to determine layer for tensor ${t.name}`);
        }
        if (i < 0 || i >= nLayer) {
          throw new UsageError(`Bad layer ${i} for tensor ${t.name}. Must be in [0, ${nLayer})`);
        }
      }
      const n = nLayer;
      if (ftype === "Q2_K") type = "Q3_K";
      else if (ftype === "Q3_K_M") {
        type = i < div(n, 16) ? "Q5_K" : !falcon || useMoreBits(i, n) ? "Q4_K" : "Q3_K";
      } else if (ftype === "Q3_K_L") type = falcon ? "Q4_K" : "Q5_K";
      else if (ftype === "Q4_K_M") {
        if (falcon) type = i < div(n, 16) ? "Q6_K" : useMoreBits(i, n) ? "Q5_K" : "Q4_K";
        else if (useMoreBits(i, n)) type = "Q6_K";
      } else if (ftype === "Q5_K_M" && useMoreBits(i, n)) type = "Q6_K";
      else if (ftype === "Q4_K_S" && !falcon && i < div(n, 8)) type = "Q5_K";
      iFfnDown++;
      return type;
    }
    if (category === "attn_output") {
      if (!falcon) {
        if (nExpert === 8) {
          if (["Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"].includes(ftype)) type = "Q5_K";
        } else if (ftype === "Q2_K") type = "Q3_K";
        else if (ftype === "Q3_K_M") type = "Q4_K";
        else if (ftype === "Q3_K_L") type = "Q5_K";
      } else if (ftype === "Q3_K_L") type = "Q4_K";
      return type;
    }
    return type;
  };

  // tensor_type_fallback: a row that is not whole blocks takes a type of smaller blocks, else F16.
  const fallback = (t: FileTypeTensor, type: string): [string, boolean] => {
    const ncols = t.shape[t.shape.length - 1];
    if (ncols % blockSize(type) === 0) return [type, false];
    const next: Record<string, string> = {
      Q2_K: "Q4_0",
      Q3_K: "Q4_0",
      Q4_K: "Q5_0",
      Q5_K: "Q5_1",
      Q6_K: "Q8_0",
    };
    let out = next[type] ?? type;
    if (ncols % blockSize(out) !== 0) out = "F16";
    return [out, true];
  };

  const choices = ordered.map((t): TensorTypeChoice => {
    let type = t.type;
    let fellBack = false;
    if (allowsQuantization(t)) {
      type = fileType.defaultType;
      if (isQuantized(type)) {
        if (!options.pure) type = mixed(t, categoryOf(t.name), type);
        [type, fellBack] = fallback(t, type);
      }
    }
    return { name: t.name, from: t.type, type, convert: type !== t.type, fallback: fellBack };
  });
  return {
    fileType,
    tensors: choices,
    keys: [
      { key: "general.quantization_version", value: GGML_QUANTIZATION_VERSION },
      { key: "general.file_type", value: fileType.id },
    ],
    removedKeys: ["split.no", "split.count", "split.tensors.count"],
  };
}
