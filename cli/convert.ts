/**
 * `ckpt convert`: rewrite a tensor file in another format, dtype or
 * selection, streaming one tensor at a time.
 *
 * @module
 */

import { type Command, EXIT } from "./_command.ts";
import { expectPositionals, parseCommandArgs } from "./_output.ts";
import type { ByteSink } from "../lib/byte_sink.ts";
import { writeTensorFile } from "../formats/write_tensor_file.ts";
import { type ConvertSpec, transformsFromSpec } from "../lib/convert_spec.ts";
import { UsageError } from "../lib/errors.ts";
import type { WriteOptions } from "../lib/format.ts";
import { pipe } from "../lib/pipeline.ts";
import { derivedStream } from "../lib/tensor.ts";
import { formatBytes, parseSize } from "../lib/units.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { formatForPath } from "../formats/registry.ts";
import { resolvePath } from "../lib/paths.ts";
import { createProgress, trackProgress } from "./_progress.ts";
import { hasQuantizedTensors } from "../lib/quant/mod.ts";
import { convertShardsCommand } from "./_shards_command.ts";
import { convertHfRoute, HF_CONVERT_HELP, HF_CONVERT_OPTIONS } from "./_hf_convert.ts";

function watchSink(sink: ByteSink, onWrite: (bytes: number) => void): ByteSink {
  return {
    get position() {
      return sink.position;
    },
    async write(chunk: Uint8Array): Promise<void> {
      await sink.write(chunk);
      onWrite(chunk.length);
    },
    close: () => sink.close(),
    abort: () => sink.abort(),
  };
}

/** `ckpt convert IN OUT [options]`. */
export const convertCommand: Command = {
  name: "convert",
  summary: "convert a tensor file to another format, dtype or selection",
  help: `ckpt convert — convert a tensor file to another format, dtype or selection

Usage: ckpt convert IN OUT [options]

The input format is detected from its bytes; the output format from OUT's
extension (.safetensors, or .safetensors.index.json for shards). A Hugging
Face model folder (or a .safetensors/index file with a config.json beside it)
to .gguf becomes a model llama.cpp runs (--dtype F32, F16 (default), BF16 or
Q8_0; --max-shard-size writes gguf-split files); a .gguf to a folder (OUT/)
becomes a Hugging Face folder. Tensors are streamed one at a time; OUT
appears only once it is complete, and is never the input.

Options:
  --dtype D            cast floating-point tensors to D (F16, BF16, F32, F64, F8_*);
                       integer and bool tensors are kept as they are
  --include RE         keep only tensors whose name matches the regular expression
  --exclude RE         drop tensors whose name matches (applied after --include)
  --max-shard-size S   write shards of at most S bytes (e.g. 5GB, 500MiB) and an index
  --permissive         read pickles that reference unknown globals as placeholders
  --dedupe-shared      store tensors that share storage once
  --jobs N             sharded input (.safetensors.index.json) to sharded output:
                       convert the shards in parallel Workers, N at a time
                       (auto: one per core); one output shard per input shard
${HF_CONVERT_HELP}
  -q, --quiet          no progress bar and no summary line
  -h, --help           show this help

Example:
  ckpt convert model.safetensors model-bf16.safetensors --dtype BF16 --exclude '^optimizer\\.'
  ckpt convert Llama-3.2-1B/ llama.gguf --dtype Q8_0

Permissions: --allow-read (input) and --allow-write (output folder).`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, {
      dtype: { type: "string" },
      include: { type: "string" },
      exclude: { type: "string" },
      "max-shard-size": { type: "string" },
      permissive: { type: "boolean" },
      "dedupe-shared": { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
      jobs: { type: "string" },
      ...HF_CONVERT_OPTIONS,
    });
    const [input, output] = expectPositionals(positionals, ["IN", "OUT"]);
    if (input === output || (await resolvePath(input)) === (await resolvePath(output))) {
      throw new UsageError(`Refusing to write ${output}: it is also the input; choose another output path`);
    }
    const hf = await convertHfRoute(input, output, values);
    if (hf !== undefined) return hf;
    const text = (value: unknown) => (typeof value === "string" ? value : undefined);
    const spec: ConvertSpec = {
      include: text(values.include),
      exclude: text(values.exclude),
      dtype: text(values.dtype),
    };
    transformsFromSpec(spec); // refuse bad settings before opening anything
    // Shard-parallel mode (formats/convert_shards.ts): each shard converted in a Worker.
    if (typeof values.jobs === "string") {
      return await convertShardsCommand(input, output, values, spec);
    }
    const format = formatForPath(output);
    const options: WriteOptions = {};
    if (typeof values["max-shard-size"] === "string") {
      if (!format.writePath) throw new UsageError(`The ${format.name} writer cannot write shards`);
      options.maxShardSize = parseSize(values["max-shard-size"]);
    }

    const started = performance.now();
    const file = await openTensorFile(input, {
      torch: { permissive: values.permissive === true, dedupeShared: values["dedupe-shared"] === true },
    });
    const placeholders = (file as { placeholders?: readonly string[] }).placeholders ?? [];
    if (placeholders.length > 0) {
      console.error(`ckpt convert: read as inert placeholders (never run): ${placeholders.join(", ")}`);
    }
    let written = 0;
    let count = 0;
    try {
      // Quantized input is dequantized before the other stages when --dtype asks
      // for it, when ggml blocks go to a format other than GGUF, or when recorded
      // codes go to a format without metadata to keep their record (safetensors
      // and GGUF keep them quantized).
      const blocks = file.tensors.some((t) => t.encoding !== undefined);
      const keeps = format.name === "gguf" || (format.name === "safetensors" && !blocks);
      const dequantizeFirst = hasQuantizedTensors(file) && (typeof values.dtype === "string" || !keeps);
      const transforms = transformsFromSpec({ ...spec, dequantize: dequantizeFirst });
      // Drawn on stderr only when it is a terminal and the job is large.
      const inputBytes = file.tensors.reduce((sum, t) => sum + t.byteLength, 0);
      using progress = createProgress({
        total: inputBytes,
        label: "converting",
        quiet: values.quiet === true,
      });
      // Multi-file writers get no sink to watch, so their entries are tracked;
      // a single-file sink is watched instead, which keeps unchanged tensors
      // on the writer's chunked-copy path.
      const tracked = format.writePath ? [trackProgress(progress)] : [];
      const stream = pipe(file, ...tracked, ...transforms, (s) =>
        derivedStream(s, {
          async *entries() {
            for await (const entry of s.tensors) {
              written += entry.byteLength;
              count++;
              yield entry;
            }
          },
        }));
      await writeTensorFile(stream, output, {
        format,
        input,
        file,
        write: options,
        wrapSink: (sink) =>
          watchSink(sink, (bytes) =>
            // The bar counts input bytes; writers collect every entry (so
            // `written` is final) before their first body write.
            progress.advance(written > 0 ? bytes * inputBytes / written : bytes)),
      });
    } finally {
      await file.close();
    }
    const seconds = (performance.now() - started) / 1000;
    if (!values.quiet) {
      console.log(
        `${output}: ${count} tensors, ${formatBytes(written)} of tensor data written in ${
          seconds.toFixed(2)
        } s`,
      );
    }
    return EXIT.ok;
  },
};
