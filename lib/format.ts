/**
 * The descriptor every shipped format provides, so tools can open a file by
 * its bytes and pick a writer by the output's extension.
 *
 * @module
 */

import type { ByteSink } from "./byte_sink.ts";
import type { ByteSource } from "./byte_source.ts";
import type { TensorFile, TensorStream } from "./tensor.ts";

/** Options every opener accepts; formats add their own fields. */
export interface OpenOptions {
  /** Accept pickle globals outside the allowlist as inert placeholders. @default false */
  permissive?: boolean;
  /** Extra `module.name` globals to allow in pickles. @default [] */
  allowGlobals?: readonly string[];
  /** Largest header to accept, in bytes. @default the format's own limit */
  maxHeaderBytes?: number;
  /**
   * For formats where several names can share one storage (PyTorch): keep
   * one name per shared storage view and record each dropped alias in the
   * metadata as `{removed: kept}`, as Hugging Face's converter does. Off,
   * every name is listed with its own bytes. @default false
   */
  dedupeShared?: boolean;
}

/** Options every writer accepts; formats add their own fields. */
export interface WriteOptions {
  /**
   * Path of the file the stream came from, when there is one. Writers that
   * rewrite a copy of their input (ONNX keeps the graph and swaps
   * initializers) read it; the CLI always passes it.
   */
  input?: string;
  /** More files the writer must not replace (the shards of a sharded input, {@linkcode TensorFile.paths}). */
  protect?: readonly string[];
  /** Format-specific settings, passed through from the CLI. */
  [key: string]: unknown;
}

/** A format: how to recognise it, open it and (optionally) write it. */
export interface TensorFormat {
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
  openPath?(path: string, options?: OpenOptions): Promise<TensorFile>;
  /** True when this format wants `openPath` for this path (e.g. `*.index.json`). */
  claimsPath?(path: string): boolean;
  /** Decode headers from a source; tensors stay lazy. */
  open(source: ByteSource, options?: OpenOptions): Promise<TensorFile>;
  /** Encode a stream to a sink. Absent for read-only formats. */
  write?(stream: TensorStream, sink: ByteSink, options?: WriteOptions): Promise<void>;
  /**
   * Write to a path, for outputs that are several files (shards) or that
   * need other files (an ONNX model to copy). Preferred over `write` when
   * present. Must leave nothing behind on failure.
   */
  writePath?(stream: TensorStream, path: string, options?: WriteOptions): Promise<void>;
}
