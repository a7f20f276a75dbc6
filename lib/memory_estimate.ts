/**
 * Memory needed to run or train a model: parameters, inputs, activations,
 * gradients and optimizer state, from the tensors' types and sizes.
 *
 * @module
 */

import { type DType, dtypeInfo, isFloatDType } from "./dtype.ts";
import { UsageError } from "./errors.ts";

/** A tensor's element type and element count. */
export interface TensorSize {
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly elements: number;
}

/** What a model holds and computes, for {@linkcode estimateMemory}. */
export interface MemoryEstimateInput {
  /** The parameters (weights). */
  readonly parameters: readonly TensorSize[];
  /** The inputs fed per step. */
  readonly inputs: readonly TensorSize[];
  /** Every intermediate value of one forward pass. */
  readonly activations: readonly TensorSize[];
}

/** Optimizers whose state {@linkcode estimateMemory} counts. */
export type OptimizerName = "adam" | "sgd" | "sgd-momentum";

/** State tensors per parameter tensor: Adam keeps two moments, SGD with momentum one buffer, plain SGD none. */
export const OPTIMIZER_SLOTS: Readonly<Record<OptimizerName, number>> = Object.freeze({
  adam: 2,
  "sgd-momentum": 1,
  sgd: 0,
});

/** Options for {@linkcode estimateMemory}. */
export interface MemoryEstimateOptions {
  /** Count every floating-point tensor at this dtype (the compute precision). @default each tensor's own dtype */
  dtype?: DType;
  /** Optimizer for the training figures. @default "adam" */
  optimizer?: OptimizerName;
}

/** Bytes by category; the keys are what `ckpt estimate --json` prints. */
export interface MemoryEstimate {
  /** The parameters. */
  readonly parameterBytes: number;
  /** One step's inputs. */
  readonly inputBytes: number;
  /** Every intermediate value of a forward pass, if all were kept. */
  readonly activationBytes: number;
  /** Training: gradients of the float parameters plus of the float activations. */
  readonly gradientBytes: number;
  /** Training: the optimizer's slots (Adam 2×, SGD with momentum 1×, SGD 0× the float parameters). */
  readonly optimizerBytes: number;
  /** parameters + inputs + activations. */
  readonly inferenceBytes: number;
  /** inference + gradients + optimizer state. */
  readonly trainingBytes: number;
}

function bytesOf(sizes: readonly TensorSize[], dtype: DType | undefined, floatsOnly = false): number {
  let total = 0;
  for (const t of sizes) {
    if (!Number.isSafeInteger(t.elements) || t.elements < 0) {
      throw new UsageError(`Invalid element count ${t.elements}`);
    }
    const float = isFloatDType(t.dtype);
    if (floatsOnly && !float) continue;
    const bits = dtypeInfo(float && dtype ? dtype : t.dtype).bits;
    total += Math.ceil((t.elements * bits) / 8);
  }
  return total;
}

/**
 * Estimate memory for inference and for one training step. Activations are
 * counted as if every intermediate value were alive at once, which is what
 * training keeps for the backward pass (and an upper bound for inference,
 * where a runtime reuses buffers). Gradients exist for floating-point
 * parameters and activations only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { estimateMemory } from "./memory_estimate.ts";
 * const m = estimateMemory({
 *   parameters: [{ dtype: "F32", elements: 1000 }],
 *   inputs: [{ dtype: "F32", elements: 10 }],
 *   activations: [{ dtype: "F32", elements: 100 }],
 * }, { optimizer: "adam" });
 * assert.equal(m.optimizerBytes, 8000); // Adam keeps two F32 moments per parameter
 * ```
 */
export function estimateMemory(
  input: MemoryEstimateInput,
  options: MemoryEstimateOptions = {},
): MemoryEstimate {
  const dtype = options.dtype;
  if (dtype !== undefined && !isFloatDType(dtype)) {
    throw new UsageError(`Cannot estimate at ${dtype}: the compute dtype must be a floating-point type`);
  }
  const optimizer = options.optimizer ?? "adam";
  if (!Object.hasOwn(OPTIMIZER_SLOTS, optimizer)) {
    throw new UsageError(
      `Unknown optimizer '${optimizer}'; known: ${Object.keys(OPTIMIZER_SLOTS).join(", ")}`,
    );
  }
  const parameterBytes = bytesOf(input.parameters, dtype);
  const inputBytes = bytesOf(input.inputs, dtype);
  const activationBytes = bytesOf(input.activations, dtype);
  const trainableBytes = bytesOf(input.parameters, dtype, true);
  const gradientBytes = trainableBytes + bytesOf(input.activations, dtype, true);
  const optimizerBytes = OPTIMIZER_SLOTS[optimizer] * trainableBytes;
  const inferenceBytes = parameterBytes + inputBytes + activationBytes;
  return {
    parameterBytes,
    inputBytes,
    activationBytes,
    gradientBytes,
    optimizerBytes,
    inferenceBytes,
    trainingBytes: inferenceBytes + gradientBytes + optimizerBytes,
  };
}
