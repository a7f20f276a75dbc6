/**
 * The GGUF tokenizer keys of a Hugging Face folder, as llama.cpp's converter
 * writes them: SentencePiece (`tokenizer.model` → model "llama") or byte-level
 * BPE (`tokenizer.json` → model "gpt2"), special token ids and add_bos/add_eos
 * from tokenizer_config.json, config.json and the post-processor, the chat
 * template, and the vocabulary padded to config.json's `vocab_size`.
 *
 * @module
 */

import { FormatError, UsageError } from "../../lib/errors.ts";
import type { GgufKeyValue } from "../gguf/gguf_value.ts";
import { preTokenizerName } from "./pre_tokenizer.ts";
import { PIECE_TYPE } from "./_piece_type.ts";
import type { SentencePieceModel } from "./sentencepiece_model.ts";
import type { JsonObject } from "./open_hf_model.ts";

/** The tokenizer files of a folder, already read. */
export interface TokenizerFiles {
  /** Folder path, for messages. */
  readonly folder: string;
  /** config.json. */
  readonly config: JsonObject;
  /** tokenizer.json, parsed. @default absent */
  readonly tokenizerJson?: JsonObject;
  /** tokenizer.model, parsed. @default absent */
  readonly sentencePiece?: SentencePieceModel;
  /** tokenizer_config.json, parsed. @default absent */
  readonly tokenizerConfig?: JsonObject;
  /** added_tokens.json (token → id), read beside a tokenizer.model. @default absent */
  readonly addedTokens?: JsonObject;
  /** chat_template.jinja text. @default absent */
  readonly chatTemplateJinja?: string;
}

/** Options for {@linkcode tokenizerKeyValues}. */
export interface TokenizerKeyValuesOptions {
  /** Rows of the token embedding: the vocabulary must fit. */
  readonly embeddingRows: number;
  /** Override the BPE pre-tokenizer name. @default derived from tokenizer.json */
  readonly pre?: string;
}

/** The tokenizer keys and a summary of what they hold. */
export interface TokenizerKeyValues {
  /** Typed key/values, in the converter's order. */
  readonly kv: GgufKeyValue[];
  /** `llama` (SentencePiece) or `gpt2` (BPE). */
  readonly model: string;
  /** `tokenizer.ggml.pre`. */
  readonly pre: string;
  /** Tokens written (after padding). */
  readonly tokens: number;
  /** Merges written (BPE). */
  readonly merges: number;
  /** Tokens of each type, by GGUF token type number. */
  readonly types: Readonly<Record<number, number>>;
  /** Special token ids by kind (bos, eos, …). */
  readonly special: Readonly<Record<string, number>>;
}

const SPECIAL_TYPES = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] as const;
const ID_KEYS: Record<string, string> = {
  bos: "tokenizer.ggml.bos_token_id",
  eos: "tokenizer.ggml.eos_token_id",
  unk: "tokenizer.ggml.unknown_token_id",
  sep: "tokenizer.ggml.seperator_token_id",
  pad: "tokenizer.ggml.padding_token_id",
  mask: "tokenizer.ggml.mask_token_id",
  eot: "tokenizer.ggml.eot_token_id",
  eom: "tokenizer.ggml.eom_token_id",
};
const ADD_KEYS: Record<string, string> = {
  bos: "tokenizer.ggml.add_bos_token",
  eos: "tokenizer.ggml.add_eos_token",
  sep: "tokenizer.ggml.add_sep_token",
};

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The converter's guess for added tokens that are special but not marked so. */
function looksSpecial(token: string): boolean {
  return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(token) ||
    (token.startsWith("<|") && token.endsWith("|>")) ||
    (token.startsWith("<｜") && token.endsWith("｜>")) ||
    (token.startsWith("<unused") && token.endsWith(">"));
}

function tokenContent(entry: unknown): string | undefined {
  if (typeof entry === "string") return entry;
  if (isObject(entry) && typeof entry.content === "string") return entry.content;
  return undefined;
}

