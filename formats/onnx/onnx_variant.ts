/**
 * Smaller copies of an ONNX model that still run, made as graph rewrites:
 * float16, 8-bit dynamic quantization (MatMulInteger / ConvInteger) and
 * 4-bit MatMulNBits, as onnxruntime's Python tools write them and as
 * transformers.js names them (`model_fp16.onnx`, `model_quantized.onnx`, …).
 *
 * @module
 */

import { type ByteSink, fileSink, withSink } from "../../lib/byte_sink.ts";
import { refuseInputs } from "../../lib/paths.ts";
import { withStagedFiles } from "../../lib/staged_files.ts";
import { LimitError, UsageError } from "../../lib/errors.ts";
import { type OnnxFile, openOnnxPath } from "./decode.ts";
import { quantizeDynamic, type RewriteReport } from "./_dynamic_quant.ts";
import { convertToFloat16 } from "./_fp16.ts";
import { checkTree } from "./_graph_check.ts";
import { quantizeNBitsGraph } from "./_nbits.ts";
import { subgraphs } from "./_rewrite_util.ts";
import { MAX_PROTOBUF_BYTES } from "./_schema.ts";
import { resolveExternalPath } from "./_paths.ts";
import { encodeModel, Parts, readTree, type TreeModel } from "./_tree.ts";

/** The variants, by the names transformers.js gives its dtypes. */
export type OnnxScheme = "fp16" | "int8" | "uint8" | "q8" | "q4" | "q4f16" | "bnb4";

/** Every scheme, in the order `--variants` lists them. */
export const ONNX_SCHEMES: readonly OnnxScheme[] = Object.freeze([
  "fp16",
  "int8",
  "uint8",
  "q8",
  "q4",
  "q4f16",
  "bnb4",
]);

/** The file-name suffix transformers.js looks for: `model` + suffix + `.onnx`. */
export const ONNX_VARIANT_SUFFIX: Readonly<Record<OnnxScheme, string>> = Object.freeze({
  fp16: "_fp16",
  int8: "_int8",
  uint8: "_uint8",
  q8: "_quantized",
  q4: "_q4",
  q4f16: "_q4f16",
  bnb4: "_bnb4",
});

/** Options for {@linkcode makeOnnxVariant}. */
export interface OnnxVariantOptions {
  /** Which variant. */
  scheme: OnnxScheme;
  /** 8-bit schemes: one scale per output channel of MatMul weights. @default false */
  perChannel?: boolean;
  /** 4-bit schemes: elements per block (a power of two, 16 or more). @default 32, and 64 for bnb4 */
  blockSize?: number;
  /**
   * 8-bit schemes: quantize inside If/Loop/Scan bodies too, as transformers.js's conversion does
   * (onnxruntime's `EnableSubgraph`); `false` does what `quantize_dynamic` does by default.
   * @default true
   */
  subgraphs?: boolean;
  /** 4-bit schemes: a zero point per block instead of the fixed 8. @default false */
  asymmetric?: boolean;
  /**
   * Keep tensors of 1 KiB or more in an external data file of this name (relative to the model's
   * folder), as models over 2 GiB must; write it with the variant's `writeExternal`.
   * @default undefined (every tensor inline)
   */
  externalData?: string;
}

/** A node a scheme left as it was, and why. */
export interface OnnxKeptNode {
  /** Operator type. */
  readonly op: string;
  /** Node name (may be empty). */
  readonly name: string;
  /** Why it stayed. */
  readonly reason: string;
}

/** A rewritten model, ready to be written. */
export interface OnnxVariant {
  /** The scheme it was made with (`q8` resolved to `int8` or `uint8`). */
  readonly scheme: OnnxScheme;
  /** What was rewritten (`MatMul name`, …). */
  readonly rewritten: readonly string[];
  /** Nodes a scheme cannot handle, kept in float. */
  readonly kept: readonly OnnxKeptNode[];
  /** Size of the model file it writes, in bytes. */
  readonly byteLength: number;
  /** Size of the external data file, when `externalData` was given. */
  readonly externalByteLength: number;
  /** Write the model to `sink` (tensors are computed as they are written). */
  write(sink: ByteSink): Promise<void>;
  /** Write the external data file (when `externalData` was given) to `sink`. */
  writeExternal(sink: ByteSink): Promise<void>;
}

function hasConv(model: TreeModel): boolean {
  return [model.graph, ...subgraphs(model.graph)].some((g) => g.nodes.some((n) => n.opType === "Conv"));
}

