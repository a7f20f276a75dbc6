// `ckpt quantize MODEL.gguf OUT.gguf --scheme Q4_K_M [--pure]`: the
// llama-quantize file types. Argument checks and printing only; the engine is
// formats/gguf/quantize_gguf.ts.

import { quietDisplayProbe } from "./_display_probe.ts";
import { EXIT } from "./_command.ts";
import { formatTable, type ParsedArgs, printJson } from "./_output.ts";
import { createProgress } from "./_progress.ts";
import { writeTensorFile } from "../formats/write_tensor_file.ts";
import { parseJobs } from "./_shards_command.ts";
import { UsageError } from "../lib/errors.ts";
import { formatBytes } from "../lib/units.ts";
import { cpuWorkers, isSchemeName, resolveDevice } from "../lib/quant/mod.ts";
import { GGUF_FILE_TYPES } from "../formats/gguf/file_type.ts";
import { quantizeGguf } from "../formats/gguf/quantize_gguf.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { ggufModelStream } from "../formats/gguf/gguf_model_stream.ts";
import { hfToGguf } from "../formats/hf/hf_to_gguf.ts";
import { hfFolderOf, openHfModel } from "../formats/hf/open_hf_model.ts";
import type { TensorEntry, TensorFile, TensorStream } from "../lib/tensor.ts";
import { formatForPath } from "../formats/registry.ts";

/** Options that mean nothing to a file type, refused rather than ignored. */
const SCHEME_ONLY = [
  "per-channel",
  "axis",
  "affine",
  "reduce-range",
  "saturate",
  "double-quant",
  "all",
  "include",
  "exclude",
  "report",
];

/**
 * Run the file-type route when `--scheme` names a llama-quantize file type
 * and the output is GGUF; resolve to undefined when the plain scheme route
 * applies instead (a name that is both, e.g. Q8_0, from a non-model input).
 */
