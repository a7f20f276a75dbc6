// Scanning an ONNX ModelProto in place: where the graph and each initializer
// lie, their names, types and shapes, and (on request) the graph's inputs,
// outputs, value infos and node outputs. No tensor data is read.

import type { ByteSource } from "../../lib/byte_source.ts";
import { byteLengthOf, type DType, elementCount } from "../../lib/dtype.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";
import { decodeSmall, expectWire, type FieldHead, walkFields, Window, WireType } from "./_wire.ts";
import {
  ATTRIBUTE,
  DIM,
  ENTRY,
  EXTERNAL,
  GRAPH,
  MAX_GRAPH_DEPTH,
  MAX_INITIALIZERS,
  MAX_RANK,
  MAX_SMALL_MESSAGE_BYTES,
  MAX_STRING_BYTES,
  MODEL,
  NODE,
  ONNX_DTYPES,
  OPSET,
  SHAPE,
  SPARSE,
  TENSOR,
  TYPE,
  TYPE_TENSOR,
  typedField,
  UNSUPPORTED_DTYPES,
  VALUE_INFO,
} from "./_schema.ts";

/** Where a tensor's values are. */
export type DataLayout =
  | { kind: "raw"; offset: number; length: number }
  | { kind: "typed"; field: number }
  | { kind: "external"; location: string; offset: number; length: number | undefined }
  /** A Constant node's `value_float(s)` / `value_int(s)`: the values are fields of the AttributeProto. */
  | { kind: "attribute"; field: number }
  | { kind: "empty" };

/** A length-delimited field that encloses a tensor: tag at `start`, message in `[valueStart, end)`. */
export interface Span {
  /** Field number of the enclosing field in its parent message. */
  field: number;
  /** Offset of its tag. */
  start: number;
  /** Offset of its message, after the length prefix. */
  valueStart: number;
  /** Offset just past its message. */
  end: number;
}

/** What kind of weight a tensor is, by where it sits in the model. */
export type TensorRole = "initializer" | "constant" | "attribute" | "sparse_values" | "sparse_indices";

/**
 * One tensor of the model: an initializer of the main graph or of a subgraph,
 * a tensor attribute of a node (a Constant's value), a Constant's
 * value_float(s)/value_int(s), or the values or indices of a sparse
 * initializer.
 */
export interface InitializerLayout {
  /** Stable unique name: the initializer's own name in the main graph, else its graph path. */
  name: string;
  /** The name stored in the TensorProto (or the Constant's output). */
  protoName: string;
  /** Where it sits. */
  role: TensorRole;
  /** The enclosing length-delimited fields, outermost (the model's graph) first. */
  ancestors: Span[];
  /** Field number of this message in its parent (GraphProto.initializer, AttributeProto.t, …). */
  field: number;
  /** ONNX data type number. */
  code: number;
  /** The ckpt dtype, or undefined for types ckpt cannot represent (strings, int4). */
  dtype: DType | undefined;
  /** Dimensions. */
  dims: number[];
  /** Offset of the message's tag. */
  start: number;
  /** The TensorProto (or, for `attribute` data, AttributeProto) message: `[valueStart, end)`. */
  valueStart: number;
  /** Offset just past the message. */
  end: number;
  /** Where the values are. */
  data: DataLayout;
  /** Byte ranges of the fields that hold or point to data (rewritten on write). */
  dataFields: [number, number][];
}

/** A graph input, output or value info. */
export interface ValueInfo {
  /** The value's name. */
  name: string;
  /** ONNX element type, when the value is a tensor with a declared type. */
  elemType: number | undefined;
  /** Dimensions: numbers, symbolic names, or undefined for unknown; undefined when no shape. */
  dims: (number | string | undefined)[] | undefined;
}

/** A node's type and outputs. */
export interface NodeInfo {
  /** The operator, e.g. `MatMul`. */
  opType: string;
  /** Names of the values it produces. */
  outputs: string[];
}

/** The graph's interface, read when asked for. */
export interface GraphInfo {
  /** The graph's inputs. */
  inputs: ValueInfo[];
  /** The graph's outputs. */
  outputs: ValueInfo[];
  /** Declared intermediate values (value_info). */
  valueInfo: ValueInfo[];
  /** The nodes, in file order. */
  nodes: NodeInfo[];
}

