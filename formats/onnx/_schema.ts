// The parts of onnx.proto (onnx/onnx, onnx/onnx.proto, IR version 10) that
// ckpt reads and writes, as field numbers. Everything else in a model is kept
// as opaque bytes, so these few messages are all the schema needed.

import type { DType } from "../../lib/dtype.ts";

/** ModelProto. */
export const MODEL = Object.freeze({
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  domain: 4,
  modelVersion: 5,
  docString: 6,
  graph: 7,
  opsetImport: 8,
  metadataProps: 14,
  trainingInfo: 20,
  functions: 25,
  configuration: 26,
});

/** GraphProto. */
export const GRAPH = Object.freeze({
  node: 1,
  name: 2,
  initializer: 5,
  docString: 10,
  input: 11,
  output: 12,
  valueInfo: 13,
  quantizationAnnotation: 14,
  sparseInitializer: 15,
});

/** TensorProto. */
export const TENSOR = Object.freeze({
  dims: 1,
  dataType: 2,
  segment: 3,
  floatData: 4,
  int32Data: 5,
  stringData: 6,
  int64Data: 7,
  name: 8,
  rawData: 9,
  doubleData: 10,
  uint64Data: 11,
  docString: 12,
  externalData: 13,
  dataLocation: 14,
});

/** NodeProto. */
export const NODE = Object.freeze({
  input: 1,
  output: 2,
  name: 3,
  opType: 4,
  attribute: 5,
  docString: 6,
  domain: 7,
});

/** AttributeProto. */
export const ATTRIBUTE = Object.freeze({
  name: 1,
  f: 2,
  i: 3,
  s: 4,
  t: 5,
  g: 6,
  floats: 7,
  ints: 8,
  strings: 9,
  tensors: 10,
  graphs: 11,
  docString: 13,
  type: 20,
  sparseTensor: 22,
  sparseTensors: 23,
  refAttrName: 21,
});

/** AttributeProto.AttributeType. */
export const ATTRIBUTE_TYPE = Object.freeze({
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  SPARSE_TENSOR: 11,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSORS: 12,
});

/** SparseTensorProto. */
export const SPARSE = Object.freeze({ values: 1, indices: 2, dims: 3 });

/** ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto and its Dimension. */
export const VALUE_INFO = Object.freeze({ name: 1, type: 2 });
export const TYPE = Object.freeze({ tensorType: 1 });
export const TYPE_TENSOR = Object.freeze({ elemType: 1, shape: 2 });
export const SHAPE = Object.freeze({ dim: 1 });
export const DIM = Object.freeze({ value: 1, param: 2 });

/** StringStringEntryProto and OperatorSetIdProto. */
export const ENTRY = Object.freeze({ key: 1, value: 2 });
export const OPSET = Object.freeze({ domain: 1, version: 2 });

/** TensorProto.DataLocation.EXTERNAL. */
export const EXTERNAL = 1;

/** TensorProto.DataType numbers and the ckpt dtype each maps to. */
export const ONNX_DTYPES: ReadonlyMap<number, DType> = new Map<number, DType>([
  [1, "F32"],
  [2, "U8"],
  [3, "I8"],
  [4, "U16"],
  [5, "I16"],
  [6, "I32"],
  [7, "I64"],
  [9, "BOOL"],
  [10, "F16"],
  [11, "F64"],
  [12, "U32"],
  [13, "U64"],
  [14, "C64"],
  [16, "BF16"],
  [17, "F8_E4M3"],
  [18, "F8_E4M3FNUZ"],
  [19, "F8_E5M2"],
  [20, "F8_E5M2FNUZ"],
  [23, "F4"],
]);

/** Names of the ONNX data types ckpt cannot represent, for messages. */
export const UNSUPPORTED_DTYPES: ReadonlyMap<number, string> = new Map([
  [8, "STRING"],
  [15, "COMPLEX128"],
  [21, "UINT4"],
  [22, "INT4"],
]);

/** ONNX data type number for a ckpt dtype. */
export function onnxDataType(dtype: DType): number | undefined {
  for (const [code, name] of ONNX_DTYPES) if (name === dtype) return code;
  return undefined;
}

/** The typed repeated field that holds a data type's values when raw_data is absent. */
export function typedField(code: number): number {
  switch (code) {
    case 1:
    case 14:
      return TENSOR.floatData;
    case 7:
      return TENSOR.int64Data;
    case 11:
      return TENSOR.doubleData;
    case 12:
    case 13:
      return TENSOR.uint64Data;
    default:
      return TENSOR.int32Data;
  }
}

// Limits on untrusted input, checked before anything is allocated.
/** Rank beyond any real model; ONNX itself sets none. */
export const MAX_RANK = 64;
/** Names, keys and values of metadata entries. */
export const MAX_STRING_BYTES = 1 << 20;
/** Small messages decoded whole (external_data entries, value infos, opsets). */
export const MAX_SMALL_MESSAGE_BYTES = 1 << 22;
/** Tensors in one model, over all of its graphs. */
export const MAX_INITIALIZERS = 1 << 20;
/** Graphs nested in node attributes (If inside Loop inside If…); real models nest a handful. */
export const MAX_GRAPH_DEPTH = 64;
/** A single protobuf message may not exceed 2 GiB. */
export const MAX_PROTOBUF_BYTES = 2 ** 31 - 1;
