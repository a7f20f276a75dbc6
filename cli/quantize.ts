/**
 * `ckpt quantize`: shrink a tensor file with one quantization scheme, on the
 * GPU when WebGPU has an adapter, and report the error of every tensor.
 *
 * @module
 */

import { quietDisplayProbe } from "./_display_probe.ts";
import { type Command, EXIT } from "./_command.ts";
import { expectPositionals, formatTable, parseCommandArgs, printJson } from "./_output.ts";
import { createProgress } from "./_progress.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { UsageError } from "../lib/errors.ts";
import { refuseInputs } from "../lib/paths.ts";
import { writeTensorFile } from "../formats/write_tensor_file.ts";
import { convertShardsCommand, parseJobs } from "./_shards_command.ts";
import { QUANTIZE_FLAGS, quantizeSpecFromFlags } from "./_quantize_flags.ts";
import { pipe } from "../lib/pipeline.ts";
import {
  cpuWorkers,
  dequantize,
  isDeviceName,
  quantize,
  resolveDevice,
  type TensorReport,
} from "../lib/quant/mod.ts";
import { schemeByName, SCHEMES } from "../lib/quant/schemes.ts";
import { formatBytes } from "../lib/units.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { formatForPath } from "../formats/registry.ts";
import { onnxVariantScheme, runOnnxFolderVariants, runOnnxVariant } from "./_onnx_variants.ts";
import { quantizeFileType } from "./_quantize_file_type.ts";
import "../gpu/mod.ts";

