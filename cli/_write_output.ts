/**
 * Write a command's tensor stream to OUT in the format its extension names:
 * through the format's path writer (shards, ONNX copies) or a staged file
 * sink. Every file the input was read from is protected from replacement.
 *
 * @module
 */

import { type ByteSink, fileSink, withSink } from "../lib/byte_sink.ts";
import { UsageError } from "../lib/errors.ts";
import type { TensorFormat, WriteOptions } from "../lib/format.ts";
import type { TensorFile, TensorStream } from "../lib/tensor.ts";

/** How {@linkcode writeOutput} writes. */
export interface WriteOutputOptions {
  /** The input's path, as given on the command line. */
  readonly input: string;
  /** The opened input, whose `paths` (an index's shards) are protected too. */
  readonly file: TensorFile;
  /** More writer options (`maxShardSize`, …). */
  readonly write?: Omit<WriteOptions, "input" | "protect">;
  /** Wrap the single-file sink, e.g. to watch its writes for a progress bar. */
  readonly wrapSink?: (sink: ByteSink) => ByteSink;
}

/** Write `stream` to `output` in `format`, never replacing a file the input came from. */
export async function writeOutput(
  format: TensorFormat,
  stream: TensorStream,
  output: string,
  options: WriteOutputOptions,
): Promise<void> {
  const protect = [options.input, ...(options.file.paths ?? [])];
  const writeOptions: WriteOptions = { ...options.write, input: options.input, protect };
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