export async function quantizeFileType(
  input: string,
  output: string,
  values: ParsedArgs["values"],
): Promise<number | undefined> {
  const name = values.scheme as string;
  const pure = values.pure === true;
  const isFileType = Object.hasOwn(GGUF_FILE_TYPES, name);
  const isScheme = isSchemeName(name);
  if (!isFileType) {
    if (pure) throw new UsageError(`--pure applies to GGUF file types (Q4_K_M, …), not to scheme ${name}`);
    return undefined;
  }
  if (formatForPath(output).name !== "gguf") {
    if (isScheme && !pure) return undefined;
    throw new UsageError(`File type ${name} writes a GGUF model; use a .gguf output (got ${output})`);
  }
  // A Hugging Face model folder is converted to its F32 GGUF model on the fly (what
  // llama.cpp's route writes to disk first) and quantized in the same pass.
  const folder = await hfFolderOf(input);
  let source: TensorStream | undefined;
  let file: TensorFile;
  if (folder !== undefined) {
    const model = await openHfModel((await Deno.stat(input)).isDirectory ? folder : input);
    const gguf = hfToGguf(model, {
      dtype: "F32",
      noVocab: values["no-vocab"] === true,
      pre: typeof values.pre === "string" ? values.pre : undefined,
    });
    source = ggufModelStream(gguf.kv, gguf.tensors);
    file = model;
  } else {
    file = await openTensorFile(input);
  }
  const isModel = source !== undefined ||
    (file.format === "gguf" && file.metadata["general.architecture"] !== undefined);
  if (!isModel) {
    await file.close();
    if (isScheme && !pure) return undefined;
    throw new UsageError(
      `File type ${name} needs a GGUF model input (one with general.architecture); ${input} is ${file.format}`,
    );
  }
  try {
    const used = SCHEME_ONLY.filter((option) => values[option] !== undefined);
    if (used.length) {
      throw new UsageError(`--${used.join(", --")} cannot be used with file type ${name}`);
    }
    // The CPU unless asked: the kernels give the same bytes, and a software adapter is slower than the CPU.
    if (values.device === "gpu") quietDisplayProbe();
    // Otherwise the tensors are spread over --jobs CPU Workers (one per core by default): the same bytes.
    const gpu = values.device === "gpu" ? (await resolveDevice("gpu")).backend : undefined;
    // From a model folder the main thread also converts every tensor, and each Worker
    // adds its isolate and the tensors in flight: on a 400 MB Llama (2 cores), Q4_K_M
    // takes 5.0 s and 190 MiB with one job, 3.5 s and 253–272 MiB with two; Q8_0 0.9 s
    // with one and 1.25 s with two. One job keeps the peak near the writer's own
    // unless --jobs asks for more.
    const jobs = parseJobs(typeof values.jobs === "string" ? values.jobs : source ? "1" : undefined);
    const pool = !gpu && jobs > 1 ? cpuWorkers(jobs) : undefined;
    const device = gpu ?? pool;
    const on = gpu ? `gpu (${gpu.name})` : pool ? `cpu (${pool.workers} workers)` : "cpu";
    const started = performance.now();
    const inputs = source ? source.tensors as TensorEntry[] : file.tensors;
    const sizes = new Map(inputs.map((t) => [t.name, t.byteLength]));
    const progress = createProgress({
      total: inputs.reduce((sum, t) => sum + t.byteLength, 0),
      label: "quantizing",
      quiet: values.quiet === true,
    });
    const stream = await quantizeGguf(source ?? file, name, {
      pure,
      device,
      prefetch: pool ? pool.workers - 1 : 0,
      onTensor: (choice) => progress.advance(sizes.get(choice.name) ?? 0),
    });
    try {
      await writeTensorFile(stream, output, { input, file });
    } finally {
      progress.done();
      pool?.close();
    }
    const tensors = stream.plan.tensors.map((choice, i) => ({
      name: choice.name,
      from: choice.from,
      type: choice.type,
      ...(choice.fallback ? { fallback: true } : {}),
      shape: stream.tensors[i].shape,
      bytesBefore: sizes.get(choice.name) ?? 0,
      bytesAfter: stream.tensors[i].byteLength,
    }));
    const totals = {
      tensors: tensors.length,
      converted: stream.plan.tensors.filter((c) => c.convert).length,
      bytesBefore: tensors.reduce((s, t) => s + t.bytesBefore, 0),
      bytesAfter: tensors.reduce((s, t) => s + t.bytesAfter, 0),
    };
    const seconds = Number(((performance.now() - started) / 1000).toFixed(3));
    const fileType = stream.plan.fileType;
    if (values.json) {
      printJson({
        input,
        output,
        fileType: fileType.name,
        fileTypeId: fileType.id,
        pure,
        device: on,
        seconds,
        totals,
        tensors,
      });
      return EXIT.ok;
    }
    if (values.quiet === true) return EXIT.ok;
    if (values.verbose === true) {
      const rows = tensors.map((t) => [
        t.name,
        t.from === t.type ? `${t.type} (kept)` : `${t.from} → ${t.type}${t.fallback ? " (fallback)" : ""}`,
        formatBytes(t.bytesBefore),
        formatBytes(t.bytesAfter),
      ]);
      rows.push([
        `total (${totals.converted} of ${totals.tensors} converted)`,
        "",
        formatBytes(totals.bytesBefore),
        formatBytes(totals.bytesAfter),
      ]);
      console.log(formatTable(rows, {
        header: ["tensor", "type", "before", "after"],
        align: ["left", "left", "right", "right"],
      }));
    } else {
      console.log(fileTypeSummary(tensors, totals));
    }
    console.log(
      `${output}: ${fileType.name} (general.file_type ${fileType.id}) written in ${
        seconds.toFixed(2)
      } s on the ${on}`,
    );
    return EXIT.ok;
  } finally {
    await file.close();
  }
}

/** Totals, the tensors of each type written, and the fallbacks; `--verbose` lists every tensor. */
function fileTypeSummary(
  tensors: readonly {
    from: string;
    type: string;
    fallback?: boolean;
    bytesBefore: number;
    bytesAfter: number;
  }[],
  totals: { tensors: number; converted: number; bytesBefore: number; bytesAfter: number },
): string {
  const ratio = totals.bytesBefore > 0 ? (100 * totals.bytesAfter / totals.bytesBefore).toFixed(1) : "100.0";
  const lines = [
    `${totals.converted} of ${totals.tensors} tensors converted: ${formatBytes(totals.bytesBefore)} → ${
      formatBytes(totals.bytesAfter)
    } of tensor data (${ratio}%)`,
  ];
  const byType = new Map<string, { count: number; bytes: number }>();
  for (const t of tensors) {
    const key = t.from === t.type ? `${t.type} (kept)` : t.type;
    const k = byType.get(key) ?? { count: 0, bytes: 0 };
    k.count++;
    k.bytes += t.bytesAfter;
    byType.set(key, k);
  }
  const rows = [...byType].sort((a, b) => b[1].bytes - a[1].bytes).map(([type, k]) => [
    `  ${type}`,
    `${k.count} ${k.count === 1 ? "tensor" : "tensors"}`,
    formatBytes(k.bytes),
  ]);
  lines.push(formatTable(rows, { align: ["left", "right", "right"] }));
  const fallbacks = tensors.filter((t) => t.fallback).length;
  if (fallbacks > 0) {
    lines.push(
      `${fallbacks} ${
        fallbacks === 1 ? "tensor takes" : "tensors take"
      } a fallback type (rows not whole blocks)`,
    );
  }
  lines.push("(--verbose lists every tensor)");
  return lines.join("\n");
}
