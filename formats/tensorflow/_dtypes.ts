// TensorFlow's DataType enum (tensorflow/core/framework/types.proto) and the
// ckpt dtype each numeric type maps to.

import type { DType } from "../../lib/dtype.ts";

/** DataType numbers ckpt reads and writes. */
export const TF_DTYPES: ReadonlyMap<number, DType> = new Map<number, DType>([
  [1, "F32"],
  [2, "F64"],
  [3, "I32"],
  [4, "U8"],
  [5, "I16"],
  [6, "I8"],
  [8, "C64"],
  [18, "C128"],
  [9, "I64"],
  [10, "BOOL"],
  [14, "BF16"],
  [17, "U16"],
  [19, "F16"],
  [22, "U32"],
  [23, "U64"],
  [24, "F8_E5M2"],
  [25, "F8_E4M3"],
]);

/** DT_STRING and DT_VARIANT: not tensors for ckpt, kept out of the list. */
export const DT_STRING = 7;
export const DT_VARIANT = 21;

/** Names of the DataTypes ckpt refuses, for messages. */
export const TF_DTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0, "DT_INVALID"],
  [11, "DT_QINT8"],
  [12, "DT_QUINT8"],
  [13, "DT_QINT32"],
  [15, "DT_QINT16"],
  [16, "DT_QUINT16"],
  [20, "DT_RESOURCE"],
]);

/** The DataType number of a ckpt dtype, when TensorFlow has it. */
export function tfDataType(dtype: DType): number | undefined {
  for (const [code, name] of TF_DTYPES) if (name === dtype) return code;
  return undefined;
}
