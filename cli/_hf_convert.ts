/**
 * The Hugging Face routes of `ckpt convert` and `ckpt inspect`: a model
 * folder (or a safetensors file with a config.json beside it) to GGUF gets
 * the full llama.cpp treatment; a GGUF to a folder (`OUT/`) becomes a
 * Hugging Face folder; `ckpt inspect FOLDER` summarises a model folder.
 *
 * @module
 */

import { UsageError } from "../lib/errors.ts";
import { formatBytes, formatCount, parseSize } from "../lib/units.ts";
import { convertGgufToHf } from "../formats/hf/convert_gguf_to_hf.ts";
import { convertHfToGguf } from "../formats/hf/convert_hf_to_gguf.ts";
import { FILE_TYPE_OF, type HfGgufType } from "../formats/hf/hf_to_gguf.ts";
import { hfFolderOf, openHfModel } from "../formats/hf/open_hf_model.ts";
import { summarizeHfModel } from "../formats/hf/summarize_hf_model.ts";
import { formatTable, type OptionSpecs, printJson } from "./_output.ts";

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** The options `convert` declares for these routes. */
export const HF_CONVERT_OPTIONS: OptionSpecs = {
  "no-vocab": { type: "boolean" },
  pre: { type: "string" },
  plain: { type: "boolean" },
};

/** Help lines for these options. */
export const HF_CONVERT_HELP =
  `  --no-vocab           (model folder → .gguf) write weights and hyperparameters only
  --pre NAME           (model folder → .gguf) BPE pre-tokenizer name for tokenizer.ggml.pre
                       when tokenizer.json's own pre_tokenizer is not recognised
                       (a SentencePiece tokenizer.model needs --allow-env=BUF_BIGINT_DISABLE)
  --plain              a .safetensors input with a config.json beside it, to .gguf:
                       write its tensors as they are instead of a llama.cpp model`;

/**
 * Run the Hugging Face route for `input` → `output` when it applies, and
 * return the exit code; undefined when the plain conversion applies.
 */
export async function convertHfRoute(
  input: string,
  output: string,
  values: Values,
): Promise<number | undefined> {
  if (values.plain === true) return undefined;
  const quiet = values.quiet === true;
  const started = performance.now();
  if (/\.gguf$/i.test(output)) {
    const inputIsDir = await isDirectory(input);
    const folder = await hfFolderOf(input);
    if (folder === undefined) {
      if (inputIsDir) throw new UsageError(`Cannot convert ${input}: the folder has no config.json`);
      return undefined;
    }
    for (const option of ["include", "exclude", "jobs", "dedupe-shared"]) {
      if (values[option] !== undefined) {
        throw new UsageError(
          `--${option} does not apply to a Hugging Face model folder converted to GGUF (or use --plain)`,
        );
      }
    }
    const dtype = typeof values.dtype === "string" ? values.dtype.toUpperCase() : "F16";
    if (!(dtype in FILE_TYPE_OF)) {
      throw new UsageError(`Cannot write a llama.cpp GGUF as '${values.dtype}': use F32, F16, BF16 or Q8_0`);
    }
    const result = await convertHfToGguf(inputIsDir ? folder : input, output, {
      dtype: dtype as HfGgufType,
      noVocab: values["no-vocab"] === true,
      pre: typeof values.pre === "string" ? values.pre : undefined,
      maxShardSize: typeof values["max-shard-size"] === "string"
        ? parseSize(values["max-shard-size"])
        : undefined,
    });
    if (!quiet) {
      const t = result.tokenizer;
      console.log(
        `${result.paths.join(", ")}: ${result.architecture}, ${result.tensors} tensors, ${
          formatCount(result.parameters)
        } parameters, ${formatBytes(result.tensorBytes)} as ${dtype}${
          t ? `, ${t.model} tokenizer (${t.tokens} tokens, pre ${t.pre})` : ", no vocabulary"
        } in ${((performance.now() - started) / 1000).toFixed(2)} s`,
      );
    }
    return 0;
  }
  if ((output.endsWith("/") || (await isDirectory(output))) && /\.gguf$/i.test(input)) {
    if (values.dtype !== undefined) {
      throw new UsageError(`--dtype does not apply to a GGUF converted to a folder`);
    }
    const result = await convertGgufToHf(input, output.replace(/\/+$/, "") || "/");
    for (const warning of result.warnings) console.error(`ckpt convert: ${warning}`);
    if (!quiet) {
      console.log(
        `${output}: ${
          result.files.map((f) => f.slice(f.lastIndexOf("/") + 1)).join(", ")
        } (${result.tensors} tensors) in ${((performance.now() - started) / 1000).toFixed(2)} s`,
      );
    }
    return 0;
  }
  return undefined;
}

/** `ckpt inspect FOLDER`: print a model folder's summary; undefined when `input` is not a folder. */
export async function inspectHfRoute(input: string, json: boolean): Promise<number | undefined> {
  // Only a folder with a config.json is a model folder; other folders (a
  // TensorFlow checkpoint's) are opened by their own formats.
  if (!(await isDirectory(input)) || !(await isFile(`${input}/config.json`))) return undefined;
  const model = await openHfModel(input);
  try {
    const s = summarizeHfModel(model);
    if (json) {
      printJson(s);
      return 0;
    }
    const tok = "error" in s.tokenizer
      ? `cannot convert: ${s.tokenizer.error}`
      : `${s.tokenizer.model}, ${s.tokenizer.tokens} tokens, ${s.tokenizer.merges} merges, pre ${s.tokenizer.pre}, ${
        Object.entries(s.tokenizer.special).map(([k, v]) => `${k} ${v}`).join(", ") || "no special ids"
      }`;
    console.log(`${input}`);
    console.log(formatTable([
      ["format", "Hugging Face model folder"],
      ["architecture", `${s.hfClass} → GGUF ${s.architecture}`],
      ["parameters", `${formatCount(s.parameters)} (${s.parameters})`],
      ["tensors", `${s.tensors} (${formatBytes(s.tensorBytes)})`],
      ["tokenizer", tok],
    ], { indent: "  " }));
    console.log("\nhyperparameters");
    console.log(
      formatTable(Object.entries(s.hyperparameters).map(([k, v]) => [k, String(v)]), { indent: "  " }),
    );
    return 0;
  } finally {
    await model.close();
  }
}
