/**
 * The architectures ckpt converts between Hugging Face folders and GGUF, one
 * table each, and lookup by config.json.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { architectureByName } from "./mod.ts";
 * assert.equal(architectureByName("qwen2")?.hfClasses[0], "Qwen2ForCausalLM");
 * ```
 *
 * @module
 */

export * from "./_table.ts";
export * from "./architecture_by_name.ts";
export * from "./llama.ts";
export * from "./qwen2.ts";
