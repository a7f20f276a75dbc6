/**
 * `ckpt inspect`: list a tensor file's format, metadata and tensors.
 *
 * @module
 */

import { type Command, EXIT } from "./_command.ts";
import { type ColumnAlign, expectPositionals, formatTable, parseCommandArgs, printJson } from "./_output.ts";
import { elementCount } from "../lib/dtype.ts";
import type { TensorFile } from "../lib/tensor.ts";
import { formatBytes, formatCount } from "../lib/units.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { formatInspectSizeLines, inspectSizeFields } from "./_size_text.ts";
import { inspectHfRoute } from "./_hf_convert.ts";
import { ggufFileTypeName } from "../formats/gguf/file_type.ts";

/** One tensor in an {@linkcode InspectReport}. */
export interface InspectTensor {
  /** Tensor name. */
  name: string;
  /** Element type the values decode to: for block-encoded tensors (Q8_0, Q4_K, …) F32, not what is stored. */
  dtype: string;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Bytes the tensor takes in the file. */
  bytes: number;
  /** Block encoding (e.g. `Q4_0`), when the bytes are not plain `dtype` elements. */
  encoding?: string;
  /** A readable name for an object-based key (a TF2 checkpoint's variable name), when the file has one. */
  displayName?: string;
  /** GGUF only: the tensor's stored ggml type (`F32`, `F16`, `Q4_K`, …), block type or not. */
  type?: string;
}

/** What `ckpt inspect --json` prints. */
export interface InspectReport {
  /** Format name, e.g. `safetensors`. */
  format: string;
  /** The file's string metadata. */
  metadata: Record<string, string>;
  /** Every tensor, in the file's order. */
  tensors: InspectTensor[];
  /** Total number of elements. */
  parameters: number;
  /** Total bytes of tensor data. */
  tensorBytes: number;
  /** Size of the input (all shards for a sharded checkpoint), when known. */
  fileBytes: number | null;
  /** GGUF only: `general.file_type` and its llama-quantize name (`Q4_K_M`), when the file sets it. */
  fileType?: { id: number; name: string | null };
  /** Further fields added by later analyses. */
  [key: string]: unknown;
}

/**
 * Build the inspect report of an opened file (headers only; no tensor bytes are read).
 *
 * @example
 * ```ts ignore
 * import { inspectReport } from "./inspect.ts";
 * const report = inspectReport(await openTensorFile("model.safetensors"));
 * console.log(report.parameters);
 * ```
 */
export function inspectReport(file: TensorFile): InspectReport {
  let parameters = 0;
  let tensorBytes = 0;
  // Formats with object-based keys (TensorFlow 2) give them readable names.
  const displayNames = (file as { displayNames?: Readonly<Record<string, string>> }).displayNames ?? {};
  const tensors = file.tensors.map((entry): InspectTensor => {
    parameters += elementCount(entry.shape);
    tensorBytes += entry.byteLength;
    const row: InspectTensor = {
      name: entry.name,
      dtype: entry.dtype,
      shape: [...entry.shape],
      bytes: entry.byteLength,
    };
    if (entry.encoding !== undefined) row.encoding = entry.encoding;
    if (Object.hasOwn(displayNames, entry.name)) row.displayName = displayNames[entry.name];
    if (file.format === "gguf") row.type = entry.encoding ?? entry.dtype;
    return row;
  });
  const fileTypeId = file.format === "gguf" ? Number(file.metadata["general.file_type"]) : NaN;
  return {
    format: file.format,
    metadata: { ...file.metadata },
    tensors,
    parameters,
    tensorBytes,
    fileBytes: file.fileBytes ?? null,
    ...inspectSizeFields(file.tensors, file.fileBytes),
    ...(Number.isSafeInteger(fileTypeId)
      ? { fileType: { id: fileTypeId, name: ggufFileTypeName(fileTypeId) ?? null } }
      : {}),
  };
}

/**
 * Render an inspect report as the text `ckpt inspect` prints.
 *
 * @example
 * ```ts ignore
 * import { formatInspectReport, inspectReport } from "./inspect.ts";
 * console.log(formatInspectReport("model.safetensors", inspectReport(file)));
 * ```
 */
