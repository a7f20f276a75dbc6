// From an unpickled object tree to lazy tensor entries and metadata: PyTorch's
// rebuild functions (torch/_utils.py), numpy's array reconstruction, module
// objects named as state_dict() names them, strided views read by gathering.

import { type DType, dtypeInfo, elementCount } from "../../lib/dtype.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";
import type { TensorEntry } from "../../lib/tensor.ts";
import {
  keyText,
  PickleGlobal,
  PickleObject,
  PicklePersistent,
  pickleToJson,
  PickleTuple,
  type PickleValue,
} from "../pickle/mod.ts";
import { NUMPY_DTYPES, TORCH_DTYPES } from "./_dtypes.ts";

/** A storage: a run of elements somewhere in the input. */
export interface TorchStorage {
  readonly key: string;
  readonly dtype: DType;
  /** Bytes per element. */
  readonly elementSize: number;
  /** Elements in the storage. */
  readonly numel: number;
  /** Bytes are big-endian (a `byteorder` record, or a numpy `>` dtype). */
  readonly bigEndian: boolean;
  /** Whether `read` without `out` may return a view the caller must not change. */
  readonly shared: boolean;
  /** Read `length` bytes at byte `at` of the storage. */
  read(at: number, length: number, out?: Uint8Array): Promise<Uint8Array>;
}

/** How a quantized tensor's codes map back to values (torch's quantizer parameters). */
export interface QuantParams {
  /** The quantized dtype: `qint8`, `quint8`, `qint32`, `quint4x2` or `quint2x4`. */
  readonly qdtype: string;
  /** The qscheme's name (`per_tensor_affine`, `per_channel_symmetric`, …). */
  readonly qscheme: string;
  /** Per tensor: the scale (a Python float) and the zero point. */
  readonly scale?: number;
  readonly zeroPoint?: number;
  /** Per channel: float64 scales and int64 (or float) zero points along `axis`. */
  readonly scales?: TensorRef;
  readonly zeroPoints?: TensorRef;
  readonly axis?: number;
}

/** A tensor: a strided view of a storage. */
export interface TensorRef {
  readonly storage: TorchStorage;
  readonly dtype: DType;
  /** Offset in elements of `dtype`. */
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  /** Set on quantized tensors (`_rebuild_qtensor`): `dtype` is then the codes' integer type. */
  readonly quant?: QuantParams;
}

// The quantized dtype a quantized storage class holds.
const QUANTIZED_STORAGES: Readonly<Record<string, string>> = {
  QInt8Storage: "qint8",
  QUInt8Storage: "quint8",
  QInt32Storage: "qint32",
  QUInt4x2Storage: "quint4x2",
  QUInt2x4Storage: "quint2x4",
};

/** Most nested levels followed when naming tensors. */
export const MAX_WALK_DEPTH = 256;
/** Most values visited when naming tensors (memo'd references can make a small pickle a huge tree). */
export const MAX_WALK_NODES = 1_000_000;

function fail(message: string): never {
  throw new FormatError(`Cannot read tensors: ${message}`, { format: "torch" });
}

function items(value: PickleValue | undefined): readonly PickleValue[] | undefined {
  if (value instanceof PickleTuple) return value.items;
  if (Array.isArray(value)) return value;
  if (
    value instanceof PickleObject && value.fullName === "torch.Size" && value.args[0] instanceof PickleTuple
  ) {
    return value.args[0].items;
  }
  return undefined;
}

function ints(value: PickleValue | undefined, what: string): number[] {
  const list = items(value);
  if (!list) fail(`${what} is not a tuple`);
  return list!.map((v) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(`${what} holds ${String(v)}`);
    return v as number;
  });
}

function int(value: PickleValue | undefined, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail(`${what} is ${String(value)}`);
  }
  return value as number;
}

