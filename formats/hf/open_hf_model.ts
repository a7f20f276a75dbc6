/**
 * Open a Hugging Face model folder — config.json, model.safetensors or a
 * sharded index, tokenizer files — as one input, from the folder or from any
 * of its safetensors/index files.
 *
 * @module
 */

import { FormatError, LimitError, UsageError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { basename, dirname, join } from "../../lib/paths.ts";
import { type TensorFile, tensorFile } from "../../lib/tensor.ts";
import { openSafetensors } from "../safetensors/open_safetensors.ts";
import { openSafetensorsIndex } from "../safetensors/open_safetensors_index.ts";
import { fileSource } from "../../lib/byte_source.ts";
import { architectureByClass, supportedClasses } from "./architectures/architecture_by_name.ts";
import type { ArchitectureTable, Hparams } from "./architectures/_table.ts";
import type { TokenizerFiles } from "./tokenizer_key_values.ts";
import type { SentencePieceModel } from "./sentencepiece_model.ts";

/** A parsed JSON object (config.json, tokenizer.json, …). */
export type JsonObject = Record<string, unknown>;

/** Largest JSON file read from a folder (config, tokenizer): real tokenizer.json files are under 20 MB. */
export const MAX_JSON_BYTES = 256 * 1024 * 1024;
/** Largest tokenizer.model read. */
export const MAX_TOKENIZER_MODEL_BYTES = 64 * 1024 * 1024;

/** An opened folder: its tensors (Hugging Face names, lazy) and what else a converter needs. */
export interface HfModel extends TensorFile {
  /** The folder. */
  readonly folder: string;
  /** config.json. */
  readonly config: JsonObject;
  /** generation_config.json, when present. */
  readonly generationConfig?: JsonObject;
  /** The architecture table for config.json's `architectures[0]`. */
  readonly architecture: ArchitectureTable;
  /** config.json's class, e.g. `LlamaForCausalLM`. */
  readonly hfClass: string;
  /** Hyperparameters, checked. */
  readonly hparams: Hparams;
  /** The tokenizer files that are there. */
  readonly tokenizer: TokenizerFiles;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function readBytes(path: string, limit: number): Promise<Uint8Array | undefined> {
  const stat = await statOrUndefined(path);
  if (!stat) return undefined;
  if (stat.size > limit) {
    throw new LimitError(`Cannot read ${path}: ${stat.size} bytes, over the limit of ${limit}`, {
      limit,
      actual: stat.size,
    });
  }
  return await Deno.readFile(path);
}

// The protobuf runtime (which reads an environment variable when it loads) is
// imported only when a folder has a tokenizer.model.
async function readSentencePiece(path: string): Promise<SentencePieceModel | undefined> {
  const bytes = await readBytes(path, MAX_TOKENIZER_MODEL_BYTES);
  if (!bytes) return undefined;
  const { parseSentencePieceModel } = await import("./sentencepiece_model.ts");
  return parseSentencePieceModel(bytes, path);
}

/** Read a JSON object file, or undefined when it is absent. */
export async function readJsonFile(path: string): Promise<JsonObject | undefined> {
  const bytes = await readBytes(path, MAX_JSON_BYTES);
  if (!bytes) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new FormatError(`Cannot read ${path}: invalid JSON (${(cause as Error).message})`, {
      format: "hf",
      cause,
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FormatError(`Cannot read ${path}: not a JSON object`, { format: "hf" });
  }
  return parsed as JsonObject;
}

/**
 * The model folder `path` belongs to: `path` itself when it is a folder with
 * a config.json, or the folder of a `.safetensors`/`.safetensors.index.json`
 * file with a config.json beside it; else undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfFolderOf } from "./open_hf_model.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(await hfFolderOf(dir), undefined);
 * await Deno.writeTextFile(`${dir}/config.json`, "{}");
 * assert.equal(await hfFolderOf(`${dir}/model.safetensors`), dir);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function hfFolderOf(path: string): Promise<string | undefined> {
  const stat = await statOrUndefined(path);
  if (stat?.isDirectory) return (await statOrUndefined(join(path, "config.json")))?.isFile ? path : undefined;
  if (!/\.safetensors(\.index\.json)?$/i.test(path)) return undefined;
  const dir = dirname(path);
  return (await statOrUndefined(join(dir, "config.json")))?.isFile ? dir : undefined;
}

function positiveInt(config: JsonObject, key: string, path: string, fallback?: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw new FormatError(
      `Cannot convert ${path}: field '${key}' is ${
        v === undefined ? "missing" : JSON.stringify(v)
      }, expected a positive integer`,
      { format: "hf" },
    );
  }
  return v;
}

/** Normalised hyperparameters of a config.json, checked for consistency. */
export function hparamsOf(config: JsonObject, path = "config.json"): Hparams {
  const hidden = positiveInt(config, "hidden_size", path);
  const heads = positiveInt(config, "num_attention_heads", path);
  const kvHeads = positiveInt(config, "num_key_value_heads", path, heads);
  const headDim = positiveInt(config, "head_dim", path, Math.floor(hidden / heads));
  if (heads % kvHeads !== 0) {
    throw new FormatError(
      `Cannot convert ${path}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`,
      { format: "hf" },
    );
  }
  if (config.head_dim === undefined && hidden % heads !== 0) {
    throw new FormatError(
      `Cannot convert ${path}: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`,
      {
        format: "hf",
      },
    );
  }
  return {
    hidden,
    heads,
    kvHeads,
    headDim,
    layers: positiveInt(config, "num_hidden_layers", path),
    ff: positiveInt(config, "intermediate_size", path),
    vocab: positiveInt(config, "vocab_size", path),
  };
}

/**
 * Open a model folder (or one of its safetensors/index files): config.json
 * is required and must name a supported architecture; the weights are
 * `model.safetensors.index.json` (sharded) or `model.safetensors`; the
 * tokenizer files are read when present (their absence is an error only
 * when a vocabulary is asked for). Only headers are read.
 *
 * @example
 * ```ts ignore
 * import { openHfModel } from "./open_hf_model.ts";
 * const model = await openHfModel("Llama-3.2-1B/");
 * console.log(model.architecture.name, model.hparams.layers);
 * await model.close();
 * ```
 */
export async function openHfModel(path: string, options: OpenOptions = {}): Promise<HfModel> {
  const stat = await Deno.stat(path);
  const folder = stat.isDirectory ? path.replace(/\/+$/, "") || "/" : dirname(path);
  const configPath = join(folder, "config.json");
  const config = await readJsonFile(configPath);
  if (!config) {
    throw new UsageError(`Cannot open ${path} as a Hugging Face model: ${configPath} is missing`);
  }
  const classes = config.architectures;
  const hfClass = Array.isArray(classes) && typeof classes[0] === "string" ? classes[0] : undefined;
  const architecture = hfClass === undefined ? undefined : architectureByClass(hfClass);
  if (!architecture) {
    throw new UsageError(
      `Cannot convert ${configPath}: field 'architectures' is ${
        JSON.stringify(classes ?? null)
      }; supported: ${supportedClasses().join(", ")}`,
    );
  }
  const hparams = hparamsOf(config, configPath);

  let weights: string;
  if (!stat.isDirectory) weights = path;
  else if ((await statOrUndefined(join(folder, "model.safetensors.index.json")))?.isFile) {
    weights = join(folder, "model.safetensors.index.json");
  } else if ((await statOrUndefined(join(folder, "model.safetensors")))?.isFile) {
    weights = join(folder, "model.safetensors");
  } else {
    throw new UsageError(
      `Cannot open ${folder} as a Hugging Face model: it has neither model.safetensors nor model.safetensors.index.json`,
    );
  }
  let file: TensorFile;
  try {
    file = /\.index\.json$/i.test(weights)
      ? await openSafetensorsIndex(weights, options)
      : await (async () => {
        const source = await fileSource(weights);
        try {
          return await openSafetensors(source, options);
        } catch (error) {
          await source.close();
          throw error;
        }
      })();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new FormatError(`Cannot open ${weights}: a weights file it needs is missing (${error.message})`, {
        format: "hf",
      });
    }
    throw error;
  }

  const tokenizerJsonPath = join(folder, "tokenizer.json");
  const tokenizer: TokenizerFiles = {
    folder,
    config,
    tokenizerJson: await readJsonFile(tokenizerJsonPath),
    sentencePiece: await readSentencePiece(join(folder, "tokenizer.model")),
    tokenizerConfig: await readJsonFile(join(folder, "tokenizer_config.json")),
    addedTokens: await readJsonFile(join(folder, "added_tokens.json")),
    chatTemplateJinja: (await statOrUndefined(join(folder, "chat_template.jinja")))?.isFile
      ? await Deno.readTextFile(join(folder, "chat_template.jinja"))
      : undefined,
  };
  return tensorFile({
    format: "hf",
    metadata: { ...file.metadata },
    tensors: file.tensors,
    fileBytes: file.fileBytes,
    paths: [weights, ...(file.paths ?? [])],
    close: () => file.close(),
    folder,
    config,
    generationConfig: await readJsonFile(join(folder, "generation_config.json")),
    architecture,
    hfClass: hfClass!,
    hparams,
    tokenizer,
  });
}

/** The folder's display name, as llama.cpp's converter derives `general.name` from it. */
export function modelNameOf(folder: string): string {
  return basename(folder.replace(/\/+$/, "")).split(/[-_ ]+/).filter((w) => w.length > 0)
    .map((w) => w[0].toUpperCase() + w.slice(1)).join(" ");
}