/** Everything the codec knows about a model's layout. */
export interface ModelLayout {
  /** Bytes of the model file. */
  size: number;
  /** ModelProto.ir_version. */
  irVersion: number;
  /** Producer, domain, opsets and metadata_props as `onnx.*` keys and the model's own keys. */
  metadata: Record<string, string>;
  /** The graph field: tag at `start`, message in `[valueStart, end)`. */
  graph: { start: number; valueStart: number; end: number };
  /** Every tensor of the model, in file order. */
  initializers: InitializerLayout[];
  /** The main graph's interface, when scanned with `graph: true`. */
  graphInfo: GraphInfo | undefined;
}

const decoder = new TextDecoder();

async function readString(window: Window, head: FieldHead, what: string): Promise<string> {
  expectWire(head, WireType.LengthDelimited, what);
  const length = head.end - head.valueStart;
  if (length > MAX_STRING_BYTES) {
    throw new LimitError(
      `Cannot decode ONNX ${what} at offset ${head.start}: a ${length}-byte string exceeds the limit of ${MAX_STRING_BYTES} bytes`,
      { limit: MAX_STRING_BYTES, actual: length },
    );
  }
  return decoder.decode(await window.bytes(head.valueStart, length));
}

async function readSmall(window: Window, head: FieldHead, what: string): Promise<Uint8Array> {
  expectWire(head, WireType.LengthDelimited, what);
  const length = head.end - head.valueStart;
  if (length > MAX_SMALL_MESSAGE_BYTES) {
    throw new LimitError(
      `Cannot decode ONNX ${what} at offset ${head.start}: ${length} bytes exceed the limit of ${MAX_SMALL_MESSAGE_BYTES} bytes`,
      { limit: MAX_SMALL_MESSAGE_BYTES, actual: length },
    );
  }
  return await window.bytes(head.valueStart, length);
}

function smallInt(value: bigint, head: FieldHead, what: string): number {
  const n = BigInt.asIntN(64, value);
  if (n < BigInt(Number.MIN_SAFE_INTEGER) || n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(`Cannot decode ONNX ${what} at offset ${head.start}: value ${n} is out of range`, {
      offset: head.start,
      format: "onnx",
    });
  }
  return Number(n);
}

/** Decode StringStringEntryProto bytes. */
function decodeEntry(bytes: Uint8Array, offset: number, what: string): [string, string] {
  return decodeSmall(bytes, offset, what, (r) => {
    let key = "";
    let value = "";
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === ENTRY.key && wire === WireType.LengthDelimited) key = r.string();
      else if (field === ENTRY.value && wire === WireType.LengthDelimited) value = r.string();
      else r.skip(wire, field);
    }
    return [key, value];
  });
}

function decodeOpset(bytes: Uint8Array, offset: number): [string, number] {
  return decodeSmall(bytes, offset, "opset import", (r) => {
    let domain = "";
    let version = 0;
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === OPSET.domain && wire === WireType.LengthDelimited) domain = r.string();
      else if (field === OPSET.version && wire === WireType.Varint) version = Number(r.int64());
      else r.skip(wire, field);
    }
    return [domain, version];
  });
}

/** Decode a ValueInfoProto (name and tensor type) from its bytes. */
export function decodeValueInfo(bytes: Uint8Array, offset: number): ValueInfo {
  return decodeSmall(bytes, offset, "value info", (r) => {
    const info: ValueInfo = { name: "", elemType: undefined, dims: undefined };
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === VALUE_INFO.name && wire === WireType.LengthDelimited) info.name = r.string();
      else if (field === VALUE_INFO.type && wire === WireType.LengthDelimited) {
        const type = r.bytes();
        const t = decodeSmall(type, offset, "type", (tr) => {
          while (tr.pos < tr.len) {
            const [tf, tw] = tr.tag();
            if (tf === TYPE.tensorType && tw === WireType.LengthDelimited) return tr.bytes();
            tr.skip(tw, tf);
          }
          return undefined;
        });
        if (t) decodeTensorType(t, offset, info);
      } else r.skip(wire, field);
    }
    return info;
  });
}

