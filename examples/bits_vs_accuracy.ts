/**
 * Bits → size → accuracy: store an ONNX model's weights at F32, F16, BF16,
 * int8 per channel and 4-bit (NF4), each "fake quantized" (dequantized back
 * into a copy of the model so any ONNX runtime runs it), and compare every
 * copy with the original on the same random inputs.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-ffi --allow-env --allow-run \
 *   examples/bits_vs_accuracy.ts [MODEL.onnx] [--random 100] [--seed 0] [--json]
 * ```
 *
 * Without MODEL, torchvision's ResNet-18 (random weights) is exported with
 * Debian's /usr/bin/python3 (torch, torchvision; set CKPT_PYTHON to use
 * another). `--allow-run` is needed only then.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { elementCount } from "../lib/dtype.ts";
import { cast, mapEntries, pipe, type Transform } from "../lib/pipeline.ts";
import { dequantize, quantize } from "../lib/quant/mod.ts";
import type { TensorStream } from "../lib/tensor.ts";
import { formatBytes } from "../lib/units.ts";
import { openOnnxPath, writeOnnxPath } from "../formats/onnx/mod.ts";
import { compareOnnxModels } from "../formats/onnx_runtime/compare_models.ts";

/** One row of the table. */
export interface BitsRow {
  /** Variant name. */
  scheme: string;
  /** Bits per weight, companions (scales) included. */
  bits: number;
  /** Bytes of the weights stored at this precision. */
  bytes: number;
  /** Top-1 agreement with the original, 0–1. */
  top1Agreement: number;
  /** Largest change of a class probability. */
  maxProbDelta: number;
}

const VARIANTS: { scheme: string; transform: () => Transform }[] = [
  { scheme: "F32", transform: () => (s) => s },
  { scheme: "F16", transform: () => cast("F16") },
  { scheme: "BF16", transform: () => cast("BF16") },
  {
    scheme: "int8 per-channel",
    transform: () => quantize({ scheme: "int8", perChannel: true }, { device: "cpu" }),
  },
  { scheme: "4-bit NF4", transform: () => quantize({ scheme: "NF4" }, { device: "cpu" }) },
];

async function exportResnet18(dir: string): Promise<string> {
  const python = Deno.env.get("CKPT_PYTHON") ?? "/usr/bin/python3";
  const path = `${dir}/resnet18.onnx`;
  const script = `
import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18().eval()
torch.onnx.export(m, torch.zeros(1, 3, 224, 224), sys.argv[1], input_names=["input"], output_names=["logits"], opset_version=13)
`;
  const out = await new Deno.Command(python, { args: ["-c", script, path], stderr: "piped" }).output();
  if (!out.success) throw new Error(`exporting ResNet-18 failed:\n${new TextDecoder().decode(out.stderr)}`);
  return path;
}

/**
 * Build the table for `model`, writing the variants into `workDir`.
 *
 * @example
 * ```ts ignore
 * const rows = await bitsVsAccuracy("model.onnx", "/tmp/work", { random: 100, seed: 0 });
 * ```
 */
export async function bitsVsAccuracy(
  model: string,
  workDir: string,
  options: { random?: number; seed?: number } = {},
): Promise<BitsRow[]> {
  const rows: BitsRow[] = [];
  for (const variant of VARIANTS) {
    const source = await openOnnxPath(model);
    const params = source.tensors.reduce((n, t) => n + elementCount(t.shape), 0);
    let bytes = 0;
    // Count what the weights take at this precision, before they are dequantized for the graph.
    const count = mapEntries((entry) => {
      bytes += entry.byteLength;
      return entry;
    });
    const out = `${workDir}/${variant.scheme.replace(/\W+/g, "_")}.onnx`;
    const stream: TensorStream = pipe(source, variant.transform(), count, dequantize());
    await writeOnnxPath(stream, out, { input: model });
    await source.close();
    const r = await compareOnnxModels(model, out, { random: options.random ?? 100, seed: options.seed ?? 0 });
    rows.push({
      scheme: variant.scheme,
      bits: (bytes * 8) / params,
      bytes,
      top1Agreement: r.top1Agreement,
      maxProbDelta: r.maxProbDelta,
    });
  }
  return rows;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { random: { type: "string" }, seed: { type: "string" }, json: { type: "boolean" } },
    allowPositionals: true,
  });
  const workDir = await Deno.makeTempDir({ prefix: "ckpt-bits-" });
  try {
    const model = positionals[0] ?? await exportResnet18(workDir);
    const rows = await bitsVsAccuracy(model, workDir, {
      random: values.random ? Number(values.random) : undefined,
      seed: values.seed ? Number(values.seed) : undefined,
    });
    if (values.json) console.log(JSON.stringify(rows, null, 2));
    else {
      const table = [
        ["scheme", "bits", "weights", "top-1 agreement", "max prob change"],
        ...rows.map((r) => [
          r.scheme,
          r.bits.toFixed(2),
          formatBytes(r.bytes),
          `${(r.top1Agreement * 100).toFixed(1)}%`,
          r.maxProbDelta.toFixed(4),
        ]),
      ];
      const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
      for (const row of table) {
        console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "));
      }
    }
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}
