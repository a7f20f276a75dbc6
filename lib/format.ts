/**
 * The descriptor every shipped format provides, so tools can open a file by
 * its bytes and pick a writer by the output's extension.
 *
 * @module
 */

import type { ByteSink } from "./byte_sink.ts";
import type { ByteSource } from "./byte_source.ts";
import type { TensorFile, TensorStream } from "./tensor.ts";

/** Options every opener accepts; each format's own options extend these. */
export interface OpenOptions {
  /** Largest header to accept, in bytes. @default the format's own limit */
  maxHeaderBytes?: number;
}

/** Options every writer accepts; each format's own options extend these. */
export interface WriteOptions {
  /**
   * Path of the file the stream came from, when there is one. Writers that
   * rewrite a copy of their input (ONNX keeps the graph and swaps
   * initializers) read it; the CLI always passes it.
   */
  input?: string;
  /** More files the writer must not replace (the shards of a sharded input, {@linkcode TensorFile.paths}). */
  protect?: readonly string[];
  /**
   * Largest shard in tensor bytes, for formats that write shards (an index
   * and several files); a format that cannot is a `UsageError` when asked to.
   * @default one file
   */
  maxShardSize?: number;
}

/**
 * A format: how to recognise it, open it and (optionally) write it, with its
 * own typed open and write options.
 */
export interface TensorFormat<
  Open extends OpenOptions = OpenOptions,
  Write extends WriteOptions = WriteOptions,
> {
  /** Short name, e.g. `safetensors`. */
  readonly name: string;
  /** File extensions (with the dot) written in this format, e.g. `[".safetensors"]`. */
  readonly extensions: readonly string[];
  /** True when the first bytes of a file (up to 64 KiB, fewer if the file is shorter) look like this format. */
  sniff(head: Uint8Array, size: number): boolean;
  /**
   * Open a local path directly, for formats that span several files (a
   * sharded safetensors index, ONNX with external data). Preferred over
   * `open` when present and the input is a path.
   */
  openPath?(path: string, options?: Open): Promise<TensorFile>;
  /** True when this format wants `openPath` for this path (e.g. `*.index.json`). */
  claimsPath?(path: string): boolean;
  /** Decode headers from a source; tensors stay lazy. */
  open(source: ByteSource, options?: Open): Promise<TensorFile>;
  /** Encode a stream to a sink. Absent for read-only formats. */
  write?(stream: TensorStream, sink: ByteSink, options?: Write): Promise<void>;
  /**
   * Write to a path, for outputs that are several files (shards) or that
   * need other files (an ONNX model to copy). Preferred over `write` when
   * present. Must leave nothing behind on failure.
   */
  writePath?(stream: TensorStream, path: string, options?: Write): Promise<void>;
}