function decodeTensorType(bytes: Uint8Array, offset: number, info: ValueInfo): void {
  decodeSmall(bytes, offset, "tensor type", (r) => {
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === TYPE_TENSOR.elemType && wire === WireType.Varint) info.elemType = r.int32();
      else if (field === TYPE_TENSOR.shape && wire === WireType.LengthDelimited) {
        const shape = r.bytes();
        const dims: (number | string | undefined)[] = [];
        decodeSmall(shape, offset, "shape", (sr) => {
          while (sr.pos < sr.len) {
            const [sf, sw] = sr.tag();
            if (sf === SHAPE.dim && sw === WireType.LengthDelimited) {
              if (dims.length >= MAX_RANK) throw new Error(`more than ${MAX_RANK} dimensions`);
              const dim = sr.bytes();
              let value: number | string | undefined;
              decodeSmall(dim, offset, "dimension", (dr) => {
                while (dr.pos < dr.len) {
                  const [df, dw] = dr.tag();
                  if (df === DIM.value && dw === WireType.Varint) value = Number(dr.int64());
                  else if (df === DIM.param && dw === WireType.LengthDelimited) value = dr.string();
                  else dr.skip(dw, df);
                }
              });
              dims.push(value);
            } else sr.skip(sw, sf);
          }
        });
        info.dims = dims;
      } else r.skip(wire, field);
    }
  });
}

const TYPED_FIELDS: ReadonlySet<number> = new Set([
  TENSOR.floatData,
  TENSOR.int32Data,
  TENSOR.int64Data,
  TENSOR.doubleData,
  TENSOR.uint64Data,
]);

interface Place {
  role: TensorRole;
  ancestors: Span[];
}

