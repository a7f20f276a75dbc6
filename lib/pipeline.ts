/**
 * Pipelines: transforms are plain functions from a tensor stream to a tensor
 * stream, and `pipe` composes them. Nothing is read until an encoder pulls
 * the tensors, one at a time, so memory stays bounded by one tensor.
 *
 * @module
 */

import { computedEntry, derivedStream, type TensorEntry, type TensorStream } from "./tensor.ts";
import { type DType, elementCount, isFloatDType } from "./dtype.ts";
import { castBytes } from "./cast.ts";
import { UsageError } from "./errors.ts";
import { locatedEntry } from "./located_entry.ts";

/** A pipeline stage: takes a stream of tensors, returns another. */
export type Transform = (input: TensorStream) => TensorStream;

/**
 * Compose transforms left to right over a stream (a decoded file, or any
 * `{ metadata, tensors }`). Returns the transformed stream; hand it to an
 * encoder such as `writeSafetensors`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cast, exclude, pipe } from "./pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const model = { metadata: {}, tensors: [
 *   tensorFromBytes("w", "F32", [2], new Uint8Array(new Float32Array([1, 2]).buffer)),
 *   tensorFromBytes("optimizer.m", "F32", [2], new Uint8Array(8)),
 * ] };
 * const out = pipe(model, exclude(/^optimizer\./), cast("F16"));
 * assert.deepEqual((await collectTensors(out)).map((t) => [t.name, t.dtype]), [["w", "F16"]]);
 * ```
 */
export function pipe(input: TensorStream, ...transforms: Transform[]): TensorStream {
  return transforms.reduce((stream, transform) => transform(stream), input);
}

/**
 * Build a transform that maps each entry (or drops it by returning
 * `undefined`), with the input's metadata.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapEntries, pipe } from "./pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const upper = mapEntries((t) => ({ ...t, name: t.name.toUpperCase() }));
 * const out = pipe({ metadata: {}, tensors: [tensorFromBytes("w", "U8", [1], new Uint8Array(1))] }, upper);
 * assert.deepEqual((await collectTensors(out)).map((t) => t.name), ["W"]);
 * ```
 */
export function mapEntries(
  fn: (entry: TensorEntry, metadata: Readonly<Record<string, string>>) => TensorEntry | undefined,
): Transform {
  return (input) =>
    derivedStream(input, {
      async *entries() {
        for await (const entry of input.tensors) {
          const mapped = fn(entry, input.metadata);
          if (mapped) yield mapped;
        }
      },
    });
}

/**
 * Keep only tensors whose name matches `pattern`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { include, pipe } from "./pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const onlyWeights = include(/\.weight$/);
 * const entry = (name: string) => tensorFromBytes(name, "U8", [1], new Uint8Array(1));
 * const out = pipe({ metadata: {}, tensors: [entry("fc.weight"), entry("fc.bias")] }, onlyWeights);
 * assert.deepEqual((await collectTensors(out)).map((t) => t.name), ["fc.weight"]);
 * ```
 */
export function include(pattern: RegExp): Transform {
  return mapEntries((entry) => (matches(pattern, entry.name) ? entry : undefined));
}

/**
 * Drop tensors whose name matches `pattern`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exclude, pipe } from "./pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const noOptimizer = exclude(/^optimizer\./);
 * const entry = (name: string) => tensorFromBytes(name, "U8", [1], new Uint8Array(1));
 * const out = pipe({ metadata: {}, tensors: [entry("w"), entry("optimizer.m")] }, noOptimizer);
 * assert.deepEqual((await collectTensors(out)).map((t) => t.name), ["w"]);
 * ```
 */
export function exclude(pattern: RegExp): Transform {
  return mapEntries((entry) => (matches(pattern, entry.name) ? undefined : entry));
}

function matches(pattern: RegExp, name: string): boolean {
  // A global or sticky RegExp keeps lastIndex between calls; reset it.
  pattern.lastIndex = 0;
  return pattern.test(name);
}

