/**
 * Why a checkpoint is the size it is: parameters and bytes by dtype, the
 * lower bound (elements × bytes per element) against the file's size, tensors
 * grouped by role (weights, optimizer state, buffers, other), and what
 * stripping the optimizer or casting the weights would save.
 *
 * @module
 */

import { dtypeInfo, elementCount, isDType, isFloatDType } from "./dtype.ts";
import type { TensorEntry } from "./tensor.ts";

/** What a tensor is for. */
export type TensorRole = "weights" | "optimizer" | "buffers" | "other";

/** Every role, in report order. */
export const TENSOR_ROLES: readonly TensorRole[] = Object.freeze([
  "weights",
  "optimizer",
  "buffers",
  "other",
]);

// Optimizer slots: torch Adam/AdamW (exp_avg, exp_avg_sq, max_exp_avg_sq), SGD
// (momentum_buffer), Adagrad/RMSprop/Adadelta state, anything under an
// `optimizer` key, TensorFlow 1's slot variables (`…/Adam`, `…/Adam_1`,
// `…/Momentum`, `…/RMSProp_1`, `…/Adagrad`, `…/Ftrl_1`, `beta1_power`) and
// TensorFlow 2's (`…/.OPTIMIZER_SLOT/…`, `optimizer/…`).
const OPTIMIZER_SEGMENT =
  /(^|[./])(exp_avg|exp_avg_sq|max_exp_avg_sq|momentum_buffer|square_avg|acc_delta|sum|optimizer|optimizer_state|optimizer_states|optim|opt_state|\.OPTIMIZER_SLOT)($|[./])/;
const OPTIMIZER_TF =
  /\/(Adam|AdamW|Adamax|Nadam|Momentum|RMSProp|Adagrad|AdagradDA|ProximalAdagrad|Ftrl|Adadelta)(_\d+)?(:\d+)?$|(^|\/)beta[12]_power(:\d+)?$/;
// Keras 3 under tf.train.Checkpoint reaches the model's own weights through
// the optimizer (`optimizer/_trainable_variables/0/.ATTRIBUTES/…`): weights.
const NOT_OPTIMIZER = /(^|\/)optimizer\/_trainable_variables\//;
// Buffers: BatchNorm running statistics (torch and TensorFlow names).
const BUFFER_NAME =
  /(^|[./])(running_mean|running_var|num_batches_tracked|moving_mean|moving_variance)(:\d+)?$/;

/**
 * The role of a tensor from its name and dtype: optimizer state and buffers
 * by name, floating-point tensors are weights, anything else is other.
 *
 * @example
 * ```ts
 * import { tensorRole } from "./size_report.ts";
 * console.log(tensorRole("optimizer.state.0.exp_avg", "F32")); // optimizer
 * console.log(tensorRole("bn1.running_mean", "F32")); // buffers
 * console.log(tensorRole("dense/kernel/Adam_1", "F32")); // optimizer
 * console.log(tensorRole("fc.weight", "F32")); // weights
 * ```
 */
export function tensorRole(name: string, dtype: string, encoding?: string): TensorRole {
  if (!NOT_OPTIMIZER.test(name) && (OPTIMIZER_SEGMENT.test(name) || OPTIMIZER_TF.test(name))) {
    return "optimizer";
  }
  if (BUFFER_NAME.test(name)) return "buffers";
  if (encoding !== undefined || (isDType(dtype) && isFloatDType(dtype))) return "weights";
  return "other";
}

/** Counts for one dtype. */
export interface DTypeSize {
  /** Number of tensors. */
  tensors: number;
  /** Number of elements. */
  parameters: number;
  /** Bytes of tensor data. */
  bytes: number;
}

/** Counts for one role. */
export interface RoleSize {
  /** Number of tensors. */
  tensors: number;
  /** Bytes of tensor data. */
  bytes: number;
  /** Fraction of the file's size, 0–1, when the size is known. */
  share: number | null;
}

/** Bytes saved by shrinking a checkpoint in each of the usual ways. */
export interface SizeSavings {
  /** Dropping the optimizer state. */
  stripOptimizer: number;
  /** Casting float weights to float16. */
  F16: number;
  /** Casting float weights to bfloat16. */
  BF16: number;
  /** Quantizing float weights to 8 bits in blocks of 32 with a float16 scale (Q8_0: 8.5 bits). */
  int8: number;
  /** Quantizing float weights to 4 bits in blocks of 32 with a float16 scale (Q4_0: 4.5 bits). */
  "4bit": number;
}

