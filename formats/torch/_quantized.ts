// torch.ao quantized tensors as ckpt's int8 representation: the integer codes
// under the tensor's name plus `<name>.scale` (F32) and, when affine,
// `<name>.zero_point` (U8), recorded in `ckpt.quantization` the way
// lib/quant/quantize.ts records its int8 scheme, so dequantize() gives back exactly
// what torch's Tensor.dequantize() computes: (q - zero_point) * scale in
// float32 per tensor; per channel torch multiplies by the float64 scale, which
// float32 reproduces only when every scale is a float32 value (observers make
// them so); a tensor whose scales are not, qint32 tensors and float zero points
// (per_channel_affine_float_qparams) are read as torch's float32 values
// instead. Packed quint4x2/quint2x4 are refused.
// Packed Linear parameters (`<m>._packed_params._packed_params`, a
// (weight, bias) tuple) are named `<m>.weight` and `<m>.bias`.

import { elementCount } from "../../lib/dtype.ts";
import { FormatError } from "../../lib/errors.ts";
import { QUANTIZATION_METADATA_KEY } from "../../lib/quant/_records.ts";
import type { QuantRecord } from "../../lib/quant/spec.ts";
import type { TensorEntry } from "../../lib/tensor.ts";
import { type NamedTensor, readTensor, tensorEntry, type TensorRef } from "./_tensors.ts";

const PACKED = /^(.*)\._packed_params\._packed_params\.([01])$/;

/** Names packed Linear weight and bias as the float module's state dict does. */
export function unpackLinearParams(tensors: NamedTensor[]): NamedTensor[] {
  const names = new Set(tensors.map((t) => t.name));
  return tensors.map((t) => {
    const m = PACKED.exec(t.name);
    if (!m) return t;
    const name = `${m[1]}.${m[2] === "0" ? "weight" : "bias"}`;
    if (names.has(name)) {
      throw new FormatError(
        `Cannot read tensors: '${t.name}' unpacks to '${name}', which the file already has`,
        {
          format: "torch",
        },
      );
    }
    return { name, ref: t.ref };
  });
}

function fail(name: string, message: string): never {
  throw new FormatError(`Cannot read quantized tensor '${name}': ${message}`, { format: "torch" });
}

async function readNumbers(ref: TensorRef): Promise<number[]> {
  const bytes = (await readTensor(ref)).slice();
  const n = elementCount(ref.shape);
  switch (ref.dtype) {
    case "F64":
      return Array.from(new Float64Array(bytes.buffer, 0, n));
    case "F32":
      return Array.from(new Float32Array(bytes.buffer, 0, n));
    case "I64":
      return Array.from(new BigInt64Array(bytes.buffer, 0, n), Number);
    case "I32":
      return Array.from(new Int32Array(bytes.buffer, 0, n));
    default:
      throw new FormatError(`Cannot read quantization parameters stored as ${ref.dtype}`, {
        format: "torch",
      });
  }
}

function constEntry(
  name: string,
  dtype: "F32" | "U8",
  shape: number[],
  values: ArrayLike<number>,
): TensorEntry {
  const bytes = dtype === "F32" ? new Uint8Array(Float32Array.from(values).buffer) : Uint8Array.from(values);
  return {
    name,
    dtype,
    shape,
    byteLength: bytes.length,
    read(out?: Uint8Array): Promise<Uint8Array> {
      if (!out) return Promise.resolve(bytes.slice());
      const view = out.subarray(0, bytes.length);
      view.set(bytes);
      return Promise.resolve(view);
    },
  };
}

// Codes of a qint8 tensor with a nonzero zero point, moved to quint8's range:
// (q + 128) - (zp + 128) = q - zp, so nothing changes on dequantization.
function shiftedEntry(name: string, ref: TensorRef, maxExpanded: number): TensorEntry {
  const base = tensorEntry(name, ref, maxExpanded);
  return {
    ...base,
    dtype: "U8",
    async read(out?: Uint8Array): Promise<Uint8Array> {
      const bytes = await base.read(out);
      const own = out ? bytes : bytes.slice();
      for (let i = 0; i < own.length; i++) own[i] = (own[i] + 128) & 0xff;
      return own;
    },
  };
}

