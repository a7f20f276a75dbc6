// `ckpt quantize` for ONNX outputs and transformers.js model folders: the
// variants are graph rewrites (formats/onnx/onnx_variant.ts); this file only
// maps flags to options and prints what was written.

import { EXIT } from "./_command.ts";
import { formatTable, printJson } from "./_output.ts";
import { UsageError } from "../lib/errors.ts";
import { formatBytes } from "../lib/units.ts";
import type { OnnxScheme, OnnxVariantOptions, OnnxVariantSummary } from "../formats/onnx/onnx_variant.ts";

/** ckpt's own scheme names that have an ONNX operator form, and the variant each becomes. */
const ALIASES: Readonly<Record<string, OnnxScheme>> = {
  fp16: "fp16",
  F16: "fp16",
  int8: "int8",
  uint8: "uint8",
  q8: "q8",
  q4: "q4",
  q4f16: "q4f16",
  bnb4: "bnb4",
  NF4: "bnb4",
};

/** The ONNX variant a `--scheme` names, when it has one. */
export function onnxVariantScheme(name: string): OnnxScheme | undefined {
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
}

function variantOptions(values: Record<string, unknown>): Omit<OnnxVariantOptions, "scheme"> {
  let blockSize: number | undefined;
  if (typeof values["block-size"] === "string") {
    blockSize = Number(values["block-size"]);
    if (!Number.isInteger(blockSize)) throw new UsageError(`Invalid --block-size '${values["block-size"]}'`);
  }
  if (values.affine) {
    throw new UsageError("--affine does not apply to ONNX variants: use --scheme uint8 (asymmetric) or int8");
  }
  return { perChannel: values["per-channel"] === true, blockSize, asymmetric: values.asymmetric === true };
}

function print(summaries: OnnxVariantSummary[], values: Record<string, unknown>): void {
  if (values.json) {
    printJson({ mode: "graph-rewrite", variants: summaries });
    return;
  }
  if (values.quiet) return;
  console.log(formatTable(
    summaries.map((s) => [
      s.path,
      s.scheme,
      formatBytes(s.inputBytes),
      formatBytes(s.outputBytes),
      `${s.rewritten.length} rewritten`,
      `${s.kept.length} kept in float`,
    ]),
  ));
  const kept = new Map<string, number>();
  for (const s of summaries) {
    for (const k of s.kept) kept.set(`${k.op}: ${k.reason}`, (kept.get(`${k.op}: ${k.reason}`) ?? 0) + 1);
  }
  for (const [what, n] of kept) console.log(`  kept ${n}× ${what}`);
}

/** Run `ckpt quantize IN.onnx OUT.onnx --scheme S` as a graph rewrite. */
export async function runOnnxVariant(
  input: string,
  output: string,
  scheme: OnnxScheme,
  values: Record<string, unknown>,
): Promise<number> {
  const { writeOnnxVariantPath } = await import("../formats/onnx/onnx_variant.ts");
  const summary = await writeOnnxVariantPath(input, output, { scheme, ...variantOptions(values) });
  print([summary], values);
  return EXIT.ok;
}

/** Run `ckpt quantize MODEL_DIR --variants fp16,q8,q4`. */
export async function runOnnxFolderVariants(
  folder: string,
  values: Record<string, unknown>,
): Promise<number> {
  const { ONNX_SCHEMES, writeOnnxVariants } = await import("../formats/onnx/onnx_variant.ts");
  const names = String(values.variants).split(",").map((s) => s.trim()).filter((s) => s !== "");
  const schemes = names.map((n) => {
    const s = onnxVariantScheme(n);
    if (!s) throw new UsageError(`Unknown ONNX variant '${n}'; expected ${ONNX_SCHEMES.join(", ")}`);
    return s;
  });
  if (schemes.length === 0) {
    throw new UsageError("--variants needs at least one of " + ONNX_SCHEMES.join(", "));
  }
  print(await writeOnnxVariants(folder, schemes, variantOptions(values)), values);
  return EXIT.ok;
}
