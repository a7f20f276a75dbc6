/**
 * Write a tensor stream to a path in the format its extension names:
 * through the format's path writer (shards, ONNX copies) or a file sink that
 * appears under its name only when complete. Every file the input was read
 * from is protected from replacement.
 *
 * @module
 */

import { type ByteSink, fileSink, withSink } from "../lib/byte_sink.ts";
import { UsageError } from "../lib/errors.ts";
import type { TensorFormat, WriteOptions } from "../lib/format.ts";
import type { TensorFile, TensorStream } from "../lib/tensor.ts";
import { formatForPath } from "./registry.ts";

/** How {@linkcode writeTensorFile} writes. */
export interface WriteTensorFileOptions {
  /** The input's path, when the stream came from a file: never replaced, and read by writers that copy it (ONNX). @default none */
  readonly input?: string;
  /** The opened input, whose `paths` (an index's shards) are protected too. @default none */
  readonly file?: TensorFile;
  /** The format to write. @default the one `output`'s extension names */
  readonly format?: TensorFormat;
  /** More writer options (`maxShardSize`, …). @default {} */
  readonly write?: Omit<WriteOptions, "input" | "protect">;
  /** Wrap the single-file sink, e.g. to watch its writes for a progress bar. @default none */
  readonly wrapSink?: (sink: ByteSink) => ByteSink;
}

/**
 * Write `stream` to `output` in the format its extension names (or
 * `options.format`), never replacing a file the input came from; nothing
 * appears under the output's name unless the whole write succeeds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeTensorFile } from "./write_tensor_file.ts";
 * import { openTensorFile } from "./open_tensor_file.ts";
 * import { tensorFromBytes } from "../lib/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * await writeTensorFile({ metadata: {}, tensors: [tensorFromBytes("w", "F32", [2], new Uint8Array(8))] }, `${dir}/w.safetensors`);
 * await using file = await openTensorFile(`${dir}/w.safetensors`);
 * assert.deepEqual(file.tensors.map((t) => [t.name, t.dtype, t.shape]), [["w", "F32", [2]]]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeTensorFile(
  stream: TensorStream,
  output: string,
  options: WriteTensorFileOptions = {},
): Promise<void> {
  const format = options.format ?? formatForPath(output);
  const protect = [...(options.input !== undefined ? [options.input] : []), ...(options.file?.paths ?? [])];
  const writeOptions: WriteOptions = {
    ...options.write,
    ...(options.input !== undefined ? { input: options.input } : {}),
    protect,
  };
  const write = format.write;
  if (format.writePath) {
    await format.writePath(stream, output, writeOptions);
  } else if (write) {
    const sink = await fileSink(output, { protect });
    await withSink(options.wrapSink ? options.wrapSink(sink) : sink, (s) => write(stream, s, writeOptions));
  } else {
    throw new UsageError(`Cannot write ${format.name} files`);
  }
}