function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** A storage over bytes held in memory (numpy pickles). */
export function memoryStorage(
  bytes: Uint8Array,
  dtype: DType,
  bigEndian: boolean,
  key: string,
): TorchStorage {
  const elementSize = dtypeInfo(dtype).bits / 8;
  return {
    key,
    dtype,
    elementSize,
    numel: Math.floor(bytes.length / elementSize),
    bigEndian,
    shared: true,
    read(at: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
      const view = bytes.subarray(at, at + length);
      if (!out) return Promise.resolve(view);
      const target = out.subarray(0, length);
      target.set(view);
      return Promise.resolve(target);
    },
  };
}

/** Strides (in elements) of a contiguous row-major tensor of `shape`. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = step;
    step *= shape[i];
  }
  return stride;
}

/** Check a view lies inside its storage; throws FormatError otherwise. */
function makeRef(
  storage: TorchStorage,
  dtype: DType,
  offset: number,
  shape: number[],
  stride: number[],
): TensorRef {
  if (shape.length !== stride.length) {
    fail(`size [${shape}] and stride [${stride}] of a tensor in storage '${storage.key}' differ in rank`);
  }
  const numel = elementCount(shape);
  const esize = dtypeInfo(dtype).bits / 8;
  if (numel > 0) {
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
    const storageBytes = storage.numel * storage.elementSize;
    if (!Number.isSafeInteger(last) || (last + 1) * esize > storageBytes) {
      fail(
        `a ${dtype} tensor of size [${shape}], stride [${stride}] at offset ${offset} reaches past ` +
          `storage '${storage.key}' (${storageBytes} bytes)`,
      );
    }
  }
  return { storage, dtype, offset, shape, stride };
}

function numpyDtype(value: PickleValue | undefined): { dtype: DType; bigEndian: boolean } | undefined {
  if (!(value instanceof PickleObject) || value.name !== "dtype" || !value.module.startsWith("numpy")) return;
  const code = value.args[0];
  if (typeof code !== "string") return;
  const dtype = NUMPY_DTYPES[code.replace(/^[<>=|]/, "")];
  if (!dtype) return;
  const state = items(value.state);
  const order = state && typeof state[1] === "string" ? state[1] : "<";
  return { dtype, bigEndian: order === ">" };
}

function toBytes(value: PickleValue | undefined): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return latin1Bytes(value);
  return undefined;
}

/** Turns tensor-producing records into references, once each (tied weights stay one object). */
export class TensorResolver {
  #cache = new Map<PickleValue, TensorRef | null>();
  #numpyCount = 0;

