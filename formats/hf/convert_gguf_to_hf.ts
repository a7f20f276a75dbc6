/**
 * GGUF file (or split GGUF) → Hugging Face folder that transformers loads.
 *
 * @module
 */

import { fileSink, withSink } from "../../lib/byte_sink.ts";
import { withStagedFiles } from "../../lib/staged_files.ts";
import { fileSource } from "../../lib/byte_source.ts";
import { join, refuseInputs } from "../../lib/paths.ts";
import type { GgufKeyValue } from "../gguf/gguf_value.ts";
import { openGguf } from "../gguf/open_gguf.ts";
import { isGgufSplitPath, openGgufSplit } from "../gguf/open_gguf_split.ts";
import { writeSafetensors } from "../safetensors/write_safetensors.ts";
import type { TensorFile } from "../../lib/tensor.ts";
import { ggufToHf } from "./gguf_to_hf.ts";

/** What {@linkcode convertGgufToHf} wrote. */
export interface ConvertGgufToHfResult {
  /** Every file written in the folder. */
  readonly files: readonly string[];
  /** Tensors written to model.safetensors. */
  readonly tensors: number;
  /** What could not be carried over. */
  readonly warnings: readonly string[];
}

/** Open a GGUF path, split or not, with its typed key/values. */
export async function openGgufPath(path: string): Promise<TensorFile & { kv: readonly GgufKeyValue[] }> {
  if (isGgufSplitPath(path)) return await openGgufSplit(path);
  const source = await fileSource(path);
  try {
    return await openGguf(source);
  } catch (error) {
    await source.close();
    throw error;
  }
}

/**
 * Write the folder `outDir` (created if needed) from the GGUF at `input`:
 * config.json, generation_config.json, model.safetensors (F32/F16/BF16 as
 * stored, block types dequantized to F32) and the tokenizer files. Every
 * file is staged and renamed into place only when all are complete.
 *
 * @example
 * ```ts ignore
 * import { convertGgufToHf } from "./convert_gguf_to_hf.ts";
 * const result = await convertGgufToHf("model.gguf", "model-hf");
 * console.log(result.files);
 * ```
 */
export async function convertGgufToHf(input: string, outDir: string): Promise<ConvertGgufToHfResult> {
  const gguf = await openGgufPath(input);
  try {
    const contents = await ggufToHf(gguf.kv, gguf.tensors, input);
    await Deno.mkdir(outDir, { recursive: true });
    const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
    const small: [string, Uint8Array][] = [
      ["config.json", json(contents.config)],
      ["generation_config.json", json(contents.generationConfig)],
    ];
    if (contents.tokenizerJson) small.push(["tokenizer.json", json(contents.tokenizerJson)]);
    if (contents.tokenizerModel) small.push(["tokenizer.model", contents.tokenizerModel]);
    if (contents.tokenizerConfig) small.push(["tokenizer_config.json", json(contents.tokenizerConfig)]);
    const finals = ["model.safetensors", ...small.map(([n]) => n)].map((n) => join(outDir, n));
    await refuseInputs(finals, [input, ...(gguf.paths ?? [])]);
    // The folder's files appear together, or none of them.
    await withStagedFiles(async (staged) => {
      await withSink(
        await fileSink(staged.stage(finals[0])),
        (sink) => writeSafetensors({ metadata: { format: "pt" }, tensors: contents.tensors }, sink),
      );
      for (const [name, bytes] of small) {
        await withSink(await fileSink(staged.stage(join(outDir, name))), (sink) => sink.write(bytes));
      }
    });
    return { files: finals, tensors: contents.tensors.length, warnings: contents.warnings };
  } finally {
    await gguf.close();
  }
}