// A quantized tensor read back as float32 values, computed as torch's
// dequantize() computes them: `f64` per-channel scales applied in float64,
// everything else in float32 (float zero points subtracted in float32).
function dequantizedEntry(
  name: string,
  ref: TensorRef,
  scales: number[],
  zeroPoints: number[],
  axis: number | undefined,
  f64: boolean,
  maxExpanded: number,
): TensorEntry {
  const codes = tensorEntry(name, ref, maxExpanded);
  const count = elementCount(ref.shape);
  const inner = axis === undefined ? count : elementCount(ref.shape.slice(axis + 1));
  const channels = axis === undefined ? 1 : ref.shape[axis];
  const scale32 = scales.map(Math.fround);
  const zero32 = zeroPoints.map(Math.fround);
  return {
    name,
    dtype: "F32",
    shape: [...ref.shape],
    byteLength: count * 4,
    async read(out?: Uint8Array): Promise<Uint8Array> {
      const raw = (await codes.read()).slice();
      const q = ref.dtype === "I8"
        ? new Int8Array(raw.buffer, 0, count)
        : ref.dtype === "I32"
        ? new Int32Array(raw.buffer, 0, count)
        : raw;
      const target = out ? out.subarray(0, count * 4) : new Uint8Array(count * 4);
      const values = new Float32Array(target.buffer, target.byteOffset, count);
      for (let i = 0; i < count; i++) {
        const c = Math.floor(i / inner) % channels;
        values[i] = f64
          ? (q[i] - zeroPoints[c]) * scales[c]
          : Math.fround(Math.fround(Math.fround(q[i]) - zero32[c]) * scale32[c]);
      }
      return target;
    },
  };
}

/**
 * Entries for named tensors, quantized ones as int8 codes and companions;
 * their records go into `metadata` under `ckpt.quantization`.
 */
export async function torchEntries(
  tensors: NamedTensor[],
  metadata: Record<string, string>,
  maxExpanded: number,
): Promise<TensorEntry[]> {
  const out: TensorEntry[] = [];
  const records: Record<string, QuantRecord> = {};
  const names = new Set(tensors.map((t) => t.name));
  for (const { name, ref } of tensors) {
    const q = ref.quant;
    if (!q) {
      out.push(tensorEntry(name, ref, maxExpanded));
      continue;
    }
    if (q.qdtype === "quint4x2" || q.qdtype === "quint2x4") {
      fail(name, `packed sub-byte torch.${q.qdtype} tensors are not supported`);
    }
    const perChannel = q.axis !== undefined;
    const scales = perChannel ? await readNumbers(q.scales!) : [q.scale!];
    const zeroPoints = perChannel ? await readNumbers(q.zeroPoints!) : [q.zeroPoint!];
    for (const s of scales) {
      if (!Number.isFinite(s) || s <= 0) fail(name, `scale ${s} is not a positive number`);
    }
    // torch saves float-qparams tensors as per_channel_affine with float zero points.
    const floatQParams = q.qscheme === "per_channel_affine_float_qparams" ||
      (q.zeroPoints !== undefined && (q.zeroPoints.dtype === "F32" || q.zeroPoints.dtype === "F64" ||
        q.zeroPoints.dtype === "F16"));
    const shape = [...ref.shape];
    // What ckpt's int8 codes cannot hold is read as torch's float32 values instead:
    // qint32 codes, float zero points, per-channel scales float32 cannot represent.
    if (q.qdtype === "qint32" || floatQParams) {
      out.push(dequantizedEntry(name, ref, scales, zeroPoints, q.axis, false, maxExpanded));
      continue;
    }
    const signed = q.qdtype === "qint8";
    const [lo, hi] = signed ? [-128, 127] : [0, 255];
    for (const z of zeroPoints) {
      if (!Number.isInteger(z) || z < lo || z > hi) {
        fail(name, `zero point ${z} is outside torch.${q.qdtype}'s range`);
      }
    }
    if (perChannel && !scales.every((s) => Math.fround(s) === s)) {
      out.push(dequantizedEntry(name, ref, scales, zeroPoints, q.axis, true, maxExpanded));
      continue;
    }
    for (const suffix of [".scale", ".zero_point"]) {
      if (names.has(name + suffix)) fail(name, `the file also has a tensor named '${name + suffix}'`);
    }
    const affine = !signed || zeroPoints.some((z) => z !== 0);
    const paramShape = perChannel ? [shape[q.axis!]] : [];
    out.push(signed && affine ? shiftedEntry(name, ref, maxExpanded) : tensorEntry(name, ref, maxExpanded));
    // torch casts a per-tensor scale to float32 before multiplying.
    out.push(constEntry(`${name}.scale`, "F32", paramShape, scales.map(Math.fround)));
    if (affine) {
      out.push(
        constEntry(`${name}.zero_point`, "U8", paramShape, zeroPoints.map((z) => signed ? z + 128 : z)),
      );
    }
    const record: QuantRecord = { scheme: "int8", dtype: "F32", shape, perChannel, affine };
    if (perChannel) record.axis = q.axis;
    records[name] = record;
  }
  if (Object.keys(records).length > 0) {
    const existing = metadata[QUANTIZATION_METADATA_KEY];
    const merged = existing ? { ...JSON.parse(existing), ...records } : records;
    metadata[QUANTIZATION_METADATA_KEY] = JSON.stringify(merged);
  }
  return out;
}