function fixed(value: number | undefined, digits: number): string {
  if (value === undefined) return "";
  if (value === Infinity) return "inf";
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

function rmseText(value: number | undefined): string {
  if (value === undefined) return "";
  return value === 0 ? "0" : value.toExponential(2);
}

/** `ckpt quantize IN OUT --scheme SCHEME [options]`. */
export const quantizeCommand: Command = {
  name: "quantize",
  summary: "quantize a tensor file (F16, BF16, FP8, int8, k-bit, GGUF Q-blocks, NF4) on GPU or CPU",
  help: `ckpt quantize — quantize a tensor file and report the error of every tensor

Usage: ckpt quantize IN OUT --scheme SCHEME [options]
       ckpt quantize MODEL_DIR --variants fp16,q8,q4,…

The input may be any readable format; OUT's extension picks the output format.
GGUF block schemes (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) need a .gguf output; the
other schemes write codes with companion tensors (<name>.scale, .zero_point,
.absmax, .min) and a ckpt.quantization metadata entry that 'ckpt convert
--dtype F32' uses to dequantize. Tensors of rank below 2 (biases, norms) are
kept as they are. Results are identical on the GPU and the CPU.

GGUF file types (a .gguf output from a GGUF model input with
general.architecture, or from a Hugging Face model folder, converted and
quantized in one pass): Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q4_K_M, Q4_K_S, Q3_K_L, Q3_K_M, Q3_K_S,
Q2_K, Q5_1, Q5_0, Q4_1, Q4_0, F16, BF16, F32 give every tensor the type
llama-quantize gives it (without an importance matrix), with the same bytes;
--pure gives every quantized tensor the file type's one type. File types run
on --jobs CPU Workers unless --device gpu (from a model folder,
one job unless --jobs says more: the conversion sets the pace there).

Schemes:
${SCHEMES.map((s) => `  ${s.name.padEnd(10)}${s.description}`).join("\n")}

ONNX (IN.onnx to OUT.onnx): fp16 (F16), int8, uint8, q8, q4, q4f16, bnb4 (NF4) rewrite
the graph as onnxruntime's tools do (float16 with float32 inputs/outputs;
MatMulInteger/ConvInteger dynamic quantization; MatMulNBits 4-bit blocks;
MatMulBnb4 NF4 blocks of 64), so
the file really shrinks; other schemes, or --simulate, store dequantized
weights in the float graph. --variants writes onnx/model_<variant>.onnx beside
each onnx/*.onnx of a transformers.js model folder.

Options:
  --scheme S          the scheme (required)
  --variants LIST     MODEL_DIR: fp16,int8,uint8,q8,q4,q4f16,bnb4 (comma-separated)
  --simulate          ONNX: dequantized weights in the float graph instead
  --block-size N      q4: elements per block (default 32)
  --asymmetric        q4: a zero point per block
  --per-channel       int8: one scale per channel along --axis
  --axis N            channel axis for --per-channel (default 0, output channels)
  --affine            int8: quint8 with a zero point instead of symmetric qint8
  --reduce-range      int8: PyTorch's reduce_range (one bit less)
  --saturate          FP8: clamp out-of-range values instead of NaN/Inf
  --double-quant      NF4/FP4: quantize the per-block absmax values too
  --all               quantize tensors of rank below 2 too
  --pure              file types: one type for every quantized tensor
  --no-vocab          file types from a model folder: no tokenizer keys
  --pre NAME          file types from a model folder: the BPE pre-tokenizer
                      name when tokenizer.json's own is not recognised
  --device D          auto (default: a hardware GPU, else the CPU), gpu (any
                      adapter, a software one too) or cpu
  --jobs N            Workers quantizing on the CPU (default auto: one per core);
                      the bytes are the same for any N. With a sharded input
                      (.safetensors.index.json) and output, each Worker takes a
                      whole shard instead (no --report or --json then)
  --include RE        quantize only tensors whose name matches
  --exclude RE        never quantize tensors whose name matches
  --report FILE       write the per-tensor table as JSON to FILE
  --json              print the result as one JSON object
  -v, --verbose       print every tensor's row, not only the summary
  -q, --quiet         no progress bar, nothing printed on success
  -h, --help          show this help

Example:
  ckpt quantize model.safetensors model-q8.gguf --scheme Q8_0 --report q8.json

Permissions: --allow-read (input) and --allow-write (output, report).
WebGPU needs no permission.`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, {
      ...QUANTIZE_FLAGS,
      device: { type: "string" },
      report: { type: "string" },
      json: { type: "boolean" },
      verbose: { type: "boolean", short: "v" },
      quiet: { type: "boolean", short: "q" },
      jobs: { type: "string" },
      simulate: { type: "boolean" },
      variants: { type: "string" },
      "block-size": { type: "string" },
      asymmetric: { type: "boolean" },
      pure: { type: "boolean" },
      "no-vocab": { type: "boolean" },
      pre: { type: "string" },
    });
    if (typeof values.variants === "string") {
      return await runOnnxFolderVariants(expectPositionals(positionals, ["MODEL_DIR"])[0], values);
    }
    const [input, output] = expectPositionals(positionals, ["IN", "OUT"]);
    const variant = typeof values.scheme === "string" ? onnxVariantScheme(values.scheme) : undefined;
    if (variant && !values.simulate && /\.onnx$/i.test(output) && /\.onnx$/i.test(input)) {
      return await runOnnxVariant(input, output, variant, values);
    }
    if (typeof values.scheme !== "string") throw new UsageError("Missing --scheme (see --help)");
    const fileTypeExit = await quantizeFileType(input, output, values);
    if (fileTypeExit !== undefined) return fileTypeExit;
    const spec = quantizeSpecFromFlags(values);
    const scheme = schemeByName(spec.scheme);
    const device = typeof values.device === "string" ? values.device : "auto";
    if (!isDeviceName(device)) throw new UsageError(`Unknown --device '${device}'; use auto, gpu or cpu`);
    const format = formatForPath(output);
    if (scheme.storage === "ggml" && format.name !== "gguf" && format.name !== "onnx") {
      throw new UsageError(
        `Scheme ${scheme.name} writes ggml blocks, which only GGUF stores; use a .gguf output`,
      );
    }
    // Shard-parallel mode (formats/convert_shards.ts): each shard quantized in a Worker, on the CPU.
    if (typeof values.jobs === "string" && /\.index\.json$/i.test(input)) {
      if (device === "gpu") {
        throw new UsageError("--jobs quantizes on the CPU, one Worker a shard; drop --device gpu");
      }
      if (typeof values.report === "string" || values.json === true) {
        throw new UsageError(
          "--report and --json list every tensor, which --jobs does not gather; quantize without --jobs for them",
        );
      }
      return await convertShardsCommand(input, output, values, { quantize: spec });
    }
    if (device !== "cpu") quietDisplayProbe();
    // Chosen up front, so `--device gpu` without an adapter fails before any work.
    const jobs = parseJobs(typeof values.jobs === "string" ? values.jobs : undefined);
    const resolved = await resolveDevice(device);
    // On the CPU, the tensors are spread over `jobs` Workers (the same bytes as one thread).
    const pool = resolved.device === "cpu" && jobs > 1 ? cpuWorkers(jobs) : undefined;
    const choice = pool ? await resolveDevice(pool) : resolved;

    const started = performance.now();
    const file = await openTensorFile(input);
    // Checked before any work, so a clash costs nothing.
    if (typeof values.report === "string") {
      await refuseInputs([values.report], [input, output, ...(file.paths ?? [])]).catch(async (error) => {
        await file.close();
        throw error;
      });
    }
    const order = new Map(file.tensors.map((t, i) => [t.name, i]));
    const reports: TensorReport[] = [];
    const progress = createProgress({
      total: file.tensors.reduce((sum, t) => sum + t.byteLength, 0),
      label: "quantizing",
      quiet: values.quiet === true,
    });
    try {
      const stream = pipe(
        file,
        quantize(spec, {
          device: choice.backend ?? "cpu",
          onTensor: (report) => {
            reports.push(report);
            if (report.device !== "none") progress.advance(report.bytesBefore);
          },
        }),
      );
      // An ONNX graph declares its weights' dtypes: store the dequantized
      // values ("fake quantization"), which any runtime can run.
      const written = format.name === "onnx" ? pipe(stream, dequantize()) : stream;
      await writeTensorFile(written, output, { format, input, file });
    } finally {
      progress.done();
      pool?.close();
      await file.close();
    }
    reports.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
    const quantized = reports.filter((r) => r.scheme !== "none");
    const totals = {
      tensors: reports.length,
      quantized: quantized.length,
      bytesBefore: reports.reduce((s, r) => s + r.bytesBefore, 0),
      bytesAfter: reports.reduce((s, r) => s + r.bytesAfter, 0),
    };
    const result = {
      input,
      output,
      scheme: scheme.name,
      device: choice.device === "gpu" ? choice.reason : resolved.reason,
      jobs: pool?.workers ?? 1,
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
      totals,
      tensors: reports.map((r) => ({
        name: r.name,
        scheme: r.scheme,
        ...(r.reason ? { reason: r.reason } : {}),
        shape: r.shape,
        dtype: r.dtype,
        bytesBefore: r.bytesBefore,
        bytesAfter: r.bytesAfter,
        ...(r.metrics
          ? {
            rmse: r.metrics.rmse,
            maxAbsError: r.metrics.maxAbsError,
            sqnrDb: Number.isFinite(r.metrics.sqnrDb) ? r.metrics.sqnrDb : null,
            cosine: r.metrics.cosine,
          }
          : {}),
      })),
    };
    if (typeof values.report === "string") {
      const text = new TextEncoder().encode(JSON.stringify(result, null, 2) + "\n");
      await withSink(
        await fileSink(values.report, { protect: [input, output, ...(file.paths ?? [])] }),
        (sink) => sink.write(text),
      );
    }
    if (values.json) {
      printJson(result);
      return EXIT.ok;
    }
    if (values.quiet === true) return EXIT.ok;
    const written = await sizeOf(output);
    const where = choice.reason;
    if (values.verbose === true) {
      console.log(tensorTable(reports, totals));
    } else {
      console.log(summary(reports, totals));
    }
    console.log(
      `${output}: ${written === undefined ? "" : `${formatBytes(written)} `}written in ${
        result.seconds.toFixed(2)
      } s on the ${where}`,
    );
    if (format.name === "onnx") {
      // The summary's "after" is the encoded size; an ONNX graph stores the dequantized floats.
      const size = (await Deno.stat(output)).size;
      console.log(
        `simulated: dequantized weights in the float graph; the file is ${formatBytes(size)} (${size} bytes)`,
      );
    }
    return EXIT.ok;
  },
};

