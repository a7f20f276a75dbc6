// PyTorch storage types, torch dtypes and numpy dtype codes, to ckpt dtypes
// (torch/storage.py _dtype_to_storage_type_map, torch/_utils.py).

import type { DType } from "../../lib/dtype.ts";

/** `torch.<X>Storage` class names to element types. */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  DoubleStorage: "F64",
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
  ComplexFloatStorage: "C64",
  ComplexDoubleStorage: "C128",
  UInt16Storage: "U16",
  UInt32Storage: "U32",
  UInt64Storage: "U64",
  Float8_e4m3fnStorage: "F8_E4M3",
  Float8_e5m2Storage: "F8_E5M2",
  Float8_e4m3fnuzStorage: "F8_E4M3FNUZ",
  Float8_e5m2fnuzStorage: "F8_E5M2FNUZ",
  UntypedStorage: "U8",
  // Quantized storages hold the integer codes (torch/storage.py _dtype_to_storage_type_map).
  QInt8Storage: "I8",
  QUInt8Storage: "U8",
  QInt32Storage: "I32",
  QUInt4x2Storage: "U8",
  QUInt2x4Storage: "U8",
};

/**
 * Element types torch ≥ 1.6 writes through a typed storage class and
 * `_rebuild_tensor_v2` (the ones torch 1.13 and later load).
 */
export const DTYPE_STORAGES: Partial<Record<DType, string>> = {
  F64: "DoubleStorage",
  F32: "FloatStorage",
  F16: "HalfStorage",
  BF16: "BFloat16Storage",
  I64: "LongStorage",
  I32: "IntStorage",
  I16: "ShortStorage",
  I8: "CharStorage",
  U8: "ByteStorage",
  BOOL: "BoolStorage",
  C64: "ComplexFloatStorage",
  C128: "ComplexDoubleStorage",
};

/**
 * Element types torch ≥ 2.1 writes as an `UntypedStorage` of bytes and
 * `_rebuild_tensor_v3` with the dtype (torch/storage.py _new_dtypes).
 */
export const DTYPE_V3: Partial<Record<DType, string>> = {
  F8_E4M3: "float8_e4m3fn",
  F8_E5M2: "float8_e5m2",
  F8_E4M3FNUZ: "float8_e4m3fnuz",
  F8_E5M2FNUZ: "float8_e5m2fnuz",
  F8_E8M0: "float8_e8m0fnu",
  U16: "uint16",
  U32: "uint32",
  U64: "uint64",
};

/** `torch.<dtype>` attribute names to element types (for `_rebuild_tensor_v3`). */
export const TORCH_DTYPES: Readonly<Record<string, DType>> = {
  float64: "F64",
  double: "F64",
  float32: "F32",
  float: "F32",
  float16: "F16",
  half: "F16",
  bfloat16: "BF16",
  int64: "I64",
  long: "I64",
  int32: "I32",
  int: "I32",
  int16: "I16",
  short: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
  complex64: "C64",
  complex128: "C128",
  uint16: "U16",
  uint32: "U32",
  uint64: "U64",
  float8_e4m3fn: "F8_E4M3",
  float8_e5m2: "F8_E5M2",
  float8_e4m3fnuz: "F8_E4M3FNUZ",
  float8_e5m2fnuz: "F8_E5M2FNUZ",
  float8_e8m0fnu: "F8_E8M0",
};

/** numpy type codes (`f4`, `i8`, `b1`…) to element types. */
export const NUMPY_DTYPES: Readonly<Record<string, DType>> = {
  f2: "F16",
  f4: "F32",
  f8: "F64",
  i1: "I8",
  i2: "I16",
  i4: "I32",
  i8: "I64",
  u1: "U8",
  u2: "U16",
  u4: "U32",
  u8: "U64",
  b1: "BOOL",
  c8: "C64",
  c16: "C128",
};