/**
 * Rename tensors: with a RegExp and replacement string (as
 * `String.prototype.replace`), or with a function from old to new name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pipe, rename } from "./pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const strip = rename(/^model\./, "");
 * const viaFn = rename((name) => `encoder.${name}`);
 * const w = tensorFromBytes("model.fc.weight", "U8", [1], new Uint8Array(1));
 * const out = pipe({ metadata: {}, tensors: [w] }, strip, viaFn);
 * assert.deepEqual((await collectTensors(out)).map((t) => t.name), ["encoder.fc.weight"]);
 * ```
 */
export function rename(pattern: RegExp | ((name: string) => string), replacement = ""): Transform {
  const fn = typeof pattern === "function" ? pattern : (name: string) => {
    pattern.lastIndex = 0;
    return name.replace(pattern, replacement);
  };
  return mapEntries((entry) => renamed(entry, fn(entry.name)));
}

function renamed(entry: TensorEntry, name: string): TensorEntry {
  // The bytes are unchanged, so a writer may still copy them in chunks from the location.
  return locatedEntry({
    name,
    dtype: entry.dtype,
    shape: entry.shape,
    byteLength: entry.byteLength,
    // Block-encoded bytes stay encoded under the new name.
    ...(entry.encoding !== undefined ? { encoding: entry.encoding } : {}),
    read: (out?: Uint8Array) => entry.read(out),
  }, entry.location);
}

/** Options for {@linkcode cast}. */
export interface CastTransformOptions {
  /** Only cast tensors whose name matches. @default every floating-point tensor */
  include?: RegExp;
}

/**
 * Cast floating-point tensors to `dtype` (F16, BF16, F32, F64, or an FP8
 * type). Integer and bool tensors pass through unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cast, pipe } from "./pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const halve = cast("BF16");
 * const model = { metadata: {}, tensors: [tensorFromBytes("w", "F32", [2], new Uint8Array(8))] };
 * const [w] = await collectTensors(pipe(model, halve));
 * assert.deepEqual([w.dtype, w.byteLength], ["BF16", 4]);
 * ```
 */
export function cast(dtype: DType, options: CastTransformOptions = {}): Transform {
  if (!isFloatDType(dtype)) {
    throw new UsageError(`Cannot cast to ${dtype}: only floating-point targets are allowed`);
  }
  return mapEntries((entry) => {
    if (!isFloatDType(entry.dtype) || entry.dtype === dtype) return entry;
    // Block-encoded bytes are not `dtype` elements: a writer dequantizes or refuses them.
    if (entry.encoding !== undefined) return entry;
    if (options.include && !matches(options.include, entry.name)) return entry;
    return castEntry(entry, dtype);
  });
}

/**
 * One entry converted to another float dtype, lazily.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { castEntry } from "./pipeline.ts";
 * import { tensorFromBytes } from "./tensor.ts";
 * const f16 = castEntry(tensorFromBytes("w", "F32", [1], new Uint8Array(4)), "F16");
 * assert.equal(f16.byteLength, 2);
 * ```
 */
export function castEntry(entry: TensorEntry, dtype: DType): TensorEntry {
  const count = elementCount(entry.shape);
  return computedEntry(entry.name, dtype, entry.shape, async (out?: Uint8Array): Promise<Uint8Array> => {
    const lease = borrowScratch(entry.byteLength);
    try {
      const bytes = await entry.read(lease.buffer);
      return castBytes(bytes, entry.dtype, dtype, count, { out });
    } finally {
      lease.release();
    }
  });
}

// One input buffer reused across tensors: fresh multi-megabyte buffers cost
// page faults on every tensor. Overlapping reads get their own buffer.
let sharedScratch: Uint8Array | undefined;
let sharedScratchBusy = false;

function borrowScratch(length: number): { buffer: Uint8Array; release(): void } {
  if (sharedScratchBusy) return { buffer: new Uint8Array(length), release() {} };
  sharedScratchBusy = true;
  if (!sharedScratch || sharedScratch.length < length) sharedScratch = new Uint8Array(length);
  return {
    buffer: sharedScratch.subarray(0, length),
    release() {
      sharedScratchBusy = false;
    },
  };
}
