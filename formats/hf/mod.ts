/**
 * Hugging Face model folders (config.json, safetensors shards, tokenizer.json
 * / tokenizer.model, tokenizer_config.json) as one input, converted to the
 * GGUF llama.cpp runs — hyperparameters, tokenizer keys, tensor names and the
 * Q/K permutation from one table per architecture — and back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARCHITECTURES, preTokenizerName, QWEN2_REGEX } from "./mod.ts";
 * assert.deepEqual(ARCHITECTURES.map((a) => a.name), ["llama", "qwen2"]);
 * const pre = { type: "Sequence", pretokenizers: [
 *   { type: "Split", pattern: { Regex: QWEN2_REGEX }, behavior: "Isolated" },
 *   { type: "ByteLevel", use_regex: false },
 * ] };
 * assert.equal(preTokenizerName(pre), "qwen2");
 * ```
 *
 * @module
 */

export * from "./architectures/mod.ts";
export * from "./open_hf_model.ts";
export * from "./hf_to_gguf.ts";
export * from "./gguf_to_hf.ts";
export * from "./convert_hf_to_gguf.ts";
export * from "./convert_gguf_to_hf.ts";
export * from "./summarize_hf_model.ts";
export * from "./tokenizer_key_values.ts";
export * from "./pre_tokenizer.ts";
export * from "./sentencepiece_model.ts";
