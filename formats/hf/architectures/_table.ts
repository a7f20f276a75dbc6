// The shape of one architecture's definition: what config.json keys become
// which GGUF keys (with the types llama.cpp reads), which Hugging Face tensor
// becomes which GGUF tensor, and what else the conversion does. One table is
// read in both directions (HF → GGUF and GGUF → HF).

import type { GgufType } from "../../gguf/gguf_value.ts";

/** The hyperparameters every table's rules read, normalised from config.json. */
export interface Hparams {
  /** `hidden_size`. */
  readonly hidden: number;
  /** `num_hidden_layers`. */
  readonly layers: number;
  /** `num_attention_heads`. */
  readonly heads: number;
  /** `num_key_value_heads` (default `heads`). */
  readonly kvHeads: number;
  /** `head_dim` (default `hidden / heads`). */
  readonly headDim: number;
  /** `intermediate_size`. */
  readonly ff: number;
  /** `vocab_size`. */
  readonly vocab: number;
}

/** One GGUF key written from config.json (and read back into it). */
export interface HparamRule {
  /** Key after `ARCH.`, e.g. `context_length`, `attention.head_count_kv`. */
  readonly key: string;
  /** The GGUF type llama.cpp reads this key as. */
  readonly type: GgufType;
  /** The value from config.json, or undefined when the key is not written. */
  from(config: Record<string, unknown>, h: Hparams): number | boolean | string | undefined;
  /** Where the value goes back in config.json (a top-level key). @default not written back */
  readonly configKey?: string;
}

/** One tensor name pair; `{bid}` stands for the block index. */
export interface TensorRule {
  /** The Hugging Face name without its `.weight`/`.bias` suffix, e.g. `model.layers.{bid}.self_attn.q_proj`. */
  readonly hf: string;
  /** The GGUF name without suffix, e.g. `blk.{bid}.attn_q`. */
  readonly gguf: string;
  /** Expected weight shape (outermost first) from the hyperparameters; a bias is its first dimension. */
  shape(h: Hparams): readonly number[];
  /** Rows permuted for llama.cpp's RoPE: by `heads` (Q) or `kvHeads` (K). @default none */
  readonly permute?: "heads" | "kvHeads";
  /** A per-block tensor that every block must have (biases are listed but optional). @default true for weights */
  readonly required?: boolean;
  /** Which suffixes exist: weight only, or weight and bias. @default ["weight"] */
  readonly suffixes?: readonly ("weight" | "bias")[];
}

/** One architecture. */
export interface ArchitectureTable {
  /** The GGUF `general.architecture`, e.g. `llama`. */
  readonly name: string;
  /** The config.json `architectures` entries it converts, e.g. `LlamaForCausalLM`. */
  readonly hfClasses: readonly string[];
  /** config.json `model_type` written back. */
  readonly modelType: string;
  /** GGUF keys from config.json, in the order llama.cpp's converter writes them. */
  readonly hparams: readonly HparamRule[];
  /** Tensor name pairs. */
  readonly tensors: readonly TensorRule[];
  /** Hugging Face tensors llama.cpp does not load, dropped (e.g. `rotary_emb.inv_freq`). */
  readonly dropped: readonly RegExp[];
  /** Extra config.json keys written back (e.g. `attention_bias`). */
  readonly configExtras?: (h: Hparams, hasBias: boolean) => Record<string, unknown>;
}