function merge(into: RewriteReport, from: RewriteReport): void {
  into.quantized.push(...from.quantized);
  into.kept.push(...from.kept);
}

/**
 * Rewrite `model` as the variant `options.scheme`. The input is only read:
 * the result is a new model whose tensors are computed when written.
 *
 * @example Make the 8-bit and 4-bit variants of a model
 * ```ts ignore
 * import { makeOnnxVariant, openOnnxPath } from "@ckpt/ckpt/onnx";
 * import { fileSink } from "@ckpt/ckpt";
 *
 * const model = await openOnnxPath("model.onnx");
 * const q4 = await makeOnnxVariant(model, { scheme: "q4" });
 * const sink = await fileSink("model_q4.onnx");
 * await q4.write(sink);
 * await sink.close();
 * await model.close();
 * ```
 */
export async function makeOnnxVariant(model: OnnxFile, options: OnnxVariantOptions): Promise<OnnxVariant> {
  const blockSize = options.blockSize ?? (options.scheme === "bnb4" ? 64 : 32);
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new UsageError(`The block size must be a power of two of at least 16, got ${options.blockSize}`);
  }
  if (!ONNX_SCHEMES.includes(options.scheme)) {
    throw new UsageError(
      `Unknown ONNX variant '${options.scheme}'; expected one of ${ONNX_SCHEMES.join(", ")}`,
    );
  }
  const tree = await readTree(model);
  checkTree(tree);
  const report: RewriteReport = { quantized: [], kept: [] };
  let scheme = options.scheme;
  if (scheme === "q8") scheme = hasConv(tree) ? "uint8" : "int8";
  if (scheme === "int8" || scheme === "uint8") {
    merge(
      report,
      quantizeDynamic(tree, {
        weightType: scheme,
        perChannel: options.perChannel ?? false,
        subgraphs: options.subgraphs ?? true,
      }),
    );
  } else if (scheme === "q4" || scheme === "q4f16") {
    merge(
      report,
      quantizeNBitsGraph(tree, { kind: "nbits", blockSize, asymmetric: options.asymmetric ?? false }),
    );
    if (scheme === "q4f16") merge(report, convertToFloat16(tree));
  } else if (scheme === "bnb4") {
    merge(report, quantizeNBitsGraph(tree, { kind: "bnb4", blockSize, asymmetric: false }));
  } else merge(report, convertToFloat16(tree));
  tree.producerName = "ckpt";
  tree.producerVersion = "";
  const external = options.externalData === undefined
    ? undefined
    : { location: options.externalData, parts: new Parts(), threshold: 1024, alignment: 64 };
  const parts = encodeModel(tree, { external });
  if (parts.length > MAX_PROTOBUF_BYTES) {
    throw new LimitError(
      `Cannot write the ${scheme} variant: it would be ${parts.length} bytes, over protobuf's 2 GiB limit; keep its tensors in external data`,
      { limit: MAX_PROTOBUF_BYTES, actual: parts.length },
    );
  }
  return {
    scheme,
    rewritten: report.quantized,
    kept: report.kept,
    byteLength: parts.length,
    externalByteLength: external?.parts.length ?? 0,
    write: (sink) => writeParts(parts, sink),
    writeExternal: (sink) => writeParts(external?.parts ?? new Parts(), sink),
  };
}

async function writeParts(parts: Parts, sink: ByteSink): Promise<void> {
  const list = parts.list;
  // The next tensor is read and computed while the current one is written: two tensors in memory at most.
  const start = (i: number): Promise<Uint8Array> | undefined => {
    for (let j = i; j < list.length; j++) {
      const p = list[j];
      if (!(p instanceof Uint8Array)) return p.read();
    }
    return undefined;
  };
  let next = start(0);
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    if (p instanceof Uint8Array) {
      await sink.write(p);
      continue;
    }
    const bytes = await next!;
    next = start(i + 1);
    if (bytes.length !== p.length) {
      next?.catch(() => {});
      throw new RangeError(`A tensor of the rewritten model has ${bytes.length} bytes, expected ${p.length}`);
    }
    await sink.write(bytes);
  }
}

/** What {@linkcode writeOnnxVariantPath} wrote. */
export interface OnnxVariantSummary {
  /** The scheme (`q8` resolved). */
  readonly scheme: OnnxScheme;
  /** Output path. */
  readonly path: string;
  /** Bytes of the input model file. */
  readonly inputBytes: number;
  /** Bytes written. */
  readonly outputBytes: number;
  /** What was rewritten. */
  readonly rewritten: readonly string[];
  /** Nodes kept in float, with the reason. */
  readonly kept: readonly OnnxKeptNode[];
}