/** SpecialVocab's reading of tokenizer.json, tokenizer_config.json and config.json. */
function specialVocab(files: TokenizerFiles, nVocab: number | undefined): {
  ids: Map<string, number>;
  add: Map<string, boolean>;
  chatTemplate: string | undefined;
} {
  const ids = new Map<string, number>();
  const add = new Map<string, boolean>();
  const types: string[] = [...SPECIAL_TYPES];
  const set = (typ: string, id: unknown) => {
    if (typeof id !== "number" || !Number.isInteger(id)) return;
    if (id < 0) {
      throw new FormatError(
        `Cannot read the tokenizer of ${files.folder}: ${typ} token id ${id} is negative`,
      );
    }
    if ((nVocab === undefined || id < nVocab) && !ids.has(typ)) ids.set(typ, id);
  };
  const tj = files.tokenizerJson;
  const tc: JsonObject | undefined = files.tokenizerConfig ? { ...files.tokenizerConfig } : undefined;
  const added = tj && Array.isArray(tj.added_tokens) ? tj.added_tokens.filter(isObject) : [];
  if (tj) {
    let bos = tokenContent(tc?.bos_token);
    const cls = tokenContent(tc?.cls_token);
    let eos = tokenContent(tc?.eos_token);
    const sep = tokenContent(tc?.sep_token);
    if (!bos && cls && tc) tc.bos_token = bos = cls;
    if (!eos && sep && tc) tc.eos_token = eos = sep;
    const post = tj.post_processor;
    if (isObject(post)) {
      const processors = Array.isArray(post.processors) ? post.processors.filter(isObject) : [post];
      for (const p of processors) {
        if (p.type === "RobertaProcessing") {
          add.set("bos", true).set("eos", true).set("sep", true);
        } else if (p.type === "TemplateProcessing") {
          const single = Array.isArray(p.single) ? p.single.filter(isObject) : [];
          const pair = Array.isArray(p.pair) ? p.pair.filter(isObject) : [];
          const specialId = (item: JsonObject | undefined) =>
            isObject(item?.SpecialToken) && typeof item.SpecialToken.id === "string"
              ? item.SpecialToken.id
              : undefined;
          let first: string | undefined;
          let last: string | undefined;
          if (single.length > 1) {
            first = specialId(single[0]);
            if (first) {
              if (!tc) bos = first;
              else if (first !== bos && first !== cls && !bos) tc.bos_token = bos = first;
              add.set("bos", first === bos || first === cls);
            }
            last = specialId(single[single.length - 1]);
            if (last) {
              if (!tc) eos = last;
              else if (last !== eos) {
                if (!types.includes("eot")) {
                  types.push("eot");
                  tc.eot_token = eos;
                } else if (!types.includes("eom")) {
                  types.push("eom");
                  tc.eom_token = eos;
                }
                tc.eos_token = eos = last;
              }
              add.set("eos", last === eos);
            }
          }
          if (pair.length > 0) {
            const start = first && specialId(pair[0]) === first ? 1 : 0;
            const stop = last && specialId(pair[pair.length - 1]) === last ? pair.length - 1 : pair.length;
            let middle = pair.slice(start, stop);
            if (middle.length > 0) {
              const seqId = (item: JsonObject) => isObject(item.Sequence) ? item.Sequence.id : undefined;
              const a = seqId(middle[0]);
              const b = seqId(middle[middle.length - 1]);
              middle = middle.slice(1, -1);
              if (a === "A" && b === "B" && middle.length > 0) {
                let addSep = false;
                const e0 = specialId(middle[0]);
                if (e0 && (e0 === sep || e0 === eos) && !last) addSep = true;
                if (middle.length === 2) {
                  const e1 = specialId(middle[1]);
                  if (e1 && (e1 === sep || e1 === eos)) addSep = true;
                }
                add.set("sep", addSep);
              }
            }
          }
        }
      }
    }
  }
  let chatTemplate: string | undefined;
  if (tc) {
    const t = tc.chat_template ?? files.chatTemplateJinja;
    if (typeof t === "string") chatTemplate = t;
    for (const typ of types) {
      const addEntry = tc[`add_${typ}_token`];
      if (typeof addEntry === "boolean") add.set(typ, addEntry);
      const content = tokenContent(tc[`${typ}_token`]);
      if (content === undefined) continue;
      set(typ, added.find((a) => a.content === content)?.id);
    }
  } else if (files.chatTemplateJinja !== undefined) {
    // The converter reads chat_template.jinja only beside a tokenizer_config.json.
    chatTemplate = undefined;
  }
  for (const typ of types) {
    const text = files.config.text_config;
    set(typ, files.config[`${typ}_token_id`] ?? (isObject(text) ? text[`${typ}_token_id`] : undefined));
  }
  return { ids, add, chatTemplate };
}

function countTypes(types: readonly number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const t of types) out[t] = (out[t] ?? 0) + 1;
  return out;
}

