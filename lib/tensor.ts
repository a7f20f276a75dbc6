/**
 * The one shape every format decodes to and every encoder takes: a tensor file
 * with string metadata and lazy tensor entries.
 *
 * @module
 */

import type { ByteSource } from "./byte_source.ts";
import { byteLengthOf, type DType } from "./dtype.ts";
import { UsageError } from "./errors.ts";

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
 * import assert from "node:assert/strict";
 * import type { TensorEntry } from "./tensor.ts";
 * const bytes = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
 * const entry: TensorEntry = {
 *   name: "bias", dtype: "F32", shape: [3], byteLength: 12,
 *   read: () => Promise.resolve(bytes),
 * };
 * assert.equal((await entry.read()).length, 12);
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
  /**
   * Where the bytes lie unchanged in a source, when they do, for writers that
   * copy them in chunks. Openers set it with `locatedEntry`, as a
   * non-enumerable property: a copy made by spreading the entry does not
   * inherit it. @default undefined
   */
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
 * A {@linkcode TensorFile} is one; pipeline transforms take and return one,
 * and never change the stream they were given.
 *
 * Metadata comes in two parts, both explicit: `metadata`, known before any
 * tensor is seen, and `metadataAfter`, present when a transform adds keys
 * as it sees each tensor (quantize records how each tensor was quantized).
 * Writers read the final metadata with {@linkcode collectStream} or
 * {@linkcode finalMetadata} once they have iterated the tensors.
 */
export interface TensorStream {
  /** String key/value metadata known up front (safetensors `__metadata__`, GGUF keys, …). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensors, in order. */
  readonly tensors: AsyncIterable<TensorEntry> | Iterable<TensorEntry>;
  /**
   * The complete metadata, valid once `tensors` has been iterated to the
   * end; absent when `metadata` is already complete. @default undefined
   */
  readonly metadataAfter?: () => Readonly<Record<string, string>>;
  /**
   * Whether `tensors` may be iterated more than once. Arrays always may;
   * a transform's output may when its input may. Iterating a stream that
   * may not a second time is a `UsageError`, never a silently empty list.
   * @default true when `tensors` is an array, else false
   */
  readonly reiterable?: boolean;
}

/** A stream's tensors and its complete metadata, as {@linkcode collectStream} returns them. */
export interface CollectedStream {
  /** The complete metadata. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor entry (headers only: no bytes are read). */
  readonly tensors: TensorEntry[];
}

/**
 * A decoded tensor file: its format, its metadata and its tensors. Only
 * headers have been read; tensor bytes are read when asked for. Release it
 * with `close()`, or open it with `await using`.
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
  /** The same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** What {@linkcode tensorFile} assembles into a {@linkcode TensorFile}. */
export type TensorFileParts = Omit<TensorFile, typeof Symbol.asyncDispose | "close" | "metadataAfter"> & {
  /** Release the underlying source. @default nothing to release */
  close?: () => Promise<void>;
};

/**
 * Assemble a {@linkcode TensorFile}: `close()` runs at most once, and
 * `await using` calls it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensorFile, tensorFromBytes } from "./tensor.ts";
 * let closed = 0;
 * {
 *   await using file = tensorFile({
 *     format: "memory",
 *     metadata: {},
 *     tensors: [tensorFromBytes("w", "U8", [1], new Uint8Array(1))],
 *     close: () => Promise.resolve(void closed++),
 *   });
 *   assert.equal(file.tensors.length, 1);
 * }
 * assert.equal(closed, 1);
 * ```
 */
export function tensorFile<P extends TensorFileParts>(parts: P): Omit<P, "close"> & TensorFile {
  const release = parts.close;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= release ? release() : Promise.resolve());
  return { ...parts, close, [Symbol.asyncDispose]: close };
}

/**
 * True when a stream's tensors may be iterated more than once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isReiterable } from "./tensor.ts";
 * assert.equal(isReiterable({ metadata: {}, tensors: [] }), true);
 * ```
 */
export function isReiterable(stream: TensorStream): boolean {
  return stream.reiterable ?? Array.isArray(stream.tensors);
}

