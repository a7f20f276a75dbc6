// An ONNX model as a tree that graph rewrites can edit: graphs, nodes,
// attributes, value infos and tensors are decoded; tensor data stays in the
// source (read when the rewritten model is written), and fields ckpt does not
// edit are kept as their original bytes.

import { byteLengthOf, type DType } from "../../lib/dtype.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";
import type { OnnxFile } from "./decode.ts";
import {
  ATTRIBUTE,
  GRAPH,
  MAX_GRAPH_DEPTH,
  MAX_SMALL_MESSAGE_BYTES,
  MODEL,
  NODE,
  ONNX_DTYPES,
  OPSET,
  TENSOR,
  TYPE,
  TYPE_TENSOR,
  VALUE_INFO,
} from "./_schema.ts";
import {
  BinaryReader,
  BinaryWriter,
  expectWire,
  type FieldHead,
  walkFields,
  Window,
  WireType,
} from "./_wire.ts";

/** A field kept as it was: its whole encoding (tag included). */
export interface RawField {
  readonly field: number;
  readonly bytes: Uint8Array;
}

/** A tensor: where its values come from and how it is declared. */
export interface TreeTensor {
  name: string;
  /** ONNX data type number. */
  code: number;
  dims: number[];
  /** Byte length of the values as raw_data. */
  byteLength: number;
  /** The values, little-endian, as raw_data holds them. */
  read: () => Promise<Uint8Array>;
  /** The unique name of the source tensor this one is unchanged from, if any. */
  sourceName?: string;
  /** Other fields (doc_string, metadata) kept as they were. */
  rest: RawField[];
}

/** A node attribute. Graph and tensor attributes are decoded; others keep their bytes. */
export interface TreeAttribute {
  name: string;
  /** AttributeProto.type. */
  type: number;
  /** Scalar int (`i`), for INT attributes such as Cast's `to`. */
  i?: bigint;
  f?: number;
  ints?: bigint[];
  t?: TreeTensor;
  g?: TreeGraph;
  tensors?: TreeTensor[];
  graphs?: TreeGraph[];
  /** Every other field of the attribute, as it was. */
  rest: RawField[];
}

export interface TreeNode {
  inputs: string[];
  outputs: string[];
  name: string;
  opType: string;
  domain: string;
  attributes: TreeAttribute[];
  rest: RawField[];
}

/** A ValueInfoProto whose tensor element type can be changed. */
export interface TreeValueInfo {
  name: string;
  /** Tensor element type, when the value is a tensor; other types are kept in `typeRest`. */
  elemType: number | undefined;
  /** The shape field of the tensor type, as it was. */
  shape: Uint8Array | undefined;
  /** The other fields of TypeProto (sequence, map, optional, denotation), as they were. */
  typeRest: RawField[];
  rest: RawField[];
}

export interface TreeGraph {
  name: string;
  nodes: TreeNode[];
  initializers: TreeTensor[];
  inputs: TreeValueInfo[];
  outputs: TreeValueInfo[];
  valueInfo: TreeValueInfo[];
  /** Names of the sparse initializers (kept, whole, in `rest`). */
  sparseNames: string[];
  rest: RawField[];
}

export interface TreeModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: { domain: string; version: number }[];
  graph: TreeGraph;
  /** Fields of ModelProto other than these, in order. */
  rest: RawField[];
}

function raw(bytes: Uint8Array, f: FieldHead, base: number): RawField {
  return { field: f.field, bytes: bytes.slice(f.start - base, f.end - base) };
}

/** Decodes a model tree from the source, one message read whole at a time. */
class TreeReader {
  readonly #window: Window;
  readonly #file: OnnxFile;
  /** Tensor entries of the opened file by the offset of their message. */
  readonly #tensors = new Map<number, { name: string; read: () => Promise<Uint8Array> }>();