async function scanTensor(window: Window, head: FieldHead, place: Place): Promise<InitializerLayout> {
  const what = place.role === "initializer" ? "initializer" : "tensor";
  let name = "";
  let code = 0;
  const dims: number[] = [];
  let raw: { offset: number; length: number } | undefined;
  let typedBytes = 0;
  let typedFieldSeen: number | undefined;
  const external: Record<string, string> = {};
  let location = 0;
  const dataFields: [number, number][] = [];
  const pushDim = (value: number, at: FieldHead) => {
    if (dims.length >= MAX_RANK) {
      throw new LimitError(
        `Cannot decode ONNX initializer at offset ${at.start}: more than ${MAX_RANK} dimensions`,
        { limit: MAX_RANK, actual: dims.length + 1 },
      );
    }
    dims.push(value);
  };
  for await (const f of walkFields(window, head.valueStart, head.end, what)) {
    switch (f.field) {
      case TENSOR.dims:
        if (f.wireType === WireType.Varint) pushDim(smallInt(f.varint, f, what), f);
        else {
          const packed = await readSmall(window, f, what);
          const values = decodeSmall(packed, f.start, what, (r) => {
            const out: bigint[] = [];
            while (r.pos < r.len) {
              if (out.length >= MAX_RANK) break;
              out.push(BigInt(r.int64()));
            }
            if (r.pos < r.len) out.push(0n);
            return out;
          });
          for (const v of values) pushDim(smallInt(v, f, what), f);
        }
        break;
      case TENSOR.dataType:
        expectWire(f, WireType.Varint, what);
        code = Number(BigInt.asIntN(32, f.varint));
        break;
      case TENSOR.name:
        name = await readString(window, f, what);
        break;
      case TENSOR.segment:
        throw new FormatError(
          `Cannot decode ONNX initializer at offset ${f.start}: segmented tensors are not supported`,
          { offset: f.start, format: "onnx" },
        );
      case TENSOR.rawData:
        expectWire(f, WireType.LengthDelimited, what);
        raw = { offset: f.valueStart, length: f.end - f.valueStart };
        dataFields.push([f.start, f.end]);
        break;
      case TENSOR.externalData: {
        const [key, value] = decodeEntry(await readSmall(window, f, what), f.start, "external data entry");
        external[key] = value;
        dataFields.push([f.start, f.end]);
        break;
      }
      case TENSOR.dataLocation:
        expectWire(f, WireType.Varint, what);
        location = Number(f.varint);
        dataFields.push([f.start, f.end]);
        break;
      case TENSOR.stringData:
        dataFields.push([f.start, f.end]);
        break;
      default:
        if (TYPED_FIELDS.has(f.field)) {
          typedBytes += f.end - f.start;
          typedFieldSeen = f.field;
          dataFields.push([f.start, f.end]);
        }
    }
  }
  const at = head.start;
  const dtype = ONNX_DTYPES.get(code);
  const layout: InitializerLayout = {
    name,
    protoName: name,
    role: place.role,
    ancestors: place.ancestors,
    field: head.field,
    code,
    dtype,
    dims,
    start: head.start,
    valueStart: head.valueStart,
    end: head.end,
    data: { kind: "empty" },
    dataFields,
  };
  if (dtype === undefined) {
    if (!UNSUPPORTED_DTYPES.has(code)) {
      throw new FormatError(
        `Cannot decode ONNX initializer '${name}' at offset ${at}: unknown data type ${code}`,
        {
          offset: at,
          format: "onnx",
        },
      );
    }
    return layout;
  }
  const count = elementCount(dims);
  const expected = byteLengthOf(dtype, dims);
  if (location === EXTERNAL) {
    const path = external.location;
    if (!path) {
      throw new FormatError(
        `Cannot decode ONNX initializer '${name}' at offset ${at}: its data is external but no location is given`,
        { offset: at, format: "onnx" },
      );
    }
    const offset = parseExternalNumber(external.offset ?? "0", "offset", name, at);
    const length = external.length === undefined
      ? undefined
      : parseExternalNumber(external.length, "length", name, at);
    if (length !== undefined && length !== expected) {
      throw new FormatError(
        `Cannot decode ONNX initializer '${name}' at offset ${at}: external length ${length} does not match ${expected} bytes for ${dtype} [${
          dims.join(", ")
        }]`,
        { offset: at, format: "onnx" },
      );
    }
    layout.data = { kind: "external", location: path, offset, length };
  } else if (raw) {
    if (raw.length !== expected) {
      throw new FormatError(
        `Cannot decode ONNX initializer '${name}' at offset ${at}: raw_data has ${raw.length} bytes, expected ${expected} for ${dtype} [${
          dims.join(", ")
        }]`,
        { offset: at, format: "onnx" },
      );
    }
    layout.data = { kind: "raw", ...raw };
  } else if (typedFieldSeen !== undefined) {
    const field = typedField(code);
    if (typedFieldSeen !== field) {
      throw new FormatError(
        `Cannot decode ONNX initializer '${name}' at offset ${at}: data type ${dtype} cannot be stored in field ${typedFieldSeen}`,
        { offset: at, format: "onnx" },
      );
    }
    // Each element takes at least this many bytes on the wire, so a tensor
    // can never claim more elements than its message could hold.
    const perElement = field === TENSOR.floatData ? 4 : field === TENSOR.doubleData ? 8 : 1;
    const values = dtype === "C64" ? count * 2 : dtype === "F4" ? Math.ceil(count / 2) : count;
    if (typedBytes < values * perElement) {
      throw new FormatError(
        `Cannot decode ONNX initializer '${name}' at offset ${at}: ${typedBytes} bytes of values cannot hold ${values} elements of shape [${
          dims.join(", ")
        }]`,
        { offset: at, format: "onnx" },
      );
    }
    layout.data = { kind: "typed", field };
  } else if (count !== 0) {
    throw new FormatError(
      `Cannot decode ONNX initializer '${name}' at offset ${at}: it has ${count} elements but no data`,
      { offset: at, format: "onnx" },
    );
  }
  return layout;
}

function parseExternalNumber(text: string, key: string, name: string, at: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new FormatError(
      `Cannot decode ONNX initializer '${name}' at offset ${at}: external ${key} '${text}' is not a valid byte count`,
      { offset: at, format: "onnx" },
    );
  }
  return value;
}

/** Constant attributes whose values are AttributeProto fields, with the ckpt dtype and whether they are lists. */
const CONSTANT_VALUE_FIELDS: ReadonlyMap<string, { field: number; dtype: DType; list: boolean }> = new Map([
  ["value_float", { field: ATTRIBUTE.f, dtype: "F32", list: false }],
  ["value_floats", { field: ATTRIBUTE.floats, dtype: "F32", list: true }],
  ["value_int", { field: ATTRIBUTE.i, dtype: "I64", list: false }],
  ["value_ints", { field: ATTRIBUTE.ints, dtype: "I64", list: true }],
]);