  resolve(value: PickleValue): TensorRef | undefined {
    if (!(value instanceof PickleObject)) return undefined;
    if (this.#cache.has(value)) return this.#cache.get(value) ?? undefined;
    this.#cache.set(value, null);
    const ref = this.#build(value);
    this.#cache.set(value, ref ?? null);
    return ref;
  }

  #build(obj: PickleObject): TensorRef | undefined {
    const a = obj.args;
    switch (obj.fullName) {
      case "torch._utils._rebuild_tensor":
      case "torch._utils._rebuild_tensor_v2":
      case "torch._utils._rebuild_tensor_v3": {
        const persistent = a[0];
        if (!(persistent instanceof PicklePersistent) || !isStorage(persistent.value)) {
          fail(`${obj.name} expects a storage, got ${describeValue(a[0])}`);
        }
        const storage = (persistent as PicklePersistent).value as TorchStorage;
        let dtype = storage.dtype;
        if (obj.name === "_rebuild_tensor_v3") {
          const d = a[6];
          if (!(d instanceof PickleGlobal) || d.module !== "torch" || !TORCH_DTYPES[d.name]) {
            fail(`_rebuild_tensor_v3 names an unsupported dtype ${describeValue(d)}`);
          }
          dtype = TORCH_DTYPES[(d as PickleGlobal).name];
        }
        return makeRef(storage, dtype, int(a[1], "storage offset"), ints(a[2], "size"), ints(a[3], "stride"));
      }
      case "torch._utils._rebuild_qtensor":
        return this.#qtensor(obj);
      case "torch._utils._rebuild_parameter":
      case "torch._utils._rebuild_parameter_with_state":
      case "torch.nn.parameter.Parameter":
        return a[0] === undefined ? undefined : this.resolve(a[0]);
      case "torch._tensor._rebuild_from_type_v2": {
        const func = a[0];
        const args = items(a[2]);
        if (!(func instanceof PickleGlobal) || !args) return undefined;
        return this.resolve(new PickleObject(func.module, func.name, args));
      }
      default:
        break;
    }
    if (obj.module.startsWith("numpy") && obj.name === "_frombuffer") {
      const bytes = toBytes(a[0]);
      const dt = numpyDtype(a[1]);
      if (!bytes || !dt) return undefined;
      return this.#numpy(bytes, dt, ints(a[2], "numpy shape"), a[3] === "F");
    }
    if (obj.module.startsWith("numpy") && obj.name === "_reconstruct") {
      const state = items(obj.state);
      if (!state) return undefined;
      // (version, shape, dtype, is_fortran, data), or the same without version.
      const s = state.length === 5 ? state.slice(1) : state;
      const dt = numpyDtype(s[1]);
      const bytes = toBytes(s[3]);
      if (!dt || !bytes) return undefined;
      return this.#numpy(bytes, dt, ints(s[0], "numpy shape"), s[2] === true);
    }
    return undefined;
  }

  // _rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params, requires_grad, backward_hooks)
  #qtensor(obj: PickleObject): TensorRef {
    const a = obj.args;
    const persistent = a[0];
    if (!(persistent instanceof PicklePersistent) || !isStorage(persistent.value)) {
      fail(`_rebuild_qtensor expects a storage, got ${describeValue(a[0])}`);
    }
    const storage = (persistent as PicklePersistent).value as TorchStorage;
    const pid = (persistent as PicklePersistent).pid;
    const type = pid instanceof PickleTuple ? pid.items[1] : undefined;
    const qdtype = type instanceof PickleGlobal ? QUANTIZED_STORAGES[type.name] : undefined;
    if (!qdtype) fail(`_rebuild_qtensor over a storage that is not quantized (${describeValue(type)})`);
    const params = items(a[4]);
    const scheme = params?.[0];
    if (!params || !(scheme instanceof PickleGlobal) || scheme.module !== "torch") {
      fail(`_rebuild_qtensor has no quantizer parameters (${describeValue(a[4])})`);
    }
    const qscheme = (scheme as PickleGlobal).name;
    const ref = makeRef(
      storage,
      storage.dtype,
      int(a[1], "storage offset"),
      ints(a[2], "size"),
      ints(a[3], "stride"),
    );
    let quant: QuantParams;
    if (qscheme === "per_tensor_affine" || qscheme === "per_tensor_symmetric") {
      const scale = params![1];
      const zeroPoint = params![2];
      if (typeof scale !== "number" || !Number.isFinite(scale) || typeof zeroPoint !== "number") {
        fail(`a ${qscheme} tensor has scale ${String(scale)} and zero point ${String(zeroPoint)}`);
      }
      quant = { qdtype: qdtype!, qscheme, scale: scale as number, zeroPoint: zeroPoint as number };
    } else if (
      qscheme === "per_channel_affine" || qscheme === "per_channel_symmetric" ||
      qscheme === "per_channel_affine_float_qparams"
    ) {
      const scales = this.resolve(params![1]);
      const zeroPoints = this.resolve(params![2]);
      const axis = int(params![3], "quantization axis");
      if (!scales || !zeroPoints) fail(`a ${qscheme} tensor has no scale or zero point tensors`);
      if (axis >= ref.shape.length) fail(`quantization axis ${axis} of a tensor of size [${ref.shape}]`);
      const channels = ref.shape[axis];
      for (const [what, t] of [["scales", scales!], ["zero points", zeroPoints!]] as const) {
        if (elementCount(t.shape) !== channels) {
          fail(
            `a ${qscheme} tensor of size [${ref.shape}] has ${
              elementCount(t.shape)
            } ${what} for ${channels} channels`,
          );
        }
      }
      quant = { qdtype: qdtype!, qscheme, scales: scales!, zeroPoints: zeroPoints!, axis };
    } else {
      fail(`unsupported qscheme torch.${qscheme}`);
    }
    return { ...ref, quant: quant! };
  }

  #numpy(
    bytes: Uint8Array,
    dt: { dtype: DType; bigEndian: boolean },
    shape: number[],
    fortran: boolean,
  ): TensorRef {
    const storage = memoryStorage(bytes, dt.dtype, dt.bigEndian, `numpy-${this.#numpyCount++}`);
    const stride = fortran ? rowMajorStrides([...shape].reverse()).reverse() : rowMajorStrides(shape);
    const numel = elementCount(shape);
    if (numel * storage.elementSize > bytes.length) {
      fail(
        `a numpy array of shape [${shape}] needs ${
          numel * storage.elementSize
        } bytes but has ${bytes.length}`,
      );
    }
    return makeRef(storage, dt.dtype, 0, shape, stride);
  }
}