function vocabSizeOf(files: TokenizerFiles): number | undefined {
  const v = files.config.vocab_size;
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

function tooLarge(files: TokenizerFiles, file: string, count: number, rows: number): never {
  throw new FormatError(
    `Cannot convert ${files.folder}: ${file} has ${count} tokens, more than the ${rows} rows of the token embedding (model.embed_tokens.weight)`,
    { format: "hf" },
  );
}

function sentencePieceKeys(files: TokenizerFiles, options: TokenizerKeyValuesOptions): TokenizerKeyValues {
  const model = files.sentencePiece!;
  const vocab = vocabSizeOf(files) ?? model.pieces.length;
  if (vocab > options.embeddingRows) tooLarge(files, "config.json vocab_size", vocab, options.embeddingRows);
  const tokens: string[] = Array.from({ length: vocab }, (_, i) => `[PAD${i}]`);
  const scores: number[] = new Array(vocab).fill(-10000);
  const types: number[] = new Array(vocab).fill(PIECE_TYPE.unused);
  if (model.pieces.length > vocab && model.pieces.length > options.embeddingRows) {
    tooLarge(files, "tokenizer.model", model.pieces.length, options.embeddingRows);
  }
  for (let id = 0; id < Math.min(vocab, model.pieces.length); id++) {
    const p = model.pieces[id];
    tokens[id] = p.piece;
    scores[id] = p.score;
    // The converter asks IsUnknown/IsControl/IsUnused/IsByte; user-defined pieces read as normal.
    types[id] = p.type === PIECE_TYPE.userDefined ? PIECE_TYPE.normal : p.type;
  }
  // added_tokens.json: user-defined tokens, as the converter reads them.
  for (const [token, id] of Object.entries(files.addedTokens ?? {})) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= vocab) continue;
    tokens[id] = token;
    scores[id] = -1000;
    types[id] = PIECE_TYPE.userDefined;
  }
  const decoder = files.tokenizerConfig?.added_tokens_decoder;
  if (isObject(decoder)) {
    for (const [key, data] of Object.entries(decoder)) {
      const id = Number(key);
      if (
        !Number.isInteger(id) || id < 0 || id >= vocab || !isObject(data) || typeof data.content !== "string"
      ) continue;
      let token = data.content;
      if (data.special === true || looksSpecial(token)) types[id] = PIECE_TYPE.control;
      else {
        token = token.replaceAll("\u2581", " ");
        types[id] = PIECE_TYPE.userDefined;
      }
      scores[id] = -1000;
      tokens[id] = token;
    }
  }
  const kv: GgufKeyValue[] = [
    { key: "tokenizer.ggml.model", type: "string", value: "llama" },
    { key: "tokenizer.ggml.pre", type: "string", value: "default" },
    { key: "tokenizer.ggml.tokens", type: "array", value: { itemType: "string", items: tokens } },
    { key: "tokenizer.ggml.scores", type: "array", value: { itemType: "f32", items: scores } },
    { key: "tokenizer.ggml.token_type", type: "array", value: { itemType: "i32", items: types } },
  ];
  const special = specialVocab(files, tokens.length);
  return finish(kv, special, "llama", "default", tokens.length, 0, types);
}

function finish(
  kv: GgufKeyValue[],
  special: ReturnType<typeof specialVocab>,
  model: string,
  pre: string,
  tokens: number,
  merges: number,
  types: readonly number[],
): TokenizerKeyValues {
  const ids: Record<string, number> = {};
  for (const [typ, id] of special.ids) {
    if (!ID_KEYS[typ]) continue; // no GGUF key for cls
    kv.push({ key: ID_KEYS[typ], type: "u32", value: id });
    ids[typ] = id;
  }
  for (const [typ, value] of special.add) {
    if (ADD_KEYS[typ]) kv.push({ key: ADD_KEYS[typ], type: "bool", value });
  }
  if (special.chatTemplate !== undefined) {
    kv.push({ key: "tokenizer.chat_template", type: "string", value: special.chatTemplate });
  }
  return { kv, model, pre, tokens, merges, types: countTypes(types), special: ids };
}