/** Count the values of a repeated float (fixed32) or int (varint) field, packed or not. */
async function countValues(window: Window, f: FieldHead, dtype: DType): Promise<number> {
  if (f.wireType !== WireType.LengthDelimited) {
    expectWire(f, dtype === "F32" ? WireType.Bit32 : WireType.Varint, "attribute");
    return 1;
  }
  const bytes = await readSmall(window, f, "attribute");
  if (dtype === "F32") {
    if (bytes.length % 4 !== 0) {
      throw new FormatError(
        `Cannot decode ONNX attribute at offset ${f.start}: packed floats of ${bytes.length} bytes`,
        {
          offset: f.start,
          format: "onnx",
        },
      );
    }
    return bytes.length / 4;
  }
  let n = 0;
  for (const b of bytes) if ((b & 0x80) === 0) n++;
  if (bytes.length > 0 && (bytes[bytes.length - 1] & 0x80) !== 0) {
    throw new FormatError(
      `Cannot decode ONNX attribute at offset ${f.start}: packed ints end inside a varint`,
      {
        offset: f.start,
        format: "onnx",
      },
    );
  }
  return n;
}

/**
 * Walks a graph and the graphs nested in its nodes' attributes, collecting
 * every tensor with its graph path as name.
 */
class GraphScan {
  readonly #window: Window;
  readonly #out: InitializerLayout[];
  readonly #info: GraphInfo | undefined;

  constructor(window: Window, out: InitializerLayout[], info: GraphInfo | undefined) {
    this.#window = window;
    this.#out = out;
    this.#info = info;
  }

