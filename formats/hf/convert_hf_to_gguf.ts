/**
 * Hugging Face folder → GGUF file(s) in one streaming pass.
 *
 * @module
 */

import { writeGgufFiles } from "../gguf/write_gguf_files.ts";
import { hfToGguf, type HfToGgufOptions } from "./hf_to_gguf.ts";
import type { TokenizerKeyValues } from "./tokenizer_key_values.ts";
import { openHfModel } from "./open_hf_model.ts";

/** Options for {@linkcode convertHfToGguf}. */
export interface ConvertHfToGgufOptions extends HfToGgufOptions {
  /** Split into files of at most this many tensor bytes, as gguf-split names them. @default one file */
  maxShardSize?: number;
}

/** What {@linkcode convertHfToGguf} wrote. */
export interface ConvertHfToGgufResult {
  /** The GGUF files written. */
  readonly paths: readonly string[];
  /** `general.architecture`. */
  readonly architecture: string;
  /** Tensors written. */
  readonly tensors: number;
  /** Bytes of tensor data written. */
  readonly tensorBytes: number;
  /** Parameters written. */
  readonly parameters: number;
  /** The tokenizer's summary, unless `noVocab`. */
  readonly tokenizer?: TokenizerKeyValues;
}

/**
 * Convert the model folder at `input` (or one of its safetensors/index
 * files) to GGUF at `output`. Headers and the plan are checked before any
 * file is created; each tensor is then read, transformed and written in
 * chunks, so memory stays bounded by a chunk whatever the model's size.
 *
 * @example
 * ```ts ignore
 * import { convertHfToGguf } from "./convert_hf_to_gguf.ts";
 * const result = await convertHfToGguf("SmolLM2-135M", "smollm.gguf", { dtype: "Q8_0" });
 * console.log(result.paths);
 * ```
 */
export async function convertHfToGguf(
  input: string,
  output: string,
  options: ConvertHfToGgufOptions = {},
): Promise<ConvertHfToGgufResult> {
  const model = await openHfModel(input);
  try {
    const gguf = hfToGguf(model, options);
    const { paths } = await writeGgufFiles({ metadata: {}, tensors: gguf.tensors }, output, {
      kv: gguf.kv,
      maxShardSize: options.maxShardSize,
      protect: model.paths,
    });
    return {
      paths,
      architecture: model.architecture.name,
      tensors: gguf.tensors.length,
      tensorBytes: gguf.tensors.reduce((s, t) => s + t.byteLength, 0),
      parameters: gguf.parameters,
      tokenizer: gguf.tokenizer,
    };
  } finally {
    await model.close();
  }
}
