/**
 * What a quantization scheme is: how it lays out one tensor, its CPU
 * reference, its dequantization, and the WGSL kernel that must give the same
 * bytes as the reference.
 *
 * @module
 */

import type { DType } from "../dtype.ts";
import type { ErrorMetrics } from "../metrics.ts";

/** How a scheme's output is stored. */
export type SchemeStorage =
  /** A plain float dtype (F16, BF16, FP8): the tensor is simply cast. */
  | "cast"
  /** A ggml block type, written as an entry with `encoding` (GGUF stores it natively). */
  | "ggml"
  /** A plain integer code tensor plus companion tensors (`<name>.scale`, …). */
  | "codes";

/** Settings that shape how one tensor is quantized. */
export interface QuantSettings {
  /** Per-channel scales (int8). @default false */
  perChannel: boolean;
  /** Channel axis for per-channel schemes; negative counts from the end. @default 0 */
  axis: number;
  /** Affine quint8 with a zero point instead of symmetric qint8. @default false */
  affine: boolean;
  /** PyTorch's reduce_range: one bit less of range. @default false */
  reduceRange: boolean;
  /** FP8: clamp out-of-range values instead of producing NaN/Inf. @default false */
  saturate: boolean;
  /** NF4/FP4: quantize the block absmax values too (8-bit, blocks of 256). @default false */
  doubleQuant: boolean;
}

/** One tensor's layout under a scheme, fixed before any byte is read. */
export interface QuantPlan {
  /** Scheme name. */
  readonly scheme: string;
  /** Logical shape of the tensor. */
  readonly shape: readonly number[];
  /** Element count. */
  readonly count: number;
  /** Channels along the quantization axis (1 when per tensor). */
  readonly channels: number;
  /** Elements after the axis (the stride between channels). */
  readonly inner: number;
  /** The normalized axis, or -1 when per tensor. */
  readonly axis: number;
  /** Settings the plan was made with. */
  readonly settings: Readonly<QuantSettings>;
  /** Dtype of the main output tensor. */
  readonly dtype: DType;
  /** Shape of the main output tensor (the logical shape for `cast` and `ggml`). */
  readonly outShape: readonly number[];
  /** Byte length of the main output tensor. */
  readonly byteLength: number;
  /** Companion tensors: suffix (`.scale`), dtype and shape. */
  readonly companions: readonly CompanionSpec[];
}

/** A companion tensor stored next to the codes. */
export interface CompanionSpec {
  /** Appended to the tensor name, e.g. `.scale`. */
  readonly suffix: string;
  /** Its dtype. */
  readonly dtype: DType;
  /** Its shape. */
  readonly shape: readonly number[];
}

/** A quantized tensor: the main bytes and each companion's bytes, in plan order. */
export interface QuantResult {
  /** The main tensor's bytes (codes, blocks or cast values). */
  readonly data: Uint8Array;
  /** Companion bytes, in the order of `plan.companions`. */
  readonly companions: readonly Uint8Array[];
  /** The reconstruction error, when a backend measured it (see `QuantizeBackend.quantize`). @default undefined */
  readonly metrics?: ErrorMetrics;
}

/**
 * A WGSL kernel over independent units: each invocation reads `unitElems`
 * float32 values and writes `unitWords` u32 words (and `auxPerUnit` u32
 * words of side output, e.g. a block's absmax).
 */
export interface UnitKernel {
  /** Full WGSL source with entry point `main`. */
  readonly wgsl: string;
  /** Input elements per invocation. */
  readonly unitElems: number;
  /** Output u32 words per invocation. */
  readonly unitWords: number;
  /** Side-output u32 words per invocation (0 for none). */
  readonly auxPerUnit: number;
}

/** How the GPU runs a scheme. */
export type GpuProgram =
  | {
    /** Units need nothing from the host: run the kernel, then `finish`. */
    readonly kind: "units";
    /** The kernel. */
    readonly kernel: UnitKernel;
    /** Uniform words `a` and `b` for the kernel. */
    uniforms?(plan: QuantPlan): [number, number];
    /** Build the result from the kernel's output bytes (trimmed to `plan.byteLength`) and side words. */
    finish(plan: QuantPlan, data: Uint8Array, aux: Uint32Array | undefined): QuantResult;
  }
  | {
    /**
     * Two passes: min/max per channel on the device, parameters on the host
     * (the same function as the CPU path), then the kernel with those
     * parameters in the side buffer.
     */
    readonly kind: "stats";
    /** The quantizing kernel. */
    readonly kernel: UnitKernel;
    /** Host parameters from per-channel min and max: side-buffer words and companions. */
    params(plan: QuantPlan, min: Float32Array, max: Float32Array): StatsParams;
    /** Uniform words `a` and `b` for the kernel. */
    uniforms(plan: QuantPlan): [number, number];
  };

/** Parameters computed on the host between the two passes of a "stats" scheme. */
export interface StatsParams {
  /** Words uploaded to the kernel's side buffer. */
  readonly side: Uint32Array;
  /** The companion tensors' bytes. */
  readonly companions: readonly Uint8Array[];
}

/** A quantization scheme: layout, CPU reference, dequantization and GPU program. */
export interface QuantScheme {
  /** Name, the same in the API and on the CLI (`Q4_0`, `int8`, `minmax4`, `NF4`…). */
  readonly name: string;
  /** How the output is stored. */
  readonly storage: SchemeStorage;
  /** One line for help texts. */
  readonly description: string;
  /**
   * The settings this scheme reads; the others have no effect on it and are
   * not recorded in its {@linkcode QuantSettings} record.
   */
  readonly settingKeys: readonly (keyof QuantSettings)[];
  /** Why a tensor of this shape cannot use the scheme, or undefined when it can. */
  unsupported(shape: readonly number[], settings: Readonly<QuantSettings>): string | undefined;
  /** The output layout for a tensor. */
  plan(shape: readonly number[], settings: Readonly<QuantSettings>): QuantPlan;
  /** CPU reference: quantize float32 values (exactly `plan.count`). */
  quantize(plan: QuantPlan, values: Float32Array): QuantResult;
  /** Reconstruct float32 values from a result. */
  dequantize(plan: QuantPlan, result: QuantResult, out?: Float32Array): Float32Array;
  /** The GPU program, bit-identical to `quantize`. */
  readonly gpu: GpuProgram;
}
