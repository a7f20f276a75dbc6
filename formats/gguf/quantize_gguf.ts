/**
 * Requantize a GGUF model to a llama-quantize file type (`Q4_K_M`, …): a
 * pure transform from a tensor stream to one whose entries carry each
 * tensor's chosen ggml type, computed one tensor at a time when the writer
 * reads it, with the same bytes as `llama_model_quantize`.
 *
 * @module
 */

import { castBytes } from "../../lib/cast.ts";
import { readF32 } from "../../lib/quant/_read_f32.ts";
import { elementCount } from "../../lib/dtype.ts";
import { UsageError } from "../../lib/errors.ts";
import { ggmlByteLength, ggmlTypeByName } from "../../lib/ggml_blocks.ts";
import { schemeByName } from "../../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../../lib/quant/_plan.ts";
import type { QuantPlan, QuantResult, QuantScheme } from "../../lib/quant/scheme.ts";
import { collectTensors, type TensorEntry, type TensorStream } from "../../lib/tensor.ts";
import {
  fileTypeModelFromMetadata,
  type FileTypeOptions,
  type FileTypePlan,
  planFileType,
  type TensorTypeChoice,
} from "./file_type.ts";
import { GGML_TYPE_OF_DTYPE } from "./_encode_value.ts";
import { attachGgufKeyValues, type GgufKeyValue, ggufKeyValuesOf } from "./gguf_value.ts";

/**
 * Runs block quantization elsewhere (a `GpuQuantizer` from `gpu/` is one),
 * with results identical to each scheme's CPU reference.
 */
export interface BlockQuantizer {
  /** Quantize the jobs; results in job order. */
  quantize(
    jobs: readonly { scheme: QuantScheme; plan: QuantPlan; values: Float32Array }[],
  ): Promise<QuantResult[]>;
}

/** Options for {@linkcode quantizeGguf}. */
export interface QuantizeGgufOptions extends FileTypeOptions {
  /** Where block types are quantized (e.g. a `GpuQuantizer`). @default the CPU reference */
  device?: BlockQuantizer;
  /** Called after each tensor's bytes are produced, in write order. @default none */
  onTensor?: (choice: TensorTypeChoice, bytes: number) => void;
  /**
   * Tensors quantized ahead of the one being written, so that a `device`
   * with several workers (`cpuWorkers(n)`) keeps them all busy; memory grows
   * by this many tensors. @default 0
   */
  prefetch?: number;
}

/** The transformed stream and the plan behind it. */
export interface QuantizedGguf extends TensorStream {
  /** Each tensor's type, in write order, and the keys set. */
  readonly plan: FileTypePlan;
  /** The output's tensors, in write order. */
  readonly tensors: TensorEntry[];
}

function storedType(entry: TensorEntry): string {
  const type = entry.encoding ?? GGML_TYPE_OF_DTYPE[entry.dtype];
  if (!type || !ggmlTypeByName(type)) {
    throw new UsageError(
      `Cannot quantize tensor '${entry.name}': ${entry.encoding ?? entry.dtype} has no ggml type`,
    );
  }
  return type;
}

async function encode(
  values: Float32Array,
  shape: readonly number[],
  type: string,
  device: BlockQuantizer | undefined,
): Promise<Uint8Array> {
  const count = values.length;
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (type === "F32") return bytes;
  // ggml's fp32 → fp16 and bf16 rows: round to nearest even (NaN stays NaN), as lib/cast does.
  if (type === "F16" || type === "BF16") return castBytes(bytes, "F32", type, count);
  const scheme = schemeByName(type);
  const plan = scheme.plan(shape, DEFAULT_SETTINGS);
  if (device) return (await device.quantize([{ scheme, plan, values }]))[0].data;
  return scheme.quantize(plan, values).data;
}

/**
 * Requantize a GGUF model stream (F32, F16 or BF16 weights, with
 * `general.architecture` and its hyperparameters) to a file type: tensors in
 * llama-quantize's order, each with the type {@linkcode planFileType}
 * chooses, quantized by the CPU reference when the writer reads it;
 * `general.quantization_version` and `general.file_type` set, split keys
 * removed. The input's metadata is not changed. A tensor that would have to
 * be requantized from a block type is a `UsageError` before anything is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantizeGguf } from "./quantize_gguf.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const metadata = {
 *   "general.architecture": "llama", "llama.block_count": "1", "llama.attention.head_count": "2",
 * };
 * const weight = tensorFromBytes("blk.0.ffn_up.weight", "F32", [2, 256], new Uint8Array(2048));
 * const out = await quantizeGguf({ metadata, tensors: [weight] }, "Q4_K_M");
 * assert.equal(out.tensors[0].encoding, "Q4_K");
 * assert.equal((await out.tensors[0].read()).length, 2 * 144);
 * assert.equal(out.metadata["general.file_type"], "15");
 * assert.equal(metadata["general.file_type" as keyof typeof metadata], undefined); // input untouched
 * ```
 */
