/**
 * The table of every supported architecture, looked up by GGUF name or by
 * config.json's `architectures` class.
 *
 * @module
 */

import { LLAMA } from "./llama.ts";
import { QWEN2 } from "./qwen2.ts";
import type { ArchitectureTable } from "./_table.ts";

/** Every supported architecture. Add the next one here. */
export const ARCHITECTURES: readonly ArchitectureTable[] = [LLAMA, QWEN2];

/**
 * The architecture whose GGUF name is `name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { architectureByName } from "./architecture_by_name.ts";
 * assert.equal(architectureByName("llama")?.name, "llama");
 * assert.equal(architectureByName("gpt-j"), undefined);
 * ```
 */
export function architectureByName(name: string): ArchitectureTable | undefined {
  return ARCHITECTURES.find((a) => a.name === name);
}

/**
 * The architecture converting config.json class `hfClass`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { architectureByClass } from "./architecture_by_name.ts";
 * assert.equal(architectureByClass("MistralForCausalLM")?.name, "llama");
 * ```
 */
export function architectureByClass(hfClass: string): ArchitectureTable | undefined {
  return ARCHITECTURES.find((a) => a.hfClasses.includes(hfClass));
}

/** Every supported config.json class, for error messages. */
export function supportedClasses(): string[] {
  return ARCHITECTURES.flatMap((a) => a.hfClasses);
}
