// Running models with onnxruntime-node, loaded only when a function needs it
// (it is a native library: --allow-ffi, --allow-env), and seeded inputs.

import type * as Ort from "onnxruntime-node";
import type { DType } from "../../lib/dtype.ts";
import { UsageError } from "../../lib/errors.ts";

export type OrtModule = typeof Ort;
export type OrtTensor = Ort.Tensor;
export type OrtSession = Ort.InferenceSession;

let loaded: Promise<OrtModule> | undefined;

/** The onnxruntime-node module, imported on first use. */
export function loadOrt(): Promise<OrtModule> {
  loaded ??= import("onnxruntime-node").then((m) => (m.default ?? m) as OrtModule);
  return loaded;
}

/** ORT tensor type names for the dtypes it accepts as inputs. */
export const ORT_TYPES: Partial<Record<DType, Ort.Tensor.Type>> = {
  F32: "float32",
  F16: "float16",
  F64: "float64",
  I8: "int8",
  U8: "uint8",
  I16: "int16",
  U16: "uint16",
  I32: "int32",
  U32: "uint32",
  I64: "int64",
  U64: "uint64",
  BOOL: "bool",
};

/** The ckpt dtype of an ORT tensor type, when there is one. */
export function dtypeOfOrt(type: string): DType | undefined {
  for (const [dtype, name] of Object.entries(ORT_TYPES)) if (name === type) return dtype as DType;
  return type === "bfloat16" ? "BF16" : undefined;
}

/** A small seeded PRNG (mulberry32), so runs are repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values from a uniform source (Box–Muller). */
export function normalValues(count: number, random: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** An input tensor of `dtype` and `shape`: normal values for floats, zeros otherwise. */
export function makeInput(
  ort: OrtModule,
  name: string,
  dtype: DType,
  shape: readonly number[],
  random: () => number,
): OrtTensor {
  const type = ORT_TYPES[dtype];
  if (!type) throw new UsageError(`Cannot feed input '${name}': onnxruntime does not take ${dtype} inputs`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dims = [...shape];
  switch (type) {
    case "float32":
      return new ort.Tensor("float32", normalValues(count, random), dims);
    case "float64":
      return new ort.Tensor("float64", Float64Array.from(normalValues(count, random)), dims);
    case "float16": {
      const values = normalValues(count, random);
      return new ort.Tensor("float16", new Uint16Array(new Float16Array(values).buffer), dims);
    }
    case "int64":
      return new ort.Tensor("int64", new BigInt64Array(count), dims);
    case "uint64":
      return new ort.Tensor("uint64", new BigUint64Array(count), dims);
    case "bool":
      return new ort.Tensor("bool", new Uint8Array(count), dims);
    case "int8":
      return new ort.Tensor("int8", new Int8Array(count), dims);
    case "uint8":
      return new ort.Tensor("uint8", new Uint8Array(count), dims);
    case "int16":
      return new ort.Tensor("int16", new Int16Array(count), dims);
    case "uint16":
      return new ort.Tensor("uint16", new Uint16Array(count), dims);
    case "int32":
      return new ort.Tensor("int32", new Int32Array(count), dims);
    case "uint32":
      return new ort.Tensor("uint32", new Uint32Array(count), dims);
    default:
      throw new UsageError(`Cannot feed input '${name}' of type ${type}`);
  }
}

/** Float values of an output tensor, widened to float64 for comparison. */
export function outputValues(tensor: OrtTensor): Float64Array {
  const data = tensor.data;
  if (tensor.type === "float16") {
    const bits = data as Uint16Array;
    return Float64Array.from(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return Float64Array.from(data, (v) => Number(v));
  }
  if (Array.isArray(data)) throw new UsageError(`Cannot compare outputs of type ${tensor.type}`);
  return Float64Array.from(data as ArrayLike<number>);
}

/** Run an onnxruntime call, turning its errors (bad shapes, unsupported ops) into one-line usage errors. */
export async function runtimeCall<T>(what: "load" | "run", call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(
      `onnxruntime could not ${what === "load" ? "load the model" : "run the model"}: ${
        message.replace(/\s+/g, " ").trim()
      }`,
      { cause: error },
    );
  }
}
