/**
 * llama.cpp's BPE pre-tokenizer names (`tokenizer.ggml.pre`) derived from a
 * tokenizer.json's own `pre_tokenizer` (its split regex and type), not from a
 * hash of sample encodings, and the pre_tokenizer written back for a name.
 *
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import type { JsonObject } from "./open_hf_model.ts";

/** Llama 3's split regex, as tokenizer.json stores it. */
export const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** Qwen2's split regex: Llama 3's with single digits. */
export const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** GPT-2's regex (what a byte-level pre-tokenizer with `use_regex` applies). */
export const GPT2_REGEX =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Split regex → pre-tokenizer name, for `Sequence[Split(regex), ByteLevel(use_regex=false)]`. */
const BY_REGEX: ReadonlyMap<string, string> = new Map([
  [LLAMA3_REGEX, "llama-bpe"],
  [QWEN2_REGEX, "qwen2"],
  [GPT2_REGEX, "gpt2"],
]);

/** The pre-tokenizer names ckpt derives (others may be given with `--pre`). */
export const KNOWN_PRE_TOKENIZERS: readonly string[] = ["llama-bpe", "qwen2", "gpt2", "default"];

// Some exporters spell the case-insensitive contractions out.
function normaliseRegex(regex: string): string {
  return regex.replace(
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
  );
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(pre: unknown): string {
  return JSON.stringify(pre)?.slice(0, 400) ?? String(pre);
}

/**
 * The `tokenizer.ggml.pre` name for a tokenizer.json `pre_tokenizer`.
 * Throws a `UsageError` that prints the regex (or the pre_tokenizer) and
 * names `--pre NAME` when it matches none of the known ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LLAMA3_REGEX, preTokenizerName } from "./pre_tokenizer.ts";
 * const pre = { type: "Sequence", pretokenizers: [
 *   { type: "Split", pattern: { Regex: LLAMA3_REGEX }, behavior: "Isolated", invert: false },
 *   { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
 * ] };
 * assert.equal(preTokenizerName(pre), "llama-bpe");
 * assert.equal(preTokenizerName({ type: "ByteLevel", add_prefix_space: false, use_regex: true }), "gpt2");
 * assert.throws(() => preTokenizerName({ type: "Whitespace" }), /--pre NAME/);
 * ```
 */
export function preTokenizerName(pre: unknown, path = "tokenizer.json"): string {
  if (pre === null || pre === undefined) return "default";
  if (isObject(pre) && pre.type === "ByteLevel" && pre.use_regex !== false) return "gpt2";
  const parts = isObject(pre) && pre.type === "Sequence" && Array.isArray(pre.pretokenizers)
    ? pre.pretokenizers as unknown[]
    : [pre];
  const splits = parts.filter((p) => isObject(p) && p.type === "Split");
  const byteLevel = parts.filter((p) => isObject(p) && p.type === "ByteLevel");
  if (splits.length === 1 && byteLevel.length === 1 && parts.length === 2) {
    const split = splits[0] as JsonObject;
    const pattern = split.pattern;
    const regex = isObject(pattern) && typeof pattern.Regex === "string"
      ? normaliseRegex(pattern.Regex)
      : undefined;
    const name = regex === undefined ? undefined : BY_REGEX.get(regex);
    if (
      name && (byteLevel[0] as JsonObject).use_regex === false &&
      (split.behavior ?? "Isolated") === "Isolated"
    ) {
      return name;
    }
    if (regex !== undefined) {
      throw new UsageError(
        `Cannot tell the BPE pre-tokenizer of ${path}: its pre_tokenizer splits with the regex ${
          JSON.stringify(regex)
        }, which matches none of ${
          KNOWN_PRE_TOKENIZERS.join(", ")
        }; pass --pre NAME with the llama.cpp pre-tokenizer name`,
      );
    }
  }
  throw new UsageError(
    `Cannot tell the BPE pre-tokenizer of ${path}: its pre_tokenizer ${describe(pre)} matches none of ${
      KNOWN_PRE_TOKENIZERS.join(", ")
    }; pass --pre NAME with the llama.cpp pre-tokenizer name`,
  );
}

/**
 * The tokenizer.json `pre_tokenizer` for a llama.cpp pre-tokenizer name, or
 * undefined for a name ckpt cannot write back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preTokenizerFor } from "./pre_tokenizer.ts";
 * assert.equal((preTokenizerFor("gpt2") as { type: string }).type, "ByteLevel");
 * assert.equal(preTokenizerFor("chatglm-bpe"), undefined);
 * ```
 */
export function preTokenizerFor(name: string): unknown {
  if (name === "gpt2" || name === "default") {
    return { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  }
  const regex = [...BY_REGEX].find(([, n]) => n === name)?.[0];
  if (regex === undefined) return undefined;
  return {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}