  #push(layout: InitializerLayout, name: string): void {
    if (this.#out.length >= MAX_INITIALIZERS) {
      throw new LimitError(`Cannot decode ONNX graph: more than ${MAX_INITIALIZERS} tensors`, {
        limit: MAX_INITIALIZERS,
        actual: this.#out.length + 1,
      });
    }
    layout.name = name;
    this.#out.push(layout);
  }

  /** Make derived names unique (initializers of the main graph keep theirs: a repeat is an error later). */
  finish(): void {
    const taken = new Set(
      this.#out.filter((t) => t.role === "initializer" && t.ancestors.length === 1).map((t) => t.name),
    );
    for (const t of this.#out) {
      if (t.role === "initializer" && t.ancestors.length === 1) continue;
      let name = t.name;
      for (let k = 2; taken.has(name); k++) name = `${t.name}#${k}`;
      taken.add(name);
      t.name = name;
    }
  }

  async graph(span: Span, ancestors: Span[], prefix: string, depth: number): Promise<void> {
    if (depth > MAX_GRAPH_DEPTH) {
      throw new LimitError(
        `Cannot decode ONNX graph at offset ${span.start}: subgraphs nest more than ${MAX_GRAPH_DEPTH} deep`,
        { limit: MAX_GRAPH_DEPTH, actual: depth },
      );
    }
    const here = [...ancestors, span];
    const window = this.#window;
    let nodeIndex = 0;
    for await (const f of walkFields(window, span.valueStart, span.end, "graph")) {
      if (f.field === GRAPH.initializer) {
        expectWire(f, WireType.LengthDelimited, "graph");
        const t = await scanTensor(window, f, { role: "initializer", ancestors: here });
        this.#push(t, prefix + t.protoName);
      } else if (f.field === GRAPH.sparseInitializer) {
        expectWire(f, WireType.LengthDelimited, "graph");
        await this.#sparse(f, here, prefix);
      } else if (f.field === GRAPH.node) {
        expectWire(f, WireType.LengthDelimited, "graph");
        await this.#node(f, here, prefix, depth, nodeIndex++);
      } else if (this.#info && depth === 0) {
        if (f.field === GRAPH.input || f.field === GRAPH.output || f.field === GRAPH.valueInfo) {
          const value = decodeValueInfo(await readSmall(window, f, "graph"), f.start);
          const info = this.#info;
          (f.field === GRAPH.input ? info.inputs : f.field === GRAPH.output ? info.outputs : info.valueInfo)
            .push(value);
        }
      }
    }
  }

  async #sparse(head: FieldHead, ancestors: Span[], prefix: string): Promise<void> {
    const span: Span = { field: head.field, start: head.start, valueStart: head.valueStart, end: head.end };
    const inside = [...ancestors, span];
    let values: InitializerLayout | undefined;
    let indices: InitializerLayout | undefined;
    for await (const f of walkFields(this.#window, head.valueStart, head.end, "sparse initializer")) {
      if (f.field === SPARSE.values) {
        expectWire(f, WireType.LengthDelimited, "sparse initializer");
        values = await scanTensor(this.#window, f, { role: "sparse_values", ancestors: inside });
      } else if (f.field === SPARSE.indices) {
        expectWire(f, WireType.LengthDelimited, "sparse initializer");
        indices = await scanTensor(this.#window, f, { role: "sparse_indices", ancestors: inside });
      }
    }
    if (!values) {
      throw new FormatError(
        `Cannot decode ONNX sparse initializer at offset ${head.start}: it has no values`,
        {
          offset: head.start,
          format: "onnx",
        },
      );
    }
    this.#push(values, prefix + values.protoName);
    if (indices) this.#push(indices, `${prefix}${values.protoName}/indices`);
  }

  async #node(
    head: FieldHead,
    ancestors: Span[],
    prefix: string,
    depth: number,
    index: number,
  ): Promise<void> {
    const window = this.#window;
    const nodeSpan: Span = {
      field: head.field,
      start: head.start,
      valueStart: head.valueStart,
      end: head.end,
    };
    const inside = [...ancestors, nodeSpan];
    const node: NodeInfo = { opType: "", outputs: [] };
    let nodeName = "";
    // Attributes are read after the node's name and type are known (fields may come in any order).
    const attributes: FieldHead[] = [];
    for await (const f of walkFields(window, head.valueStart, head.end, "node")) {
      if (f.field === NODE.output) node.outputs.push(await readString(window, f, "node"));
      else if (f.field === NODE.opType) node.opType = await readString(window, f, "node");
      else if (f.field === NODE.name) nodeName = await readString(window, f, "node");
      else if (f.field === NODE.attribute) {
        expectWire(f, WireType.LengthDelimited, "node");
        attributes.push(f);
      }
    }
    if (this.#info && depth === 0) this.#info.nodes.push(node);
    const label = `${prefix}${nodeName || `${node.opType || "node"}_${index}`}`;
    for (const a of attributes) {
      const attrSpan: Span = { field: a.field, start: a.start, valueStart: a.valueStart, end: a.end };
      const inAttr = [...inside, attrSpan];
      let attrName = "";
      const tensors: FieldHead[] = [];
      const graphs: FieldHead[] = [];
      const values: FieldHead[] = [];
      for await (const f of walkFields(window, a.valueStart, a.end, "attribute")) {
        if (f.field === ATTRIBUTE.name) attrName = await readString(window, f, "attribute");
        else if (f.field === ATTRIBUTE.t || f.field === ATTRIBUTE.tensors) tensors.push(f);
        else if (f.field === ATTRIBUTE.g || f.field === ATTRIBUTE.graphs) graphs.push(f);
        else if (f.field !== ATTRIBUTE.type && f.field !== ATTRIBUTE.docString) values.push(f);
      }
      const isConstant = node.opType === "Constant" && (node.outputs.length > 0);
      for (let i = 0; i < tensors.length; i++) {
        const f = tensors[i];
        expectWire(f, WireType.LengthDelimited, "attribute");
        const role: TensorRole = isConstant && attrName === "value" ? "constant" : "attribute";
        const t = await scanTensor(window, f, { role, ancestors: inAttr });
        const name = role === "constant"
          ? `${prefix}${node.outputs[0]}`
          : `${label}/${attrName}${tensors.length > 1 ? `[${i}]` : ""}`;
        this.#push(t, name);
      }
      for (let i = 0; i < graphs.length; i++) {
        const f = graphs[i];
        expectWire(f, WireType.LengthDelimited, "attribute");
        const sub: Span = { field: f.field, start: f.start, valueStart: f.valueStart, end: f.end };
        const path = `${label}/${attrName}${f.field === ATTRIBUTE.graphs ? `[${i}]` : ""}/`;
        await this.graph(sub, inAttr, path, depth + 1);
      }
      const spec = isConstant ? CONSTANT_VALUE_FIELDS.get(attrName) : undefined;
      if (spec) {
        const fields = values.filter((f) => f.field === spec.field);
        let count = 0;
        for (const f of fields) count += await countValues(window, f, spec.dtype);
        if (!spec.list && count !== 1) {
          throw new FormatError(
            `Cannot decode ONNX Constant '${
              node.outputs[0]
            }' at offset ${a.start}: ${attrName} has ${count} values`,
            { offset: a.start, format: "onnx" },
          );
        }
        this.#push({
          name: "",
          protoName: node.outputs[0],
          role: "constant",
          ancestors: inside,
          field: a.field,
          code: spec.dtype === "F32" ? 1 : 7,
          dtype: spec.dtype,
          dims: spec.list ? [count] : [],
          start: a.start,
          valueStart: a.valueStart,
          end: a.end,
          data: { kind: "attribute", field: spec.field },
          dataFields: fields.map((f) => [f.start, f.end]),
        }, `${prefix}${node.outputs[0]}`);
      }
    }
  }
}

