/**
 * What `ckpt inspect FOLDER` shows about a Hugging Face model folder.
 *
 * @module
 */

import { elementCount } from "../../lib/dtype.ts";
import { ggufValueToString } from "../gguf/gguf_value.ts";
import { hfToGguf } from "./hf_to_gguf.ts";
import type { HfModel } from "./open_hf_model.ts";

/** A model folder's summary. */
export interface HfModelSummary {
  /** The folder. */
  folder: string;
  /** config.json's class, e.g. `LlamaForCausalLM`. */
  hfClass: string;
  /** The GGUF architecture it converts to. */
  architecture: string;
  /** The GGUF hyperparameter keys it would get, with their values. */
  hyperparameters: Record<string, number | boolean | string>;
  /** Elements of every tensor in the folder. */
  parameters: number;
  /** Tensors in the folder. */
  tensors: number;
  /** Bytes of tensor data. */
  tensorBytes: number;
  /** The tokenizer, or an error message when it cannot be converted. */
  tokenizer:
    | { model: string; pre: string; tokens: number; merges: number; special: Record<string, number> }
    | { error: string };
}

/**
 * Summarise an opened folder (headers only). The tokenizer part reports
 * why it can't be converted instead of throwing.
 *
 * @example
 * ```ts ignore
 * import { openHfModel, summarizeHfModel } from "@ckpt/ckpt/hf";
 * const summary = summarizeHfModel(await openHfModel("Llama-3.2-1B"));
 * console.log(summary.architecture, summary.hyperparameters["llama.block_count"]);
 * ```
 */
export function summarizeHfModel(model: HfModel): HfModelSummary {
  const weights = hfToGguf(model, { noVocab: true });
  const hyperparameters: Record<string, number | boolean | string> = {};
  for (const { key, type, value } of weights.kv) {
    if (!key.startsWith(`${model.architecture.name}.`)) continue;
    // f32 values as the shortest decimal that reads back the same (1e-5, not 0.0000099999…).
    hyperparameters[key] = type === "f32"
      ? Number(ggufValueToString("f32", value))
      : value as number | boolean | string;
  }
  let tokenizer: HfModelSummary["tokenizer"];
  try {
    const t = hfToGguf(model, {}).tokenizer!;
    tokenizer = { model: t.model, pre: t.pre, tokens: t.tokens, merges: t.merges, special: { ...t.special } };
  } catch (error) {
    tokenizer = { error: (error as Error).message };
  }
  return {
    folder: model.folder,
    hfClass: model.hfClass,
    architecture: model.architecture.name,
    hyperparameters,
    parameters: model.tensors.reduce((s, t) => s + elementCount(t.shape), 0),
    tensors: model.tensors.length,
    tensorBytes: model.tensors.reduce((s, t) => s + t.byteLength, 0),
    tokenizer,
  };
}