function bpeKeys(files: TokenizerFiles, options: TokenizerKeyValuesOptions): TokenizerKeyValues {
  const path = `${files.folder}/tokenizer.json`;
  const tj = files.tokenizerJson!;
  const model = tj.model;
  if (!isObject(model) || model.type !== "BPE" || !isObject(model.vocab)) {
    throw new UsageError(
      `Cannot convert the tokenizer of ${files.folder}: tokenizer.json's model is ${
        isObject(model) ? String(model.type) : "missing"
      }, and only BPE (or a SentencePiece tokenizer.model) is supported; pass --no-vocab to write weights only`,
    );
  }
  const pre = options.pre ?? preTokenizerName(tj.pre_tokenizer, path);
  const reverse = new Map<number, string>();
  for (const [token, id] of Object.entries(model.vocab)) {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
      throw new FormatError(`Cannot read ${path}: model.vocab entry ${JSON.stringify(token)} has id ${id}`, {
        format: "hf",
      });
    }
    reverse.set(id, token);
  }
  const added = new Map<number, JsonObject>();
  for (const a of Array.isArray(tj.added_tokens) ? tj.added_tokens.filter(isObject) : []) {
    if (typeof a.id === "number" && typeof a.content === "string") {
      added.set(a.id, a);
      reverse.set(a.id, a.content);
    }
  }
  let maxId = -1;
  for (const id of reverse.keys()) maxId = Math.max(maxId, id);
  const vocab = vocabSizeOf(files) ?? reverse.size;
  if (maxId >= options.embeddingRows) tooLarge(files, "tokenizer.json", maxId + 1, options.embeddingRows);
  if (maxId >= vocab) {
    throw new FormatError(
      `Cannot convert ${files.folder}: tokenizer.json has token id ${maxId}, not below config.json vocab_size ${vocab}`,
      { format: "hf" },
    );
  }
  if (vocab > options.embeddingRows) tooLarge(files, "config.json vocab_size", vocab, options.embeddingRows);
  const tokens: string[] = new Array(vocab);
  const types: number[] = new Array(vocab);
  for (let i = 0; i < vocab; i++) {
    const token = reverse.get(i);
    if (token === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = PIECE_TYPE.unused;
      continue;
    }
    const a = added.get(i);
    if (a) {
      if (a.special === true || looksSpecial(token)) {
        tokens[i] = token;
        types[i] = PIECE_TYPE.control;
      } else {
        tokens[i] = token.replaceAll("\u2581", " ");
        types[i] = PIECE_TYPE.userDefined;
      }
    } else {
      tokens[i] = token;
      types[i] = PIECE_TYPE.normal;
    }
  }
  const rawMerges = Array.isArray(model.merges) ? model.merges : [];
  const merges: string[] = rawMerges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      // The pair form may hold spaces; the string form escapes them as U+0120, as the converter does.
      return m.map((part: string) => part.replaceAll(" ", "\u0120")).join(" ");
    }
    throw new FormatError(`Cannot read ${path}: merge ${i} is neither "a b" nor ["a", "b"]`, {
      format: "hf",
    });
  });
  const kv: GgufKeyValue[] = [
    { key: "tokenizer.ggml.model", type: "string", value: "gpt2" },
    { key: "tokenizer.ggml.pre", type: "string", value: pre },
    { key: "tokenizer.ggml.tokens", type: "array", value: { itemType: "string", items: tokens } },
    { key: "tokenizer.ggml.token_type", type: "array", value: { itemType: "i32", items: types } },
  ];
  if (merges.length > 0) {
    kv.push({ key: "tokenizer.ggml.merges", type: "array", value: { itemType: "string", items: merges } });
  }
  return finish(kv, specialVocab(files, undefined), "gpt2", pre, vocab, merges.length, types);
}

/**
 * The tokenizer keys for a folder: SentencePiece when `tokenizer.model` is
 * there, else byte-level BPE from `tokenizer.json`. Throws a typed error
 * naming the file when neither is there, the pre-tokenizer is unknown, or
 * the vocabulary is larger than the embedding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenizerKeyValues } from "./tokenizer_key_values.ts";
 * const tokenizerJson = { added_tokens: [{ id: 2, content: "<|end|>", special: true }],
 *   pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
 *   model: { type: "BPE", vocab: { a: 0, b: 1 }, merges: [["a", "b"]] } };
 * const out = tokenizerKeyValues({ folder: "m", config: { vocab_size: 4 }, tokenizerJson }, { embeddingRows: 4 });
 * assert.equal(out.pre, "gpt2");
 * assert.deepEqual(out.types, { 1: 2, 3: 1, 5: 1 });
 * ```
 */
export function tokenizerKeyValues(
  files: TokenizerFiles,
  options: TokenizerKeyValuesOptions,
): TokenizerKeyValues {
  if (files.sentencePiece) return sentencePieceKeys(files, options);
  if (files.tokenizerJson) return bpeKeys(files, options);
  throw new UsageError(
    `Cannot convert the tokenizer of ${files.folder}: it has neither tokenizer.model nor tokenizer.json; pass --no-vocab to write weights only`,
  );
}