  constructor(file: OnnxFile) {
    this.#file = file;
    this.#window = new Window(file.model.source);
    const byName = new Map(file.tensors.map((t) => [t.name, t]));
    for (const init of file.model.layout.initializers) {
      const entry = byName.get(init.name);
      if (entry) this.#tensors.set(init.start, { name: init.name, read: () => entry.read() });
    }
  }

  async #bytes(f: FieldHead): Promise<Uint8Array> {
    const length = f.end - f.start;
    if (length > MAX_SMALL_MESSAGE_BYTES) {
      throw new LimitError(
        `Cannot rewrite ONNX model: a ${length}-byte field at offset ${f.start} exceeds the limit of ${MAX_SMALL_MESSAGE_BYTES} bytes`,
        { limit: MAX_SMALL_MESSAGE_BYTES, actual: length },
      );
    }
    return (await this.#window.bytes(f.start, length)).slice();
  }

  async #string(f: FieldHead, what: string): Promise<string> {
    expectWire(f, WireType.LengthDelimited, what);
    const b = await this.#window.bytes(f.valueStart, f.end - f.valueStart);
    return new TextDecoder().decode(b);
  }

  async model(): Promise<TreeModel> {
    const source = this.#file.model.source;
    const model: TreeModel = {
      irVersion: 0,
      producerName: "",
      producerVersion: "",
      opsets: [],
      graph: undefined as unknown as TreeGraph,
      rest: [],
    };
    for await (const f of walkFields(this.#window, 0, source.size, "model")) {
      if (f.field === MODEL.irVersion) model.irVersion = Number(f.varint);
      else if (f.field === MODEL.producerName) model.producerName = await this.#string(f, "model");
      else if (f.field === MODEL.producerVersion) model.producerVersion = await this.#string(f, "model");
      else if (f.field === MODEL.graph) model.graph = await this.graph(f, 0);
      else if (f.field === MODEL.opsetImport) {
        const r = new BinaryReader(await this.#window.bytes(f.valueStart, f.end - f.valueStart));
        const opset = { domain: "", version: 0 };
        while (r.pos < r.len) {
          const [field, wire] = r.tag();
          if (field === OPSET.domain) opset.domain = r.string();
          else if (field === OPSET.version) opset.version = Number(r.int64());
          else r.skip(wire, field);
        }
        model.opsets.push(opset);
      } else model.rest.push(raw(await this.#bytes(f), f, f.start));
    }
    return model;
  }

  async graph(head: FieldHead, depth: number): Promise<TreeGraph> {
    if (depth > MAX_GRAPH_DEPTH) {
      throw new LimitError(`Cannot rewrite ONNX model: subgraphs nest more than ${MAX_GRAPH_DEPTH} deep`, {
        limit: MAX_GRAPH_DEPTH,
        actual: depth,
      });
    }
    const g: TreeGraph = {
      name: "",
      nodes: [],
      initializers: [],
      inputs: [],
      outputs: [],
      valueInfo: [],
      sparseNames: [],
      rest: [],
    };
    for await (const f of walkFields(this.#window, head.valueStart, head.end, "graph")) {
      switch (f.field) {
        case GRAPH.node:
          g.nodes.push(await this.#node(f, depth));
          break;
        case GRAPH.name:
          g.name = await this.#string(f, "graph");
          break;
        case GRAPH.initializer:
          g.initializers.push(await this.#tensor(f));
          break;
        case GRAPH.input:
          g.inputs.push(this.#valueInfo(await this.#bytes(f), f));
          break;
        case GRAPH.output:
          g.outputs.push(this.#valueInfo(await this.#bytes(f), f));
          break;
        case GRAPH.valueInfo:
          g.valueInfo.push(this.#valueInfo(await this.#bytes(f), f));
          break;
        case GRAPH.sparseInitializer:
          g.sparseNames.push(await this.#sparseName(f));
          g.rest.push(raw(await this.#bytesAny(f), f, f.start));
          break;
        default:
          g.rest.push(raw(await this.#bytesAny(f), f, f.start));
      }
    }
    return g;
  }

  /** The name of a SparseTensorProto: its values tensor's name. */
  async #sparseName(f: FieldHead): Promise<string> {
    for await (const x of walkFields(this.#window, f.valueStart, f.end, "sparse initializer")) {
      if (x.field !== 1) continue;
      for await (const y of walkFields(this.#window, x.valueStart, x.end, "sparse values")) {
        if (y.field === TENSOR.name) return await this.#string(y, "sparse values");
      }
    }
    return "";
  }

  /** Any field, however large (a sparse initializer), copied whole. */
  async #bytesAny(f: FieldHead): Promise<Uint8Array> {
    return (await this.#window.source.read(f.start, f.end - f.start)).slice();
  }

  async #tensor(f: FieldHead): Promise<TreeTensor> {
    expectWire(f, WireType.LengthDelimited, "tensor");
    const known = this.#tensors.get(f.start);
    const t: TreeTensor = { name: "", code: 0, dims: [], byteLength: 0, read: known?.read!, rest: [] };
    for await (const x of walkFields(this.#window, f.valueStart, f.end, "tensor")) {
      if (x.field === TENSOR.name) t.name = await this.#string(x, "tensor");
      else if (x.field === TENSOR.dataType) t.code = Number(BigInt.asIntN(32, x.varint));
      else if (x.field === TENSOR.dims) {
        if (x.wireType === WireType.Varint) t.dims.push(Number(BigInt.asIntN(64, x.varint)));
        else {
          const r = new BinaryReader(await this.#window.bytes(x.valueStart, x.end - x.valueStart));
          while (r.pos < r.len) t.dims.push(Number(r.int64()));
        }
      } else if (x.field === TENSOR.docString || x.field === 16 /* metadata_props */) {
        t.rest.push(raw(await this.#bytes(x), x, x.start));
      }
    }
    const dtype = ONNX_DTYPES.get(t.code);
    if (!known || dtype === undefined) {
      throw new FormatError(
        `Cannot rewrite ONNX model: tensor '${t.name}' at offset ${f.start} has a data type ckpt cannot read (${t.code})`,
        { offset: f.start, format: "onnx" },
      );
    }
    t.byteLength = byteLengthOf(dtype, t.dims);
    t.sourceName = known.name;
    return t;
  }

  #valueInfo(bytes: Uint8Array, f: FieldHead): TreeValueInfo {
    const v: TreeValueInfo = { name: "", elemType: undefined, shape: undefined, typeRest: [], rest: [] };
    const fail = (error: unknown): never => {
      throw new FormatError(
        `Cannot decode ONNX value info at offset ${f.start}: ${(error as Error).message}`,
        {
          offset: f.start,
          format: "onnx",
          cause: error,
        },
      );
    };
    try {
      const r = new BinaryReader(bytes);
      r.tag();
      r.uint32();
      const end = r.len;
      while (r.pos < end) {
        const start = r.pos;
        const [field, wire] = r.tag();
        if (field === VALUE_INFO.name && wire === WireType.LengthDelimited) v.name = r.string();
        else if (field === VALUE_INFO.type && wire === WireType.LengthDelimited) {
          const typeBytes = r.bytes();
          const tr = new BinaryReader(typeBytes);
          while (tr.pos < tr.len) {
            const s = tr.pos;
            const [tf, tw] = tr.tag();
            if (tf === TYPE.tensorType && tw === WireType.LengthDelimited) {
              const tensorBytes = tr.bytes();
              const ttr = new BinaryReader(tensorBytes);
              v.elemType = 0;
              while (ttr.pos < ttr.len) {
                const ss = ttr.pos;
                const [xf, xw] = ttr.tag();
                if (xf === TYPE_TENSOR.elemType && xw === WireType.Varint) v.elemType = ttr.int32();
                else if (xf === TYPE_TENSOR.shape) {
                  ttr.skip(xw, xf);
                  v.shape = tensorBytes.slice(ss, ttr.pos);
                } else ttr.skip(xw, xf);
              }
            } else {
              tr.skip(tw, tf);
              v.typeRest.push({ field: tf, bytes: typeBytes.slice(s, tr.pos) });
            }
          }
        } else {
          r.skip(wire, field);
          v.rest.push({ field, bytes: bytes.slice(start, r.pos) });
        }
      }
    } catch (error) {
      fail(error);
    }
    return v;
  }

  async #node(head: FieldHead, depth: number): Promise<TreeNode> {
    expectWire(head, WireType.LengthDelimited, "graph");
    const n: TreeNode = {
      inputs: [],
      outputs: [],
      name: "",
      opType: "",
      domain: "",
      attributes: [],
      rest: [],
    };
    for await (const f of walkFields(this.#window, head.valueStart, head.end, "node")) {
      if (f.field === NODE.input) n.inputs.push(await this.#string(f, "node"));
      else if (f.field === NODE.output) n.outputs.push(await this.#string(f, "node"));
      else if (f.field === NODE.name) n.name = await this.#string(f, "node");
      else if (f.field === NODE.opType) n.opType = await this.#string(f, "node");
      else if (f.field === NODE.domain) n.domain = await this.#string(f, "node");
      else if (f.field === NODE.attribute) n.attributes.push(await this.#attribute(f, depth));
      else n.rest.push(raw(await this.#bytes(f), f, f.start));
    }
    return n;
  }

  async #attribute(head: FieldHead, depth: number): Promise<TreeAttribute> {
    expectWire(head, WireType.LengthDelimited, "node");
    const a: TreeAttribute = { name: "", type: 0, rest: [] };
    for await (const f of walkFields(this.#window, head.valueStart, head.end, "attribute")) {
      switch (f.field) {
        case ATTRIBUTE.name:
          a.name = await this.#string(f, "attribute");
          break;
        case ATTRIBUTE.type:
          a.type = Number(f.varint);
          break;
        case ATTRIBUTE.i:
          a.i = BigInt.asIntN(64, f.varint);
          break;
        case ATTRIBUTE.f: {
          expectWire(f, WireType.Bit32, "attribute");
          const b = await this.#window.bytes(f.valueStart, 4);
          a.f = new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
          break;
        }
        case ATTRIBUTE.t:
          a.t = await this.#tensor(f);
          break;
        case ATTRIBUTE.tensors:
          (a.tensors ??= []).push(await this.#tensor(f));
          break;
        case ATTRIBUTE.g:
          a.g = await this.graph(f, depth + 1);
          break;
        case ATTRIBUTE.graphs:
          (a.graphs ??= []).push(await this.graph(f, depth + 1));
          break;
        default:
          a.rest.push(raw(await this.#bytes(f), f, f.start));
      }
    }
    return a;
  }
}

/** Decode `file`'s model into a tree (tensor data stays lazy). */
export async function readTree(file: OnnxFile): Promise<TreeModel> {
  const model = await new TreeReader(file).model();
  if (!model.graph) {
    throw new FormatError(`Cannot rewrite ONNX model: it has no graph`, { offset: 0, format: "onnx" });
  }
  return model;
}

// ---------------------------------------------------------------------------
// Encoding: a list of parts whose lengths are known before any tensor is read.

/** Bytes to write, or a tensor's values to read when written. */
export type Part = Uint8Array | { length: number; read: () => Promise<Uint8Array> };

export class Parts {
  readonly list: Part[] = [];
  length = 0;

  bytes(b: Uint8Array): this {
    this.list.push(b);
    this.length += b.length;
    return this;
  }

  lazy(length: number, read: () => Promise<Uint8Array>): this {
    this.list.push({ length, read });
    this.length += length;
    return this;
  }

  /** A length-delimited field holding `inner`. */
  message(field: number, inner: Parts): this {
    this.bytes(new BinaryWriter().tag(field, WireType.LengthDelimited).uint32(inner.length).finish());
    for (const p of inner.list) this.list.push(p);
    this.length += inner.length;
    return this;
  }

  /** Small fields written with a BinaryWriter. */
  write(body: (w: BinaryWriter) => void): this {
    const w = new BinaryWriter();
    body(w);
    return this.bytes(w.finish());
  }

  raws(fields: readonly RawField[]): this {
    for (const f of fields) this.bytes(f.bytes);
    return this;
  }
}

/** Where large tensors go when a model keeps its data in an external file. */
export interface ExternalTarget {
  /** The data file's name, relative to the model's folder. */
  location: string;
  /** Its contents so far. */
  parts: Parts;
  /** Tensors of at least this many bytes go there. */
  threshold: number;
  /** Each tensor's offset is a multiple of this. */
  alignment: number;
}

/** How tensors are encoded: all inline, or large ones in an external file. */
export interface EncodeContext {
  external?: ExternalTarget;
}

function externalEntry(w: BinaryWriter, key: string, value: string): void {
  w.tag(TENSOR.externalData, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).string(key);
  w.tag(2, WireType.LengthDelimited).string(value);
  w.join();
}

function encodeTensor(t: TreeTensor, ctx: EncodeContext): Parts {
  const p = new Parts();
  const ext = ctx.external && t.byteLength >= ctx.external.threshold ? ctx.external : undefined;
  let offset = 0;
  if (ext) {
    const pad = (ext.alignment - (ext.parts.length % ext.alignment)) % ext.alignment;
    if (pad > 0) ext.parts.bytes(new Uint8Array(pad));
    offset = ext.parts.length;
    ext.parts.lazy(t.byteLength, t.read);
  }
  p.write((w) => {
    if (t.dims.length > 0) {
      w.tag(TENSOR.dims, WireType.LengthDelimited).fork();
      for (const d of t.dims) w.int64(d);
      w.join();
    }
    w.tag(TENSOR.dataType, WireType.Varint).int32(t.code);
    w.tag(TENSOR.name, WireType.LengthDelimited).string(t.name);
    if (ext) {
      externalEntry(w, "location", ext.location);
      externalEntry(w, "offset", String(offset));
      externalEntry(w, "length", String(t.byteLength));
      w.tag(TENSOR.dataLocation, WireType.Varint).int32(1);
    } else w.tag(TENSOR.rawData, WireType.LengthDelimited).uint32(t.byteLength);
  });
  if (!ext) p.lazy(t.byteLength, t.read);
  p.raws(t.rest);
  return p;
}

function encodeValueInfo(v: TreeValueInfo): Parts {
  const p = new Parts();
  p.write((w) => w.tag(VALUE_INFO.name, WireType.LengthDelimited).string(v.name));
  const type = new Parts();
  if (v.elemType !== undefined) {
    const tensor = new Parts().write((w) => {
      if (v.elemType) w.tag(TYPE_TENSOR.elemType, WireType.Varint).int32(v.elemType);
    });
    if (v.shape) tensor.bytes(v.shape);
    type.message(TYPE.tensorType, tensor);
  }
  type.raws(v.typeRest);
  if (v.elemType !== undefined || v.typeRest.length > 0) p.message(VALUE_INFO.type, type);
  p.raws(v.rest);
  return p;
}

function encodeAttribute(a: TreeAttribute, ctx: EncodeContext): Parts {
  const p = new Parts();
  p.write((w) => w.tag(ATTRIBUTE.name, WireType.LengthDelimited).string(a.name));
  if (a.f !== undefined) p.write((w) => w.tag(ATTRIBUTE.f, WireType.Bit32).float(a.f!));
  if (a.i !== undefined) p.write((w) => w.tag(ATTRIBUTE.i, WireType.Varint).int64(a.i!));
  if (a.t) p.message(ATTRIBUTE.t, encodeTensor(a.t, ctx));
  if (a.g) p.message(ATTRIBUTE.g, encodeGraph(a.g, ctx));
  if (a.ints) {
    p.write((w) => {
      w.tag(ATTRIBUTE.ints, WireType.LengthDelimited).fork();
      for (const v of a.ints!) w.int64(v);
      w.join();
    });
  }
  for (const t of a.tensors ?? []) p.message(ATTRIBUTE.tensors, encodeTensor(t, ctx));
  for (const g of a.graphs ?? []) p.message(ATTRIBUTE.graphs, encodeGraph(g, ctx));
  p.raws(a.rest);
  p.write((w) => w.tag(ATTRIBUTE.type, WireType.Varint).int32(a.type));
  return p;
}

function encodeNode(n: TreeNode, ctx: EncodeContext): Parts {
  const p = new Parts().write((w) => {
    for (const i of n.inputs) w.tag(NODE.input, WireType.LengthDelimited).string(i);
    for (const o of n.outputs) w.tag(NODE.output, WireType.LengthDelimited).string(o);
    if (n.name) w.tag(NODE.name, WireType.LengthDelimited).string(n.name);
    w.tag(NODE.opType, WireType.LengthDelimited).string(n.opType);
  });
  for (const a of n.attributes) p.message(NODE.attribute, encodeAttribute(a, ctx));
  if (n.domain) p.write((w) => w.tag(NODE.domain, WireType.LengthDelimited).string(n.domain));
  p.raws(n.rest);
  return p;
}

export function encodeGraph(g: TreeGraph, ctx: EncodeContext): Parts {
  const p = new Parts();
  for (const n of g.nodes) p.message(GRAPH.node, encodeNode(n, ctx));
  p.write((w) => w.tag(GRAPH.name, WireType.LengthDelimited).string(g.name));
  for (const t of g.initializers) p.message(GRAPH.initializer, encodeTensor(t, ctx));
  for (const v of g.inputs) p.message(GRAPH.input, encodeValueInfo(v));
  for (const v of g.outputs) p.message(GRAPH.output, encodeValueInfo(v));
  for (const v of g.valueInfo) p.message(GRAPH.valueInfo, encodeValueInfo(v));
  p.raws(g.rest);
  return p;
}

/** The whole model as parts. */
export function encodeModel(m: TreeModel, ctx: EncodeContext = {}): Parts {
  const p = new Parts().write((w) => {
    w.tag(MODEL.irVersion, WireType.Varint).int64(m.irVersion);
    if (m.producerName) w.tag(MODEL.producerName, WireType.LengthDelimited).string(m.producerName);
    if (m.producerVersion) w.tag(MODEL.producerVersion, WireType.LengthDelimited).string(m.producerVersion);
  });
  p.message(MODEL.graph, encodeGraph(m.graph, ctx));
  for (const o of m.opsets) {
    p.write((w) => {
      w.tag(MODEL.opsetImport, WireType.LengthDelimited).fork();
      if (o.domain) w.tag(OPSET.domain, WireType.LengthDelimited).string(o.domain);
      w.tag(OPSET.version, WireType.Varint).int64(o.version);
      w.join();
    });
  }
  p.raws(m.rest);
  return p;
}

/** A new tensor of `dtype` holding `values` (or a reader of them). */
export function newTensor(
  name: string,
  code: number,
  dims: number[],
  values: Uint8Array | { length: number; read: () => Promise<Uint8Array> },
): TreeTensor {
  if (values instanceof Uint8Array) {
    return { name, code, dims, byteLength: values.length, read: () => Promise.resolve(values), rest: [] };
  }
  return { name, code, dims, byteLength: values.length, read: values.read, rest: [] };
}

/** The ckpt dtype of an ONNX type number. */
export function dtypeOf(code: number): DType | undefined {
  return ONNX_DTYPES.get(code);
}
