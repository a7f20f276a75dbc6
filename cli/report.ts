/**
 * `ckpt report`: one self-contained HTML page about a tensor file — where
 * its bytes are, what its weights look like and, against a quantized copy,
 * how far each tensor moved.
 *
 * @module
 */

import { fileSink, withSink } from "../lib/byte_sink.ts";
import { UsageError } from "../lib/errors.ts";
import type { TensorEntry, TensorFile } from "../lib/tensor.ts";
import { formatBytes, formatCount } from "../lib/units.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { collectReport, DEFAULT_BINS, DEFAULT_MAX_TENSORS } from "../report/collect_report.ts";
import { renderReportHtml, type ReportData } from "../report/render_report_html.ts";
import { type Command, EXIT } from "./_command.ts";
import { expectPositionals, parseCommandArgs, printJson } from "./_output.ts";
import { createProgress } from "./_progress.ts";

/** More bins than pixels across a chart only make the file larger. */
const MAX_BINS = 1000;

const HELP = `ckpt report — an HTML page of a model's sizes, weight histograms and quantization error

Usage: ckpt report IN -o report.html [--against QUANTIZED] [options]

Writes one self-contained HTML file (inline SVG and CSS; no scripts, no
network): a header with format, parameters and size; the largest tensors as
size bars; weight histograms of the whole model and of its largest tensors.
With --against, a quantized or compressed version of the same model (any
format; quantized safetensors with scale/zero-point companions are
dequantized), tensors matched by name: per-tensor SQNR bars and a table of
bits per weight, bytes before/after, RMSE, max abs error, SQNR and cosine.

Options:
  -o, --output PATH      where to write the HTML (required; written atomically)
  --against PATH         a quantized/compressed version of IN to compare with
  --max-tensors N        tensors drawn one by one in charts (default ${DEFAULT_MAX_TENSORS});
                         the rest are summarized, and all are listed at the end
  --bins N               histogram bins (default ${DEFAULT_BINS}, at most ${MAX_BINS})
  --json                 print a JSON summary (totals and per-tensor error) to stdout
  --quiet                print nothing on success, no progress bar

Example:
  ckpt report model.safetensors --against model-q8.safetensors -o report.html

Permissions: --allow-read (the inputs) --allow-write (the output's folder);
add --allow-net=HOST to read an input from an https:// URL.
Exit codes: 0 written, 2 bad input or usage (nothing is written).`;

/** The `ckpt report` command. */
export const reportCommand: Command = {
  name: "report",
  summary: "write an HTML report: sizes, weight histograms, quantization error",
  help: HELP,
  run,
};

interface ReportArgs {
  input: string;
  against?: string;
  output: string;
  maxTensors: number;
  bins: number;
  json: boolean;
  quiet: boolean;
}

function parse(args: string[]): ReportArgs {
  const { values, positionals } = parseCommandArgs(args, {
    output: { type: "string", short: "o" },
    against: { type: "string" },
    "max-tensors": { type: "string" },
    bins: { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
  });
  const [input] = expectPositionals(positionals, ["IN"]);
  const text = (name: string) => (typeof values[name] === "string" ? values[name] as string : undefined);
  const output = text("output");
  if (!output) throw new UsageError("Missing -o/--output: name the HTML file to write");
  return {
    input,
    against: text("against"),
    output,
    maxTensors: positiveInt("--max-tensors", text("max-tensors"), DEFAULT_MAX_TENSORS, 100_000),
    bins: positiveInt("--bins", text("bins"), DEFAULT_BINS, MAX_BINS),
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

function positiveInt(flag: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UsageError(`Invalid ${flag} '${text}': use a whole number from 1 to ${max}`);
  }
  return n;
}

async function run(args: string[]): Promise<number> {
  const options = parse(args);
  const input = await openTensorFile(options.input);
  let against: TensorFile | undefined;
  try {
    if (options.against !== undefined) against = await openTensorFile(options.against);
    const inputs = [options.input, ...(options.against !== undefined ? [options.against] : [])];
    // Open the sink before the long read, so a bad output path fails first.
    const sink = await fileSink(options.output, { protect: inputs.filter((p) => !/^https?:/i.test(p)) });
    const progressTotal = 2 * sumBytes(input.tensors) + (against ? sumBytes(against.tensors) : 0);
    // withSink renames the file into place on success and removes it on any error.
    const { data, html } = await withSink(sink, async (s) => {
      using progress = createProgress({ total: progressTotal, label: "report", quiet: options.quiet });
      const data = await collectReport(input, against, {
        inputName: options.input,
        againstName: options.against,
        bins: options.bins,
        maxTensors: options.maxTensors,
        onProgress: (bytes) => progress.advance(bytes),
      });
      const html = new TextEncoder().encode(renderReportHtml(data, { maxTensors: options.maxTensors }));
      await s.write(html);
      return { data, html };
    });
    if (options.json) {
      printJson(summary(data, options.output, html.length));
    } else if (!options.quiet) {
      const c = data.comparison;
      console.log(
        `Wrote ${options.output} (${formatBytes(html.length)}): ${data.input.tensorCount} tensors, ${
          formatCount(data.input.parameters)
        } parameters${
          c
            ? `; ${c.rows.length} compared, SQNR ${sqnrText(c.totals.sqnr)}, cosine ${
              // Six decimals would round a near miss up to a perfect 1.000000.
              c.totals.cosine < 1 ? Math.min(c.totals.cosine, 0.999999).toFixed(6) : "1"}`
            : ""
        }`,
      );
    }
    return EXIT.ok;
  } finally {
    await against?.close();
    await input.close();
  }
}

function sumBytes(tensors: readonly TensorEntry[]): number {
  return tensors.reduce((s, t) => s + t.byteLength, 0);
}

function summary(data: ReportData, output: string, htmlBytes: number): unknown {
  return {
    output,
    htmlBytes,
    input: data.input,
    modelHistogram: data.modelHistogram,
    histograms: data.histograms,
    comparison: data.comparison,
  };
}

function sqnrText(sqnr: number): string {
  if (Number.isFinite(sqnr)) return `${sqnr.toFixed(1)} dB`;
  return sqnr === Infinity ? "∞ (identical)" : "not measurable (NaN values)";
}