interface Totals {
  tensors: number;
  quantized: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** Every tensor's row and a total, for `--verbose`. */
function tensorTable(reports: readonly TensorReport[], totals: Totals): string {
  const rows = reports.map((r) => [
    r.name,
    r.scheme === "none" ? `kept (${r.reason})` : r.scheme,
    formatBytes(r.bytesBefore),
    formatBytes(r.bytesAfter),
    rmseText(r.metrics?.rmse),
    fixed(r.metrics?.sqnrDb, 1),
  ]);
  rows.push([
    `total (${totals.quantized} of ${totals.tensors} quantized)`,
    "",
    formatBytes(totals.bytesBefore),
    formatBytes(totals.bytesAfter),
    "",
    "",
  ]);
  return formatTable(rows, {
    header: ["tensor", "scheme", "before", "after", "rmse", "sqnr dB"],
    align: ["left", "left", "right", "right", "right", "right"],
  });
}

/** How many tensors shrank by how much, the worst ones by SQNR, and what was kept and why. */
function summary(reports: readonly TensorReport[], totals: Totals): string {
  const lines: string[] = [];
  const ratio = totals.bytesBefore > 0 ? (100 * totals.bytesAfter / totals.bytesBefore).toFixed(1) : "100.0";
  lines.push(
    `${totals.quantized} of ${totals.tensors} tensors quantized: ${formatBytes(totals.bytesBefore)} → ${
      formatBytes(totals.bytesAfter)
    } of tensor data (${ratio}%)`,
  );
  const measured = reports.filter((r) => r.metrics !== undefined);
  if (measured.length > 0) {
    const worst = [...measured].sort((a, b) => a.metrics!.sqnrDb - b.metrics!.sqnrDb).slice(0, 5);
    lines.push(`worst by SQNR (of ${measured.length}):`);
    const rows = worst.map((r) => [
      `  ${r.name}`,
      r.scheme,
      `${fixed(r.metrics!.sqnrDb, 1)} dB`,
      `rmse ${rmseText(r.metrics!.rmse)}`,
    ]);
    lines.push(formatTable(rows, { align: ["left", "left", "right", "left"] }));
  }
  const kept = new Map<string, { count: number; bytes: number }>();
  for (const r of reports) {
    if (r.scheme !== "none") continue;
    const k = kept.get(r.reason ?? "kept") ?? { count: 0, bytes: 0 };
    k.count++;
    k.bytes += r.bytesBefore;
    kept.set(r.reason ?? "kept", k);
  }
  if (kept.size > 0) {
    lines.push("kept as they were:");
    for (const [reason, k] of [...kept].sort((a, b) => b[1].bytes - a[1].bytes)) {
      lines.push(`  ${k.count} ${k.count === 1 ? "tensor" : "tensors"} (${formatBytes(k.bytes)}): ${reason}`);
    }
  }
  lines.push("(--verbose lists every tensor)");
  return lines.join("\n");
}

/** The size of what was written: a file, or a folder's files (sharded output). */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isFile ? info.size : undefined;
  } catch {
    return undefined;
  }
}