/**
 * Make the variant of the model at `input` and write it to `output` (a
 * temporary file renamed when complete; nothing is left on failure).
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { writeOnnxVariantPath } from "@ckpt/ckpt/onnx";
 * const s = await writeOnnxVariantPath("model.onnx", "model_quantized.onnx", { scheme: "q8" });
 * assert.ok(s.outputBytes < s.inputBytes);
 * ```
 */
export async function writeOnnxVariantPath(
  input: string,
  output: string,
  options: OnnxVariantOptions,
): Promise<OnnxVariantSummary> {
  const model = await openOnnxPath(input);
  try {
    // Models whose source keeps external data, or that would not fit in one protobuf, keep theirs in
    // `<output file>_data` (transformers.js looks for `model.onnx_data` beside `model.onnx`).
    const location = `${output.slice(output.lastIndexOf("/") + 1)}_data`;
    const sourceExternal = model.model.layout.initializers.some((i) => i.data.kind === "external");
    let variant = await makeOnnxVariant(model, {
      ...options,
      externalData: options.externalData ?? (sourceExternal ? location : undefined),
    }).catch((error) => {
      if (error instanceof LimitError && options.externalData === undefined && !sourceExternal) {
        return undefined;
      }
      throw error;
    });
    variant ??= await makeOnnxVariant(model, { ...options, externalData: location });
    const external = variant.externalByteLength > 0
      ? `${output.slice(0, output.lastIndexOf("/") + 1)}${options.externalData ?? location}`
      : undefined;
    const baseDir = model.model.baseDir;
    const protect = [
      input,
      ...(baseDir === undefined
        ? []
        : model.model.layout.initializers.flatMap((i) =>
          i.data.kind === "external" ? [resolveExternalPath(baseDir, i.data.location, i.name)] : []
        )),
    ];
    await refuseInputs([output, ...(external ? [external] : [])], protect);
    // The model and its external data appear together, or neither.
    await withStagedFiles(async (staged) => {
      await withSink(await fileSink(staged.stage(output)), (sink) => variant!.write(sink));
      if (external) {
        await withSink(await fileSink(staged.stage(external)), (sink) => variant!.writeExternal(sink));
      }
    });
    return {
      scheme: variant.scheme,
      path: output,
      inputBytes: model.fileBytes ?? 0,
      outputBytes: variant.byteLength + variant.externalByteLength,
      rewritten: variant.rewritten,
      kept: variant.kept,
    };
  } finally {
    await model.close();
  }
}

/**
 * For each `onnx/*.onnx` of a transformers.js model folder (encoder/decoder
 * splits included) that is not itself a variant, write each scheme's variant
 * beside it, named as transformers.js looks it up (`model_fp16.onnx`,
 * `decoder_model_merged_q4.onnx`, …).
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { writeOnnxVariants } from "@ckpt/ckpt/onnx";
 * const written = await writeOnnxVariants("my-model", ["fp16", "q8", "q4"]);
 * assert.ok(written.some((s) => s.path.endsWith("onnx/model_q4.onnx")));
 * ```
 */
export async function writeOnnxVariants(
  folder: string,
  schemes: readonly OnnxScheme[],
  options: Omit<OnnxVariantOptions, "scheme"> = {},
): Promise<OnnxVariantSummary[]> {
  const dir = `${folder.replace(/\/$/, "")}/onnx`;
  const suffixes = Object.values(ONNX_VARIANT_SUFFIX);
  const models: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.endsWith(".onnx")) continue;
      const stem = e.name.slice(0, -5);
      if (suffixes.some((s) => stem.endsWith(s))) continue;
      models.push(e.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`${folder} is not a transformers.js model folder: it has no onnx/ folder`);
    }
    throw error;
  }
  if (models.length === 0) throw new UsageError(`${dir} holds no .onnx model to make variants of`);
  models.sort();
  const out: OnnxVariantSummary[] = [];
  for (const name of models) {
    for (const scheme of schemes) {
      const target = `${dir}/${name.slice(0, -5)}${ONNX_VARIANT_SUFFIX[scheme]}.onnx`;
      out.push(await writeOnnxVariantPath(`${dir}/${name}`, target, { ...options, scheme }));
    }
  }
  return out;
}