/** Options for {@linkcode scanModel}. */
export interface ScanOptions {
  /** Also read the graph's inputs, outputs, value infos and nodes. */
  graph?: boolean;
}

/**
 * Scan a ModelProto in `source`. Throws FormatError, TruncatedError or
 * LimitError for malformed input; reads only field headers and small fields.
 */
export async function scanModel(source: ByteSource, options: ScanOptions = {}): Promise<ModelLayout> {
  const window = new Window(source);
  let irVersion = -1;
  let graph: ModelLayout["graph"] | undefined;
  const metadata: Record<string, string> = {};
  for await (const f of walkFields(window, 0, source.size, "model")) {
    switch (f.field) {
      case MODEL.irVersion:
        expectWire(f, WireType.Varint, "model");
        irVersion = Number(f.varint);
        break;
      case MODEL.producerName:
        metadata["onnx.producer_name"] = await readString(window, f, "model");
        break;
      case MODEL.producerVersion:
        metadata["onnx.producer_version"] = await readString(window, f, "model");
        break;
      case MODEL.domain:
        metadata["onnx.domain"] = await readString(window, f, "model");
        break;
      case MODEL.graph:
        expectWire(f, WireType.LengthDelimited, "model");
        if (graph) {
          throw new FormatError(`Cannot decode ONNX model: a second graph field at offset ${f.start}`, {
            offset: f.start,
            format: "onnx",
          });
        }
        graph = { start: f.start, valueStart: f.valueStart, end: f.end };
        break;
      case MODEL.opsetImport: {
        const [domain, version] = decodeOpset(await readSmall(window, f, "model"), f.start);
        metadata[`onnx.opset.${domain || "ai.onnx"}`] = String(version);
        break;
      }
      case MODEL.metadataProps: {
        const [key, value] = decodeEntry(await readSmall(window, f, "model"), f.start, "metadata entry");
        metadata[key] = value;
        break;
      }
    }
  }
  if (irVersion < 0) {
    throw new FormatError(`Cannot decode ONNX model ${source.name}: it has no ir_version`, {
      offset: 0,
      format: "onnx",
    });
  }
  if (!graph) {
    throw new FormatError(`Cannot decode ONNX model ${source.name}: it has no graph`, {
      offset: 0,
      format: "onnx",
    });
  }
  metadata["onnx.ir_version"] = String(irVersion);
  const initializers: InitializerLayout[] = [];
  const info: GraphInfo = { inputs: [], outputs: [], valueInfo: [], nodes: [] };
  const scan = new GraphScan(window, initializers, options.graph ? info : undefined);
  await scan.graph({ field: MODEL.graph, ...graph }, [], "", 0);
  scan.finish();
  return {
    size: source.size,
    irVersion,
    metadata,
    graph,
    initializers,
    graphInfo: options.graph ? info : undefined,
  };
}