function isStorage(value: unknown): value is TorchStorage {
  return typeof value === "object" && value !== null && "elementSize" in value && "read" in value;
}

function describeValue(value: PickleValue | undefined): string {
  if (value === undefined) return "nothing";
  if (value instanceof PickleObject || value instanceof PickleGlobal) return value.fullName;
  return JSON.stringify(pickleToJson(value))?.slice(0, 60) ?? String(value);
}

/** One named tensor found in the tree. */
export interface NamedTensor {
  readonly name: string;
  readonly ref: TensorRef;
}

/**
 * Walk an unpickled tree: tensors are named by their path (dict keys, list
 * indices, module attributes as `state_dict()` names them) joined with `.`;
 * subtrees without tensors become JSON metadata under their path.
 */
export function collectNamedTensors(
  root: PickleValue,
  resolver: TensorResolver,
): { tensors: NamedTensor[]; metadata: Record<string, string> } {
  const tensors: NamedTensor[] = [];
  const metadata: Record<string, string> = {};
  const names = new Set<string>();
  const hasTensorCache = new Map<unknown, boolean>();
  let visited = 0;

  const count = (): void => {
    if (++visited > MAX_WALK_NODES) {
      throw new LimitError(`Cannot read tensors: the object tree has more than ${MAX_WALK_NODES} values`, {
        limit: MAX_WALK_NODES,
        actual: visited,
      });
    }
  };
  const children = (value: PickleValue): [string, PickleValue][] => {
    if (value instanceof Map) return [...value].map(([k, v]) => [keyText(k), v]);
    if (Array.isArray(value)) return value.map((v, i) => [String(i), v]);
    if (value instanceof PickleTuple) return value.items.map((v, i) => [String(i), v]);
    if (value instanceof Set) return [...value].map((v, i) => [String(i), v]);
    if (value instanceof PickleObject) {
      const module = moduleState(value);
      if (module) return module;
      const out: [string, PickleValue][] = [];
      if (value.state instanceof Map) { for (const [k, v] of value.state) out.push([keyText(k), v]); }
      else if (value.state !== undefined) out.push(["state", value.state]);
      for (const [k, v] of value.dictItems) out.push([keyText(k), v]);
      value.listItems.forEach((v, i) => out.push([String(i), v]));
      return out;
    }
    return [];
  };
  const hasTensor = (value: PickleValue, depth: number): boolean => {
    if (value === null || typeof value !== "object" || value instanceof Uint8Array) return false;
    if (resolver.resolve(value)) return true;
    if (hasTensorCache.has(value)) return hasTensorCache.get(value)!;
    hasTensorCache.set(value, false);
    if (depth > MAX_WALK_DEPTH) return false;
    let found = false;
    for (const [, child] of children(value)) {
      count();
      if (hasTensor(child, depth + 1)) {
        found = true;
        break;
      }
    }
    hasTensorCache.set(value, found);
    return found;
  };
  const active = new Set<unknown>();
  const walk = (path: string, value: PickleValue, depth: number): void => {
    count();
    const ref = resolver.resolve(value);
    if (ref) {
      const name = path === "" ? "tensor" : path;
      if (names.has(name)) fail(`two tensors are both named '${name}'`);
      names.add(name);
      tensors.push({ name, ref });
      return;
    }
    if (!hasTensor(value, depth)) {
      if (value instanceof PickleObject && moduleState(value)) return;
      metadata[path === "" ? "value" : path] = JSON.stringify(pickleToJson(value));
      return;
    }
    if (depth > MAX_WALK_DEPTH) {
      throw new LimitError(
        `Cannot read tensors: objects nest deeper than ${MAX_WALK_DEPTH} levels at '${path}'`,
        {
          limit: MAX_WALK_DEPTH,
          actual: depth,
        },
      );
    }
    if (active.has(value)) return; // A cycle: the tensors were named on the way in.
    active.add(value);
    for (const [key, child] of children(value)) walk(path === "" ? key : `${path}.${key}`, child, depth + 1);
    active.delete(value);
  };
  walk("", root, 0);
  return { tensors, metadata };
}