/** What {@linkcode sizeReport} returns. */
export interface SizeReport {
  /** Total number of elements. */
  parameters: number;
  /** Σ elements × bytes per element (for block-encoded tensors, their bytes). */
  lowerBoundBytes: number;
  /** The file's size, when known. */
  fileBytes: number | null;
  /** File size minus the lower bound (headers, padding, pickles, compression saves), when known. */
  overheadBytes: number | null;
  /** Overhead as a percentage of the file, when known. */
  overheadPercent: number | null;
  /** By dtype (or block encoding), in order of first appearance. */
  byDtype: Record<string, DTypeSize>;
  /** By role. */
  groups: Record<TensorRole, RoleSize>;
  /** What shrinking would save. */
  savings: SizeSavings;
  /** Optimizers recognised from slot names (`Adam` for `…/Adam_1` or `exp_avg`), in order of first appearance. */
  optimizers: string[];
}

// Which optimizer a slot name belongs to: TensorFlow 1 slot suffixes, torch's state names.
const TF_SLOT =
  /\/(Adam|AdamW|Adamax|Nadam|Momentum|RMSProp|Adagrad|AdagradDA|ProximalAdagrad|Ftrl|Adadelta)(_\d+)?(:\d+)?$/;
const TORCH_SLOT = /(^|[./])(exp_avg|exp_avg_sq|momentum_buffer|square_avg|acc_delta)($|[./])/;
const TORCH_OPTIMIZER: Record<string, string> = {
  exp_avg: "Adam",
  exp_avg_sq: "Adam",
  momentum_buffer: "SGD with momentum",
  square_avg: "RMSprop",
  acc_delta: "Adadelta",
};

function optimizerOf(name: string): string | undefined {
  const tf = TF_SLOT.exec(name);
  if (tf) return tf[1];
  if (/(^|\/)beta[12]_power(:\d+)?$/.test(name)) return "Adam";
  const torch = TORCH_SLOT.exec(name);
  return torch ? TORCH_OPTIMIZER[torch[2]] : undefined;
}

/** The fields of a tensor {@linkcode sizeReport} needs. */
export type SizedTensor = Pick<TensorEntry, "name" | "dtype" | "shape" | "byteLength" | "encoding">;

/**
 * Analyse a checkpoint's size from its tensors' headers (no bytes are read).
 *
 * @example
 * ```ts
 * import { sizeReport } from "./size_report.ts";
 * const report = sizeReport([
 *   { name: "w", dtype: "F32", shape: [256], byteLength: 1024 },
 *   { name: "optimizer.state.0.exp_avg", dtype: "F32", shape: [256], byteLength: 1024 },
 * ], 2100);
 * console.log(report.overheadBytes, report.groups.optimizer.bytes); // 52 1024
 * ```
 */
export function sizeReport(tensors: readonly SizedTensor[], fileBytes?: number): SizeReport {
  const byDtype: Record<string, DTypeSize> = {};
  const groups = Object.fromEntries(
    TENSOR_ROLES.map((r) => [r, { tensors: 0, bytes: 0, share: null }]),
  ) as unknown as Record<TensorRole, RoleSize>;
  let parameters = 0;
  let lowerBoundBytes = 0;
  let weightElements = 0;
  let weightBytes = 0;
  const optimizers = new Set<string>();
  for (const t of tensors) {
    const elements = elementCount(t.shape);
    const key = t.encoding ?? t.dtype;
    const bytes = t.encoding === undefined && isDType(t.dtype)
      ? Math.ceil((elements * dtypeInfo(t.dtype).bits) / 8)
      : t.byteLength;
    parameters += elements;
    lowerBoundBytes += bytes;
    const d = byDtype[key] ??= { tensors: 0, parameters: 0, bytes: 0 };
    d.tensors++;
    d.parameters += elements;
    d.bytes += t.byteLength;
    const role = tensorRole(t.name, t.dtype, t.encoding);
    groups[role].tensors++;
    groups[role].bytes += t.byteLength;
    if (role === "optimizer") {
      const kind = optimizerOf(t.name);
      if (kind !== undefined) optimizers.add(kind);
    }
    if (role === "weights") {
      weightElements += elements;
      weightBytes += t.byteLength;
    }
  }
  const known = fileBytes !== undefined && fileBytes > 0;
  for (const role of TENSOR_ROLES) groups[role].share = known ? groups[role].bytes / fileBytes : null;
  const saved = (bitsPerElement: number) =>
    Math.max(0, weightBytes - Math.ceil((weightElements * bitsPerElement) / 8));
  return {
    parameters,
    lowerBoundBytes,
    fileBytes: fileBytes ?? null,
    overheadBytes: fileBytes === undefined ? null : fileBytes - lowerBoundBytes,
    overheadPercent: known ? ((fileBytes - lowerBoundBytes) / fileBytes) * 100 : null,
    byDtype,
    groups,
    savings: {
      stripOptimizer: groups.optimizer.bytes,
      F16: saved(16),
      BF16: saved(16),
      int8: saved(8.5),
      "4bit": saved(4.5),
    },
    optimizers: [...optimizers],
  };
}