export function formatInspectReport(input: string, report: InspectReport): string {
  const lines: string[] = [];
  const dtypes = new Map<string, number>();
  for (const t of report.tensors) {
    const key = t.encoding ?? t.dtype;
    dtypes.set(key, (dtypes.get(key) ?? 0) + 1);
  }
  lines.push(`${input}`);
  lines.push(
    formatTable([
      ["format", report.format],
      [
        "tensors",
        `${report.tensors.length} (${[...dtypes].map(([d, n]) => `${n} ${d}`).join(", ") || "none"})`,
      ],
      ...(report.fileType
        ? [["file type", `${report.fileType.name ?? "unknown"} (general.file_type ${report.fileType.id})`]]
        : []),
      ["parameters", `${formatCount(report.parameters)} (${report.parameters})`],
      ["tensor bytes", `${formatBytes(report.tensorBytes)} (${report.tensorBytes})`],
      ...(report.fileBytes === null
        ? []
        : [["file bytes", `${formatBytes(report.fileBytes)} (${report.fileBytes})`]]),
    ], { indent: "  " }),
  );
  lines.push(...formatInspectSizeLines(report));
  const meta = Object.entries(report.metadata);
  lines.push("", meta.length ? "metadata" : "metadata: none");
  if (meta.length) lines.push(formatTable(meta.map(([k, v]) => [k, oneLine(v)]), { indent: "  " }));
  if (report.tensors.length) {
    lines.push("");
    // GGUF lists the stored type of every tensor; other formats the dtype (and any block encoding).
    const stored = report.tensors.every((t) => t.type !== undefined);
    const hasEncoding = !stored && report.tensors.some((t) => t.encoding !== undefined);
    const hasDisplay = report.tensors.some((t) => t.displayName !== undefined);
    const header = [
      "name",
      ...(hasDisplay ? ["variable"] : []),
      stored ? "type" : "dtype",
      ...(hasEncoding ? ["encoding"] : []),
      "shape",
      "bytes",
    ];
    const align: ColumnAlign[] = [
      "left",
      ...(hasDisplay ? ["left" as const] : []),
      "left",
      ...(hasEncoding ? ["left" as const] : []),
      "left",
      "right",
    ];
    lines.push(formatTable(
      report.tensors.map((t) => [
        t.name,
        ...(hasDisplay ? [t.displayName ?? ""] : []),
        stored ? t.type! : t.dtype,
        ...(hasEncoding ? [t.encoding ?? ""] : []),
        `[${t.shape.join(", ")}]`,
        formatBytes(t.bytes),
      ]),
      { header, align },
    ));
  }
  return lines.join("\n");
}

function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** `ckpt inspect FILE|URL [--json]`. */
export const inspectCommand: Command = {
  name: "inspect",
  summary: "list a tensor file's format, metadata and tensors",
  help: `ckpt inspect — list a tensor file's format, metadata and tensors

Usage: ckpt inspect FILE|URL|FOLDER [--json]

Reads only headers: tensor bytes are never loaded. The format is detected
from the file's first bytes. A sharded safetensors checkpoint is inspected
through its .safetensors.index.json. An http(s) URL is read with Range
requests, so only the header is downloaded. A Hugging Face model folder
shows its architecture, GGUF hyperparameters, parameter count and tokenizer.

Options:
  --json     print one JSON object: {format, metadata, tensors: [{name, dtype,
             shape, bytes}], parameters, tensorBytes, fileBytes}. dtype is
             the type values decode to; a block-quantized tensor (Q8_0, Q4_K,
             …) has dtype F32 and its block type in "encoding". GGUF tensors
             also have "type", the stored ggml type (F32, F16, Q4_K, …), and
             the report has "fileType": {id, name} from general.file_type
             (15 = Q4_K_M)
  -h, --help show this help

Example:
  ckpt inspect model.safetensors
  ckpt inspect https://huggingface.co/org/model/resolve/main/model.safetensors --json

Permissions: --allow-read for files; --allow-net for URLs.`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } });
    const [input] = expectPositionals(positionals, ["FILE"]);
    const hf = await inspectHfRoute(input, values.json === true);
    if (hf !== undefined) return hf;
    const file = await openTensorFile(input);
    try {
      const report = inspectReport(file);
      if (values.json) printJson(report);
      else console.log(formatInspectReport(input, report));
    } finally {
      await file.close();
    }
    return EXIT.ok;
  },
};