// A pickled nn.Module: its BUILD state holds _parameters, _buffers and
// _modules; state_dict() names parameters and persistent buffers by
// attribute and recurses into submodules.
function moduleState(obj: PickleObject): [string, PickleValue][] | undefined {
  const state = obj.state;
  if (!(state instanceof Map) || !state.has("_parameters") || !state.has("_modules")) return undefined;
  const out: [string, PickleValue][] = [];
  const skip = state.get("_non_persistent_buffers_set");
  const nonPersistent = skip instanceof Set ? skip : new Set();
  for (const field of ["_parameters", "_buffers"]) {
    const map = state.get(field);
    if (!(map instanceof Map)) continue;
    for (const [k, v] of map) {
      if (v === null || (field === "_buffers" && nonPersistent.has(k))) continue;
      out.push([keyText(k), v]);
    }
  }
  const modules = state.get("_modules");
  if (modules instanceof Map) {
    for (const [k, v] of modules) if (v !== null) out.push([keyText(k), v]);
  }
  return out;
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

function swapBytes(bytes: Uint8Array, unit: number): void {
  for (let i = 0; i + unit <= bytes.length; i += unit) {
    for (let a = i, b = i + unit - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** Default bound on the bytes materialized from a view that repeats its storage's elements. */
export const MAX_EXPANDED_VIEW_BYTES = 256 * 1024 * 1024;

/**
 * Read a tensor's elements in row-major order, gathering strided views from their storage.
 * A view that repeats elements (stride 0, as `expand` makes) materializes more bytes than
 * the file holds, so it is bounded by `maxExpandedViewBytes`.
 */
export async function readTensor(
  ref: TensorRef,
  out?: Uint8Array,
  maxExpandedViewBytes: number = MAX_EXPANDED_VIEW_BYTES,
): Promise<Uint8Array> {
  const esize = dtypeInfo(ref.dtype).bits / 8;
  const numel = elementCount(ref.shape);
  const total = numel * esize;
  if (total > maxExpandedViewBytes) {
    const span = viewSpanElements(ref) * esize;
    if (total > span) {
      throw new LimitError(
        `Cannot read a ${ref.dtype} tensor of size [${ref.shape}], stride [${ref.stride}]: it repeats ` +
          `${span} stored bytes into ${total} bytes, over the limit of ${maxExpandedViewBytes} ` +
          `(the maxExpandedViewBytes option of openTorch raises it)`,
        { limit: maxExpandedViewBytes, actual: total },
      );
    }
  }
  if (out && out.length < total) {
    throw new RangeError(`Output buffer of ${out.length} bytes is smaller than ${total}`);
  }
  let result: Uint8Array;
  if (total === 0) {
    result = out ? out.subarray(0, 0) : new Uint8Array(0);
  } else if (isContiguous(ref.shape, ref.stride)) {
    result = await ref.storage.read(ref.offset * esize, total, out);
    if (ref.storage.bigEndian && !out && ref.storage.shared) result = result.slice();
  } else {
    const span = await ref.storage.read(ref.offset * esize, viewSpanElements(ref) * esize);
    result = out ? out.subarray(0, total) : new Uint8Array(total);
    // The innermost dimensions that are laid out contiguously are copied as one run.
    let k = ref.shape.length - 1;
    let run = 1;
    while (k >= 0 && (ref.shape[k] === 1 || ref.stride[k] === run)) {
      run *= ref.shape[k];
      k--;
    }
    const runBytes = run * esize;
    const outer = ref.shape.slice(0, k + 1);
    const index = new Array<number>(outer.length).fill(0);
    let src = 0;
    for (let dst = 0; dst < total; dst += runBytes) {
      const from = src * esize;
      if (runBytes === esize) {
        for (let b = 0; b < esize; b++) result[dst + b] = span[from + b];
      } else {
        result.set(span.subarray(from, from + runBytes), dst);
      }
      for (let d = outer.length - 1; d >= 0; d--) {
        index[d]++;
        src += ref.stride[d];
        if (index[d] < outer[d]) break;
        src -= ref.stride[d] * index[d];
        index[d] = 0;
      }
    }
  }
  if (ref.storage.bigEndian && esize > 1) {
    swapBytes(result, ref.dtype === "C64" || ref.dtype === "C128" ? esize / 2 : esize);
  }
  return result;
}

/** Elements of storage a non-empty view reaches (strides are never negative, so it spans [offset, last]). */
function viewSpanElements(ref: TensorRef): number {
  let span = 1;
  for (let i = 0; i < ref.shape.length; i++) span += (ref.shape[i] - 1) * ref.stride[i];
  return span;
}

/** A lazy entry over a tensor reference. */
export function tensorEntry(
  name: string,
  ref: TensorRef,
  maxExpandedViewBytes: number = MAX_EXPANDED_VIEW_BYTES,
): TensorEntry {
  const byteLength = elementCount(ref.shape) * (dtypeInfo(ref.dtype).bits / 8);
  return {
    name,
    dtype: ref.dtype,
    shape: [...ref.shape],
    byteLength,
    read: (out?: Uint8Array) => readTensor(ref, out, maxExpandedViewBytes),
  };
}

/**
 * Keep one name per identical view of a shared storage (the first in sorted
 * order, as Hugging Face's converter does) and record `{removed: kept}`.
 */
export function dedupeShared(tensors: NamedTensor[], metadata: Record<string, string>): NamedTensor[] {
  const groups = new Map<string, NamedTensor[]>();
  const storageIds = new Map<TorchStorage, number>();
  for (const t of tensors) {
    if (!storageIds.has(t.ref.storage)) storageIds.set(t.ref.storage, storageIds.size);
    const key = `${
      storageIds.get(t.ref.storage)
    }|${t.ref.dtype}|${t.ref.offset}|${t.ref.shape}|${t.ref.stride}`;
    const group = groups.get(key);
    if (group) group.push(t);
    else groups.set(key, [t]);
  }
  const removed = new Set<string>();
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const sorted = group.map((t) => t.name).sort();
    for (const name of sorted.slice(1)) {
      removed.add(name);
      metadata[name] = sorted[0];
    }
  }
  return tensors.filter((t) => !removed.has(t.name));
}