export async function quantizeGguf(
  stream: TensorStream,
  fileType: string,
  options: QuantizeGgufOptions = {},
): Promise<QuantizedGguf> {
  const entries = await collectTensors(stream);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const model = fileTypeModelFromMetadata(stream.metadata);
  const plan = planFileType(
    entries.map((e) => ({ name: e.name, shape: e.shape, type: storedType(e) })),
    model,
    fileType,
    options,
  );
  for (const choice of plan.tensors) {
    if (choice.convert && ggmlTypeByName(choice.from)!.dtype === undefined) {
      throw new UsageError(
        `Cannot quantize tensor '${choice.name}' to ${choice.type}: requantizing from type ${choice.from} is disabled (start from an F32, F16 or BF16 GGUF)`,
      );
    }
    if (choice.convert && !["F32", "F16", "BF16"].includes(choice.from)) {
      throw new UsageError(
        `Cannot quantize tensor '${choice.name}' from ${choice.from}: only float tensors are converted`,
      );
    }
  }
  const prefetch = options.prefetch ?? 0;
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new UsageError(`Invalid prefetch ${prefetch}: use a whole number of tensors`);
  }
  // Quantized bytes of the tensors started ahead of the writer, by plan index.
  const ahead = new Map<number, Promise<Uint8Array>>();
  // Float32 buffers for the values, reused once their tensor is encoded: at
  // most prefetch + 1 are in use, so the collector has no tensor-sized garbage
  // to fall behind on.
  const free: Uint8Array[] = [];
  const produce = async (i: number): Promise<Uint8Array> => {
    const choice = plan.tensors[i];
    const entry = byName.get(choice.name)!;
    const count = elementCount(entry.shape);
    let buffer = free.pop();
    if (!buffer || buffer.length < count * 4) buffer = new Uint8Array(count * 4);
    // Converted tensors are plain F32, F16 or BF16 (checked above), so entry.dtype is choice.from.
    const values = await readF32(entry, count, buffer);
    const bytes = await encode(values, entry.shape, choice.type, options.device);
    // An F32 result is the buffer itself; every other type is written elsewhere.
    if (choice.type !== "F32") free.push(buffer);
    return bytes;
  };
  const bytesOf = (i: number): Promise<Uint8Array> => {
    const own = ahead.get(i) ?? produce(i);
    ahead.delete(i);
    // Start the next converted tensors, up to `prefetch` of them.
    for (let j = i + 1, started = 0; j < plan.tensors.length && started < prefetch; j++) {
      if (!plan.tensors[j].convert) continue;
      started++;
      if (!ahead.has(j)) ahead.set(j, produce(j));
    }
    return own;
  };
  const tensors = plan.tensors.map((choice, index): TensorEntry => {
    const entry = byName.get(choice.name)!;
    if (!choice.convert) {
      if (!options.onTensor) return entry;
      return {
        ...entry,
        read: (out) => entry.read(out).then((b) => (options.onTensor!(choice, b.length), b)),
      };
    }
    const ggml = ggmlTypeByName(choice.type)!;
    const byteLength = ggmlByteLength(choice.type, entry.shape);
    return {
      name: entry.name,
      dtype: ggml.dtype ?? "F32",
      shape: entry.shape,
      byteLength,
      ...(ggml.dtype ? {} : { encoding: choice.type }),
      async read(out?: Uint8Array): Promise<Uint8Array> {
        const bytes = await bytesOf(index);
        options.onTensor?.(choice, bytes.length);
        if (!out) return bytes;
        const target = out.subarray(0, byteLength);
        target.set(bytes);
        return target;
      },
    };
  });
  const removed = new Set([...plan.removedKeys, ...plan.keys.map((k) => k.key)]);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(stream.metadata)) if (!removed.has(key)) metadata[key] = value;
  for (const { key, value } of plan.keys) metadata[key] = String(value);
  const typed: GgufKeyValue[] = (ggufKeyValuesOf(stream.metadata) ?? []).filter((kv) => !removed.has(kv.key));
  for (const { key, value } of plan.keys) typed.push({ key, type: "u32", value });
  attachGgufKeyValues(metadata, typed);
  return { metadata, tensors, plan };
}
