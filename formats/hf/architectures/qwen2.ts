/**
 * `qwen2`: Qwen2ForCausalLM, with Q/K/V biases and no row permutation.
 *
 * @module
 */

import { COMMON_HPARAMS, llamaLikeTensors } from "./_hparams.ts";
import type { ArchitectureTable } from "./_table.ts";

/**
 * The qwen2 table: the common keys only (llama.cpp's converter writes no
 * `vocab_size` or `rope.dimension_count` for it), attention biases, no
 * permutation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QWEN2 } from "./qwen2.ts";
 * assert.equal(QWEN2.tensors.some((t) => t.permute), false);
 * ```
 */
export const QWEN2: ArchitectureTable = {
  name: "qwen2",
  hfClasses: ["Qwen2ForCausalLM"],
  modelType: "qwen2",
  hparams: COMMON_HPARAMS,
  tensors: llamaLikeTensors(true).map(({ permute: _permute, ...rule }) => rule),
  dropped: [/\.rotary_emb\.inv_freq$/],
  configExtras: () => ({ hidden_act: "silu" }),
};
