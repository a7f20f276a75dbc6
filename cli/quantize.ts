/**
 * `ckpt quantize`: shrink a tensor file with one quantization scheme, on the
 * GPU when WebGPU has an adapter, and report the error of every tensor.
 *
 * @module
 */

import { type Command, EXIT } from "./_command.ts";
import { expectPositionals, formatTable, parseCommandArgs, printJson } from "./_output.ts";
import { createProgress } from "./_progress.ts";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { UsageError } from "../lib/errors.ts";
import { refuseInputs } from "../lib/paths.ts";
import { writeOutput } from "./_write_output.ts";
import { convertShardsCommand } from "./_parallel.ts";
import { pipe } from "../lib/pipeline.ts";
import { dequantize, quantize, resolveDevice, type TensorReport } from "../lib/quantize.ts";
import { schemeByName, SCHEMES } from "../lib/quant/schemes.ts";
import { formatBytes } from "../lib/units.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { formatForPath } from "../formats/registry.ts";
import { deviceLabel } from "../gpu/mod.ts";

function regex(option: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (error) {
    throw new UsageError(`Invalid ${option} pattern '${source}': ${(error as Error).message}`);
  }
}

function fixed(value: number | undefined, digits: number): string {
  if (value === undefined) return "";
  if (value === Infinity) return "inf";
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

function rmseText(value: number | undefined): string {
  if (value === undefined) return "";
  return value === 0 ? "0" : value.toExponential(2);
}

/**
 * Probing for a WebGPU adapter makes the native display libraries log
 * "XDG_RUNTIME_DIR is invalid or not set" on stderr when that variable is
 * unset (headless machines, CI). Any absolute path quiets them; nothing is
 * created there. Only done when the variable may be set without a prompt.
 */
function quietDisplayProbe(): void {
  const permission = Deno.permissions.querySync({ name: "env", variable: "XDG_RUNTIME_DIR" });
  if (permission.state !== "granted") return;
  if (!Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) Deno.env.set("XDG_RUNTIME_DIR", "/nonexistent");
}

/** `ckpt quantize IN OUT --scheme SCHEME [options]`. */
export const quantizeCommand: Command = {
  name: "quantize",
  summary: "quantize a tensor file (F16, BF16, FP8, int8, k-bit, GGUF Q-blocks, NF4) on GPU or CPU",
  help: `ckpt quantize — quantize a tensor file and report the error of every tensor

Usage: ckpt quantize IN OUT --scheme SCHEME [options]

The input may be any readable format; OUT's extension picks the output format.
GGUF block schemes (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) need a .gguf output; the
other schemes write codes with companion tensors (<name>.scale, .zero_point,
.absmax, .min) and a ckpt.quantization metadata entry that 'ckpt convert
--dtype F32' uses to dequantize. Tensors of rank below 2 (biases, norms) are
kept as they are. Results are identical on the GPU and the CPU.

Schemes:
${SCHEMES.map((s) => `  ${s.name.padEnd(10)}${s.description}`).join("\n")}

Options:
  --scheme S          the scheme (required)
  --per-channel       int8: one scale per channel along --axis
  --axis N            channel axis for --per-channel (default 0, output channels)
  --affine            int8: quint8 with a zero point instead of symmetric qint8
  --reduce-range      int8: PyTorch's reduce_range (one bit less)
  --saturate          FP8: clamp out-of-range values instead of NaN/Inf
  --double-quant      NF4/FP4: quantize the per-block absmax values too
  --all               quantize tensors of rank below 2 too
  --device D          auto (default: a hardware GPU, else the CPU), gpu (any
                      adapter, a software one too) or cpu
  --jobs N            sharded input (.safetensors.index.json) to sharded output:
                      quantize the shards in parallel Workers on the CPU, N at a
                      time (auto: one per core); no --report or --json
  --include RE        quantize only tensors whose name matches
  --exclude RE        never quantize tensors whose name matches
  --report FILE       write the per-tensor table as JSON to FILE
  --json              print the result as one JSON object
  -q, --quiet         no progress bar
  -h, --help          show this help

Example:
  ckpt quantize model.safetensors model-q8.gguf --scheme Q8_0 --report q8.json

Permissions: --allow-read (input) and --allow-write (output, report).
WebGPU needs no permission.`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, {
      scheme: { type: "string" },
      "per-channel": { type: "boolean" },
      axis: { type: "string" },
      affine: { type: "boolean" },
      "reduce-range": { type: "boolean" },
      saturate: { type: "boolean" },
      "double-quant": { type: "boolean" },
      all: { type: "boolean" },
      device: { type: "string" },
      include: { type: "string" },
      exclude: { type: "string" },
      report: { type: "string" },
      json: { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
      jobs: { type: "string" },
    });
    const [input, output] = expectPositionals(positionals, ["IN", "OUT"]);
    if (typeof values.scheme !== "string") throw new UsageError("Missing --scheme (see --help)");
    const scheme = schemeByName(values.scheme);
    let axis = 0;
    if (typeof values.axis === "string") {
      axis = Number(values.axis);
      if (!Number.isInteger(axis)) {
        throw new UsageError(`Invalid --axis '${values.axis}': expected an integer`);
      }
    }
    const device = typeof values.device === "string" ? values.device : "auto";
    if (!["auto", "gpu", "cpu"].includes(device)) {
      throw new UsageError(`Unknown --device '${device}'; use auto, gpu or cpu`);
    }
    const format = formatForPath(output);
    if (scheme.storage === "ggml" && format.name !== "gguf" && format.name !== "onnx") {
      throw new UsageError(
        `Scheme ${scheme.name} writes ggml blocks, which only GGUF stores; use a .gguf output`,
      );
    }
    // Shard-parallel mode (cli/_parallel.ts): each shard quantized in a Worker, on the CPU.
    if (typeof values.jobs === "string") {
      if (device === "gpu") {
        throw new UsageError("--jobs quantizes on the CPU, one Worker a shard; drop --device gpu");
      }
      if (typeof values.report === "string" || values.json === true) {
        throw new UsageError(
          "--report and --json list every tensor, which --jobs does not gather; quantize without --jobs for them",
        );
      }
      return await convertShardsCommand(input, output, values, {
        quantize: {
          scheme: scheme.name,
          perChannel: values["per-channel"] === true,
          axis,
          affine: values.affine === true,
          reduceRange: values["reduce-range"] === true,
          saturate: values.saturate === true,
          doubleQuant: values["double-quant"] === true,
          keep1d: values.all !== true,
          include: typeof values.include === "string" ? values.include : undefined,
          exclude: typeof values.exclude === "string" ? values.exclude : undefined,
        },
      });
    }
    if (device !== "cpu") quietDisplayProbe();
    const backend = await resolveDevice(device as "auto" | "gpu" | "cpu");

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
        quantize({
          scheme: scheme.name,
          perChannel: values["per-channel"] === true,
          axis,
          affine: values.affine === true,
          reduceRange: values["reduce-range"] === true,
          saturate: values.saturate === true,
          doubleQuant: values["double-quant"] === true,
          keep1d: values.all !== true,
          include: typeof values.include === "string" ? regex("--include", values.include) : undefined,
          exclude: typeof values.exclude === "string" ? regex("--exclude", values.exclude) : undefined,
          device: backend ?? "cpu",
          onTensor: (report) => {
            reports.push(report);
            if (report.device !== "none") progress.advance(report.bytesBefore);
          },
        }),
      );
      // An ONNX graph declares its weights' dtypes: store the dequantized
      // values ("fake quantization"), which any runtime can run.
      const written = format.name === "onnx" ? pipe(stream, dequantize()) : stream;
      await writeOutput(format, written, output, { input, file });
    } finally {
      progress.done();
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
      device: await deviceLabel(device as "auto" | "gpu" | "cpu", backend),
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
    console.log(formatTable(rows, {
      header: ["tensor", "scheme", "before", "after", "rmse", "sqnr dB"],
      align: ["left", "left", "right", "right", "right", "right"],
    }));
    console.log(`${output}: written in ${result.seconds.toFixed(2)} s on the ${result.device}`);
    return EXIT.ok;
  },
};