/** How a transform builds its output in {@linkcode derivedStream}. */
export interface DerivedStreamParts {
  /** The output's up-front metadata. @default the input's */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The output's complete metadata, once iterated. @default the input's (when the metadata is the input's) */
  readonly metadataAfter?: () => Readonly<Record<string, string>>;
  /** The output entries of one iteration over the input; called once per iteration. */
  readonly entries: () => AsyncIterable<TensorEntry>;
}

/**
 * The output stream of a transform over `input`: iterable again exactly
 * when the input is, with its own metadata object. Every shipped transform
 * is built on it; so can yours.
 *
 * @example Upper-case every name
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectTensors, derivedStream, tensorFromBytes, type TensorStream } from "./tensor.ts";
 * const input: TensorStream = { metadata: { a: "1" }, tensors: [tensorFromBytes("w", "U8", [1], new Uint8Array(1))] };
 * const out = derivedStream(input, {
 *   async *entries() {
 *     for await (const t of input.tensors) yield { ...t, name: t.name.toUpperCase() };
 *   },
 * });
 * assert.deepEqual((await collectTensors(out)).map((t) => t.name), ["W"]);
 * assert.deepEqual((await collectTensors(out)).map((t) => t.name), ["W"]); // again: the input is an array
 * ```
 */
export function derivedStream(input: TensorStream, parts: DerivedStreamParts): TensorStream {
  const reiterable = isReiterable(input);
  let iterated = false;
  const metadataAfter = parts.metadataAfter ??
    (parts.metadata === undefined ? input.metadataAfter : undefined);
  return {
    metadata: parts.metadata ?? input.metadata,
    ...(metadataAfter ? { metadataAfter } : {}),
    reiterable,
    tensors: {
      [Symbol.asyncIterator](): AsyncIterator<TensorEntry> {
        if (!reiterable && iterated) {
          throw new UsageError(
            "This tensor stream was already iterated and its source can be read only once; build the pipeline again",
          );
        }
        iterated = true;
        return parts.entries()[Symbol.asyncIterator]();
      },
    },
  };
}

/**
 * A stream's complete metadata; call it after iterating `tensors`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { finalMetadata } from "./tensor.ts";
 * assert.deepEqual(finalMetadata({ metadata: { a: "1" }, tensors: [] }), { a: "1" });
 * ```
 */
export function finalMetadata(stream: TensorStream): Readonly<Record<string, string>> {
  return stream.metadataAfter ? stream.metadataAfter() : stream.metadata;
}

/**
 * Make an in-memory tensor entry from bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensorFromBytes } from "./tensor.ts";
 * const t = tensorFromBytes("w", "F32", [2], new Uint8Array(8));
 * assert.equal(t.byteLength, 8);
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
 * An entry whose bytes are computed when read (a cast, a dequantization):
 * plain `dtype` elements of `shape`, so its byte length follows from them.
 * It has no `location`: its bytes are nowhere in a source.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { computedEntry } from "./tensor.ts";
 * const zeros = computedEntry("z", "F16", [3], () => Promise.resolve(new Uint8Array(6)));
 * assert.equal(zeros.byteLength, 6);
 * ```
 */
export function computedEntry(
  name: string,
  dtype: DType,
  shape: readonly number[],
  read: (out?: Uint8Array) => Promise<Uint8Array>,
): TensorEntry {
  return { name, dtype, shape, byteLength: byteLengthOf(dtype, shape), read };
}

/**
 * Collect a stream's tensors into an array (headers only: no bytes are read).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const list = await collectTensors({ metadata: {}, tensors: [tensorFromBytes("a", "U8", [1], new Uint8Array(1))] });
 * assert.equal(list.length, 1);
 * ```
 */
export async function collectTensors(stream: TensorStream): Promise<TensorEntry[]> {
  const out: TensorEntry[] = [];
  for await (const entry of stream.tensors) out.push(entry);
  return out;
}

/**
 * Collect a stream's tensors (headers only) and then its complete metadata:
 * what a writer that puts metadata before the tensors needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectStream } from "./tensor.ts";
 * const { metadata, tensors } = await collectStream({ metadata: { a: "1" }, tensors: [] });
 * assert.deepEqual([metadata, tensors], [{ a: "1" }, []]);
 * ```
 */
export async function collectStream(stream: TensorStream): Promise<CollectedStream> {
  const tensors = await collectTensors(stream);
  return { metadata: finalMetadata(stream), tensors };
}
