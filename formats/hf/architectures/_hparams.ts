// config.json readers shared by the architecture tables, following what
// llama.cpp's converter reads (conversion/base.py TextModel).

import type { HparamRule, Hparams, TensorRule } from "./_table.ts";

/** `rope_parameters` (transformers ≥ 5) or `rope_scaling`, with a top-level `rope_theta` mirrored in. */
export function ropeParameters(config: Record<string, unknown>): Record<string, unknown> {
  const raw = config.rope_parameters ?? config.rope_scaling;
  const rp: Record<string, unknown> = typeof raw === "object" && raw !== null ? { ...raw } : {};
  if (rp.rope_theta === undefined && typeof config.rope_theta === "number") rp.rope_theta = config.rope_theta;
  if (rp.rope_type === undefined && typeof rp.type === "string") rp.rope_type = rp.type;
  return rp;
}

/** The rope types llama.cpp's converter represents for these architectures (llama3 by a tensor). */
export const ROPE_TYPES: readonly string[] = ["default", "linear", "yarn", "llama3"];

// Linear and YaRN scaling are written as keys when they have a factor.
function scaling(config: Record<string, unknown>): boolean {
  const rp = ropeParameters(config);
  return (rp.rope_type === "linear" || rp.rope_type === "yarn") && typeof rp.factor === "number";
}

function yarn(config: Record<string, unknown>, key: string): number | undefined {
  const rp = ropeParameters(config);
  return rp.rope_type === "yarn" && typeof rp.factor === "number" && typeof rp[key] === "number"
    ? rp[key] as number
    : undefined;
}

function num(config: Record<string, unknown>, key: string): number | undefined {
  const v = config[key];
  return typeof v === "number" ? v : undefined;
}

/** The keys every text model gets, in the converter's order (block count first). */
export const COMMON_HPARAMS: readonly HparamRule[] = [
  { key: "block_count", type: "u32", from: (_c, h) => h.layers, configKey: "num_hidden_layers" },
  {
    key: "context_length",
    type: "u32",
    from: (c) => num(c, "max_position_embeddings"),
    configKey: "max_position_embeddings",
  },
  { key: "embedding_length", type: "u32", from: (_c, h) => h.hidden, configKey: "hidden_size" },
  { key: "feed_forward_length", type: "u32", from: (_c, h) => h.ff, configKey: "intermediate_size" },
  { key: "attention.head_count", type: "u32", from: (_c, h) => h.heads, configKey: "num_attention_heads" },
  {
    key: "attention.head_count_kv",
    type: "u32",
    from: (c) => num(c, "num_key_value_heads"),
    configKey: "num_key_value_heads",
  },
  {
    key: "rope.scaling.type",
    type: "string",
    from: (c) => scaling(c) ? ropeParameters(c).rope_type as string : undefined,
  },
  {
    key: "rope.scaling.factor",
    type: "f32",
    from: (c) => scaling(c) ? ropeParameters(c).factor as number : undefined,
  },
  {
    key: "rope.scaling.original_context_length",
    type: "u32",
    from: (c) => yarn(c, "original_max_position_embeddings"),
  },
  { key: "rope.scaling.yarn_ext_factor", type: "f32", from: (c) => yarn(c, "extrapolation_factor") },
  {
    key: "rope.scaling.yarn_attn_factor",
    type: "f32",
    from: (c) => yarn(c, "attention_factor") ?? yarn(c, "attn_factor"),
  },
  { key: "rope.scaling.yarn_beta_fast", type: "f32", from: (c) => yarn(c, "beta_fast") },
  { key: "rope.scaling.yarn_beta_slow", type: "f32", from: (c) => yarn(c, "beta_slow") },
  {
    key: "rope.freq_base",
    type: "f32",
    from: (c) => {
      const theta = ropeParameters(c).rope_theta;
      return typeof theta === "number" ? theta : undefined;
    },
  },
  {
    key: "attention.layer_norm_rms_epsilon",
    type: "f32",
    from: (c) => num(c, "rms_norm_eps"),
    configKey: "rms_norm_eps",
  },
  { key: "attention.key_length", type: "u32", from: (c) => num(c, "head_dim"), configKey: "head_dim" },
  { key: "attention.value_length", type: "u32", from: (c) => num(c, "head_dim") },
];

/** The decoder-block tensors llama and its relatives share. */
export function llamaLikeTensors(bias: boolean): TensorRule[] {
  const qkv = bias ? (["weight", "bias"] as const) : (["weight"] as const);
  return [
    { hf: "model.embed_tokens", gguf: "token_embd", shape: (h: Hparams) => [h.vocab, h.hidden] },
    { hf: "model.norm", gguf: "output_norm", shape: (h: Hparams) => [h.hidden] },
    { hf: "lm_head", gguf: "output", shape: (h: Hparams) => [h.vocab, h.hidden], required: false },
    {
      hf: "model.layers.{bid}.input_layernorm",
      gguf: "blk.{bid}.attn_norm",
      shape: (h: Hparams) => [h.hidden],
    },
    {
      hf: "model.layers.{bid}.self_attn.q_proj",
      gguf: "blk.{bid}.attn_q",
      shape: (h: Hparams) => [h.heads * h.headDim, h.hidden],
      suffixes: qkv,
      permute: "heads",
    },
    {
      hf: "model.layers.{bid}.self_attn.k_proj",
      gguf: "blk.{bid}.attn_k",
      shape: (h: Hparams) => [h.kvHeads * h.headDim, h.hidden],
      suffixes: qkv,
      permute: "kvHeads",
    },
    {
      hf: "model.layers.{bid}.self_attn.v_proj",
      gguf: "blk.{bid}.attn_v",
      shape: (h: Hparams) => [h.kvHeads * h.headDim, h.hidden],
      suffixes: qkv,
    },
    {
      hf: "model.layers.{bid}.self_attn.o_proj",
      gguf: "blk.{bid}.attn_output",
      shape: (h: Hparams) => [h.hidden, h.heads * h.headDim],
    },
    {
      hf: "model.layers.{bid}.post_attention_layernorm",
      gguf: "blk.{bid}.ffn_norm",
      shape: (h: Hparams) => [h.hidden],
    },
    {
      hf: "model.layers.{bid}.mlp.gate_proj",
      gguf: "blk.{bid}.ffn_gate",
      shape: (h: Hparams) => [h.ff, h.hidden],
    },
    {
      hf: "model.layers.{bid}.mlp.up_proj",
      gguf: "blk.{bid}.ffn_up",
      shape: (h: Hparams) => [h.ff, h.hidden],
    },
    {
      hf: "model.layers.{bid}.mlp.down_proj",
      gguf: "blk.{bid}.ffn_down",
      shape: (h: Hparams) => [h.hidden, h.ff],
    },
  ];
}
