/**
 * `llama`: LlamaForCausalLM and MistralForCausalLM, with the Q/K row
 * permutation llama.cpp's RoPE expects.
 *
 * @module
 */

import { COMMON_HPARAMS, llamaLikeTensors } from "./_hparams.ts";
import type { ArchitectureTable } from "./_table.ts";

/**
 * The llama table: llama.cpp's converter adds `vocab_size` and
 * `rope.dimension_count` (the head dimension) to the common keys, and
 * permutes Q and K rows (`attention_bias` checkpoints permute the biases too).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LLAMA } from "./llama.ts";
 * assert.equal(LLAMA.name, "llama");
 * assert.ok(LLAMA.hfClasses.includes("MistralForCausalLM"));
 * ```
 */
export const LLAMA: ArchitectureTable = {
  name: "llama",
  hfClasses: ["LlamaForCausalLM", "MistralForCausalLM"],
  modelType: "llama",
  hparams: [
    ...COMMON_HPARAMS,
    { key: "vocab_size", type: "u32", from: (_c, h) => h.vocab, configKey: "vocab_size" },
    { key: "rope.dimension_count", type: "u32", from: (_c, h) => h.headDim },
  ],
  tensors: llamaLikeTensors(true),
  dropped: [/\.rotary_emb\.inv_freq$/],
  configExtras: (_h, hasBias) => ({ attention_bias: hasBias, mlp_bias: false, hidden_act: "silu" }),
};
