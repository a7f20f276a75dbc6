/**
 * What `ckpt convert` and `ckpt quantize` do to every tensor, as plain data:
 * the same {@linkcode ConvertSpec} builds the pipeline of a serial run and of
 * every Worker of a parallel one, so both give the same bytes.
 *
 * @module
 */

import { type DType, isDType, isFloatDType } from "./dtype.ts";
import { UsageError } from "./errors.ts";
import { cast, exclude, include, type Transform } from "./pipeline.ts";
import { dequantize } from "./quant/dequantize.ts";
import { quantize, type QuantizeOptions } from "./quant/quantize.ts";
import { patternOf, type QuantizeSpec } from "./quant/spec.ts";

/** The transforms of a conversion, serialisable. */
export interface ConvertSpec {
  /** Keep only tensors whose name matches this regular expression (its source). @default all */
  include?: string;
  /** Drop tensors whose name matches this regular expression (its source). @default none */
  exclude?: string;
  /** Cast floating-point tensors to this dtype (`F16`, `bf16`, …; case-insensitive). @default unchanged */
  dtype?: string;
  /** Then quantize with this spec. @default none */
  quantize?: QuantizeSpec;
  /** First dequantize tensors a previous quantization recorded, and ggml blocks. @default false */
  dequantize?: boolean;
}

/**
 * The float dtype a `dtype` option names; anything else is a `UsageError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { castTarget } from "./convert_spec.ts";
 * assert.equal(castTarget("bf16"), "BF16");
 * assert.throws(() => castTarget("I8"), /floating-point dtype/);
 * ```
 */
export function castTarget(dtype: string): DType {
  const upper = dtype.toUpperCase();
  if (!isDType(upper) || !isFloatDType(upper)) {
    throw new UsageError(`Cannot cast to '${dtype}': use a floating-point dtype such as F16, BF16 or F32`);
  }
  return upper;
}

/**
 * The transforms a spec describes, in the order the commands apply them:
 * dequantize, include, exclude, cast, quantize. Every setting is checked
 * here, before any tensor is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transformsFromSpec } from "./convert_spec.ts";
 * import { pipe } from "./pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "./tensor.ts";
 * const input = { metadata: {}, tensors: [
 *   tensorFromBytes("fc.weight", "F32", [1], new Uint8Array(4)),
 *   tensorFromBytes("optimizer.m", "F32", [1], new Uint8Array(4)),
 * ] };
 * const out = pipe(input, ...transformsFromSpec({ exclude: "^optimizer\\.", dtype: "F16" }));
 * assert.deepEqual((await collectTensors(out)).map((t) => [t.name, t.dtype]), [["fc.weight", "F16"]]);
 * ```
 */
export function transformsFromSpec(spec: ConvertSpec, options: QuantizeOptions = {}): Transform[] {
  const transforms: Transform[] = [];
  if (spec.dequantize) transforms.push(dequantize());
  if (spec.include !== undefined) transforms.push(include(patternOf("--include", spec.include)));
  if (spec.exclude !== undefined) transforms.push(exclude(patternOf("--exclude", spec.exclude)));
  if (spec.dtype !== undefined) transforms.push(cast(castTarget(spec.dtype)));
  if (spec.quantize) transforms.push(quantize(spec.quantize, options));
  return transforms;
}
