/**
 * The one shape every format decodes to and every encoder takes: a tensor file
 * with string metadata and lazy tensor entries.
 *
 * @module
 */

import type { ByteSource } from "./byte_source.ts";
import type { DType } from "./dtype.ts";

/**
 * Where a tensor's bytes lie, exactly as `read()` returns them, inside a
 * byte source. Writers that copy a tensor unchanged stream it from there in
 * chunks instead of holding it whole; transforms that pass bytes through
 * unchanged (`rename`, `include`, `exclude`) keep it, and any transform
 * that changes the bytes leaves it out.
 */
export interface TensorLocation {
  /** The source holding the bytes. */
  readonly source: ByteSource;
  /** Offset of the first byte in the source. */
  readonly offset: number;
}

/**
 * One tensor, described up front and read on demand. `read()` returns the
 * tensor's bytes in row-major (C) order, little-endian, packed as its dtype.
 *
 * @example A tensor held in memory
 * ```ts
 * import type { TensorEntry } from "./tensor.ts";
 * const bytes = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
 * const entry: TensorEntry = {
 *   name: "bias", dtype: "F32", shape: [3], byteLength: 12,
 *   read: () => Promise.resolve(bytes),
 * };
 * console.log((await entry.read()).length);
 * ```
 */
export interface TensorEntry {
  /** Tensor name, e.g. `model.layers.0.mlp.up_proj.weight`. */
  readonly name: string;
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions, outermost first. `[]` is a 0-d (scalar) tensor. */
  readonly shape: readonly number[];
  /**
   * Set when the bytes are in a block encoding rather than plain `dtype`
   * elements: a ggml type name such as `Q4_0` or `Q6_K`. Then `shape` is the
   * logical shape and `dtype` the element type the blocks decode to (F32).
   * Writers that cannot store the encoding dequantize or refuse.
   */
  readonly encoding?: string;
  /** Exact byte length of what `read()` returns. */
  readonly byteLength: number;
  /** Where the bytes lie unchanged in a source, when they do. @default undefined */
  readonly location?: TensorLocation;
  /**
   * Read the tensor's bytes. When `out` is given (at least `byteLength` long)
   * the bytes are written into it and a view of it is returned, so a caller
   * can reuse one buffer across tensors.
   */
  read(out?: Uint8Array): Promise<Uint8Array>;
}

/**
 * A stream of tensors with the file-level metadata that travels with them.
 * A {@linkcode TensorFile} is one; pipeline transforms take and return one.
 * Transforms may add metadata while their tensors are iterated, so metadata
 * is final once `tensors` has been iterated.
 */
export interface TensorStream {
  /** String key/value metadata (safetensors `__metadata__`, GGUF keys, …). */
  readonly metadata: Record<string, string>;
  /** The tensors, in order. */
  readonly tensors: AsyncIterable<TensorEntry> | Iterable<TensorEntry>;
}

/**
 * A decoded tensor file: its format, its metadata and its tensors. Only
 * headers have been read; tensor bytes are read when asked for.
 */
export interface TensorFile extends TensorStream {
  /** Format name, e.g. `safetensors`, `torch`, `gguf`. */
  readonly format: string;
  /** The tensors, in the file's order. */
  readonly tensors: TensorEntry[];
  /** Size of the whole input in bytes, when known. */
  readonly fileBytes?: number;
  /**
   * Every file the tensors are read from, when that is more than the one
   * opened (a sharded index and its shards). Writers must not replace them.
   */
  readonly paths?: readonly string[];
  /** Release the underlying source (file handles). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Make an in-memory tensor entry from bytes.
 *
 * @example
 * ```ts
 * import { tensorFromBytes } from "./tensor.ts";
 * const t = tensorFromBytes("w", "F32", [2], new Uint8Array(8));
 * console.log(t.byteLength); // 8
 * ```
 */
export function tensorFromBytes(
  name: string,
  dtype: DType,
  shape: readonly number[],
  bytes: Uint8Array,
): TensorEntry {
  return {
    name,
    dtype,
    shape: [...shape],
    byteLength: bytes.byteLength,
    read(out?: Uint8Array): Promise<Uint8Array> {
      if (!out) return Promise.resolve(bytes);
      const view = out.subarray(0, bytes.byteLength);
      view.set(bytes);
      return Promise.resolve(view);
    },
  };
}

/**
 * Collect a stream's tensors into an array (headers only: no bytes are read).
 *
 * @example
 * ```ts
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const list = await collectTensors({ metadata: {}, tensors: [tensorFromBytes("a", "U8", [1], new Uint8Array(1))] });
 * console.log(list.length); // 1
 * ```
 */
export async function collectTensors(stream: TensorStream): Promise<TensorEntry[]> {
  const out: TensorEntry[] = [];
  for await (const entry of stream.tensors) out.push(entry);
  return out;
}
