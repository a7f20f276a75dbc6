/**
 * Open PyTorch checkpoints (`.pt`, `.pth`, `.bin`, `.ckpt`) and plain pickles
 * of numpy arrays without running their pickles: the zip format (torch ≥ 1.6),
 * the legacy stream format, and `pickle.dump` files.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import { dtypeInfo } from "../../lib/dtype.ts";
import { FormatError, LimitError, TruncatedError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type TensorFile, tensorFile } from "../../lib/tensor.ts";
import {
  HIGHEST_PROTOCOL,
  type LoadedPickle,
  loadPickle,
  NUMPY_ARRAY_GLOBALS,
  OP,
  PickleGlobal,
  PickleTuple,
  type PickleValue,
} from "../pickle/mod.ts";
import { openZip, readZipEntry, sniffZip, type ZipArchive, type ZipEntry } from "../zip/mod.ts";
import { STORAGE_DTYPES } from "./_dtypes.ts";
import {
  collectNamedTensors,
  dedupeShared,
  MAX_EXPANDED_VIEW_BYTES,
  type NamedTensor,
  TensorResolver,
  type TensorResolver as Resolver,
  type TorchStorage,
} from "./_tensors.ts";
import { torchEntries, unpackLinearParams } from "./_quantized.ts";

/** Options for {@linkcode openTorch}. */
export interface OpenTorchOptions extends OpenOptions {
  /** Accept pickle globals outside the allowlist as inert placeholders. @default false */
  permissive?: boolean;
  /** Extra `module.name` globals to allow in pickles. @default [] */
  allowGlobals?: readonly string[];
  /**
   * Keep one name per shared storage view and record each dropped alias in
   * the metadata as `{removed: kept}`, as Hugging Face's converter does. Off,
   * every name is listed with its own bytes. @default false
   */
  dedupeShared?: boolean;
  /** Largest pickle (`data.pkl`, a legacy prefix, a whole `.pkl`) to read into memory, in bytes. @default 2147483648 (2 GiB) */
  maxPickleBytes?: number;
  /**
   * Most bytes to materialize from a view that repeats its storage's elements (stride 0, as
   * `tensor.expand` saves): such a tensor reads larger than the file. @default 268435456 (256 MiB)
   */
  maxExpandedViewBytes?: number;
}

/** A PyTorch or pickle file opened by {@linkcode openTorch}. */
export interface TorchFile extends TensorFile {
  /** `torch` (zip or legacy checkpoints) or `pickle` (a plain pickle, e.g. of numpy arrays). */
  readonly format: "torch" | "pickle";
  /** Which layout the file has. */
  readonly layout: "zip" | "legacy" | "pickle";
  /** Globals outside the allowlist read as inert placeholders (only with `permissive`). */
  readonly placeholders: readonly string[];
}

/** Default bound on a pickle read into memory. */
export const MAX_PICKLE_BYTES = 2 * 1024 * 1024 * 1024;

/** The legacy format's magic number, pickled first (torch/serialization.py MAGIC_NUMBER). */
export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/**
 * True when `head` starts a zip archive whose first member is a PyTorch
 * record (`<folder>/data.pkl`, `<folder>/version`, …).
 *
 * @example
 * ```ts
 * import { isTorchZip } from "./open_torch.ts";
 * console.log(isTorchZip(new Uint8Array(4))); // false
 * ```
 */
export function isTorchZip(head: Uint8Array): boolean {
  if (head.length < 30 || !sniffZip(head)) return false;
  const nameLength = head[26] | (head[27] << 8);
  if (30 + nameLength > head.length) return false;
  const name = new TextDecoder().decode(head.subarray(30, 30 + nameLength));
  return /^[^/]+\/(data\.pkl|version|byteorder|\.format_version|\.storage_alignment|data\/\d+|\.data\/.+)$/
    .test(name);
}

/**
 * True when `head` starts a legacy (pre-1.6) PyTorch file: a pickle of the
 * magic number.
 *
 * @example
 * ```ts
 * import { isLegacyTorch } from "./open_torch.ts";
 * console.log(isLegacyTorch(new Uint8Array([0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]))); // true
 * ```
 */
export function isLegacyTorch(head: Uint8Array): boolean {
  return head.length >= 2 + LEGACY_MAGIC_PICKLED.length && head[0] === OP.PROTO &&
    head[1] <= HIGHEST_PROTOCOL &&
    LEGACY_MAGIC_PICKLED.every((b, i) => head[2 + i] === b);
}

// LONG1 of the magic number's 10 little-endian bytes, as pickle writes it after PROTO.
const LEGACY_MAGIC_PICKLED: readonly number[] = [
  OP.LONG1,
  10,
  ...Array.from({ length: 10 }, (_, i) => Number((LEGACY_MAGIC >> BigInt(8 * i)) & 0xffn)),
];

function fail(source: ByteSource, message: string, offset = -1): never {
  throw new FormatError(`Cannot read PyTorch file ${source.name}: ${message}`, { offset, format: "torch" });
}

function storageDtype(
  source: ByteSource,
  type: PickleValue,
): { dtype: ReturnType<typeof dtypeOf>; name: string } {
  const name = type instanceof PickleGlobal ? type.fullName : String(type);
  return { dtype: dtypeOf(source, type), name };
}

function dtypeOf(source: ByteSource, type: PickleValue) {
  if (!(type instanceof PickleGlobal) || !type.module.startsWith("torch") || !STORAGE_DTYPES[type.name]) {
    fail(source, `unsupported storage type ${type instanceof PickleGlobal ? type.fullName : String(type)}`);
  }
  return STORAGE_DTYPES[(type as PickleGlobal).name];
}

function pidParts(source: ByteSource, pid: PickleValue, min: number): readonly PickleValue[] {
  const parts = pid instanceof PickleTuple ? pid.items : undefined;
  if (!parts || parts.length < min || parts[0] !== "storage") {
    fail(source, `unsupported persistent id (expected a 'storage' tuple)`);
  }
  return parts!;
}

function count(source: ByteSource, value: PickleValue, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail(source, `${what} is ${String(value)}`);
  }
  return value as number;
}

/**
 * Open a PyTorch checkpoint or a plain pickle from a source. Only the pickle
 * is read up front; tensor bytes stay in the file until an entry is read
 * (contiguous tensors straight from their zip record, views gathered).
 * Globals outside the allowlist throw `UnsafePickleError` naming all of them,
 * unless `permissive`.
 *
 * @example
 * ```ts ignore
 * import { openTorch } from "./open_torch.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * const file = await openTorch(await fileSource("model.pt"));
 * for (const t of file.tensors) console.log(t.name, t.dtype, t.shape);
 * await file.close();
 * ```
 */
export async function openTorch(source: ByteSource, options: OpenTorchOptions = {}): Promise<TorchFile> {
  const head = await source.read(0, Math.min(source.size, 64));
  if (sniffZip(head)) return await openZipTorch(source, options);
  if (isLegacyTorch(head)) return await openLegacyTorch(source, options);
  return await openPlainPickle(source, options);
}

function checkPickleSize(source: ByteSource, size: number, options: OpenTorchOptions, what: string): void {
  const limit = options.maxPickleBytes ?? MAX_PICKLE_BYTES;
  if (size > limit) {
    throw new LimitError(
      `Cannot read PyTorch file ${source.name}: its ${what} of ${size} bytes exceeds the limit of ${limit}`,
      { limit, actual: size },
    );
  }
}

async function finish(
  source: ByteSource,
  loaded: LoadedPickle,
  resolver: Resolver,
  options: OpenTorchOptions,
  format: "torch" | "pickle",
  layout: "zip" | "legacy" | "pickle",
  extraMetadata: Record<string, string> = {},
): Promise<TorchFile> {
  const { tensors, metadata } = collectNamedTensors(loaded.value, resolver);
  let kept: NamedTensor[] = unpackLinearParams(tensors);
  const meta = { ...extraMetadata, ...metadata };
  if (options.dedupeShared) kept = dedupeShared(kept, meta);
  return tensorFile({
    format,
    layout,
    metadata: meta,
    tensors: await torchEntries(kept, meta, options.maxExpandedViewBytes ?? MAX_EXPANDED_VIEW_BYTES),
    placeholders: loaded.placeholders,
    fileBytes: source.size,
    close: () => source.close(),
  });
}

async function openZipTorch(source: ByteSource, options: OpenTorchOptions): Promise<TorchFile> {
  const zip = await openZip(source);
  const first = zip.entries[0];
  if (!first) fail(source, "the zip archive is empty");
  // torch reads every record under the folder of the archive's first member.
  const slash = first.name.indexOf("/");
  const prefix = slash < 0 ? "" : first.name.slice(0, slash + 1);
  const pkl = zip.entry(`${prefix}data.pkl`);
  if (!pkl) fail(source, `the zip archive has no ${prefix}data.pkl record`);
  checkPickleSize(source, pkl!.size, options, "data.pkl");
  const data = await readZipEntry(zip, pkl!);
  const byteorder = zip.entry(`${prefix}byteorder`);
  let bigEndian = false;
  if (byteorder) {
    const text = new TextDecoder().decode(await readZipEntry(zip, byteorder, { maxInflatedBytes: 16 }));
    if (text !== "little" && text !== "big") fail(source, `byteorder record says '${text.slice(0, 20)}'`);
    bigEndian = text === "big";
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PickleValue): unknown => {
    const parts = pidParts(source, pid, 5);
    const { dtype } = storageDtype(source, parts[1]);
    const key = String(parts[2]);
    const cached = storages.get(key);
    if (cached) return cached;
    const numel = count(source, parts[4], `element count of storage '${key}'`);
    const record = zip.entry(`${prefix}data/${key}`);
    if (!record) fail(source, `storage record ${prefix}data/${key} is missing`);
    const storage = zipStorage(source, zip, record!, key, dtype, numel, bigEndian);
    storages.set(key, storage);
    return storage;
  };
  const loaded = loadPickle(data, {
    permissive: options.permissive,
    allowGlobals: options.allowGlobals,
    persistentLoad,
    name: `${source.name}:${pkl!.name}`,
  });
  return await finish(source, loaded, new TensorResolver(), options, "torch", "zip");
}

function zipStorage(
  source: ByteSource,
  zip: ZipArchive,
  record: ZipEntry,
  key: string,
  dtype: ReturnType<typeof dtypeOf>,
  numel: number,
  bigEndian: boolean,
): TorchStorage {
  const elementSize = dtypeInfo(dtype).bits / 8;
  const bytes = numel * elementSize;
  if (record.size < bytes) {
    fail(
      source,
      `storage record ${record.name} has ${record.size} bytes but ${numel} ${dtype} elements need ${bytes}`,
    );
  }
  let inflated: Promise<Uint8Array> | undefined;
  return {
    key,
    dtype,
    elementSize,
    numel,
    bigEndian,
    shared: record.method !== 0,
    read(at: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
      if (record.method === 0) return source.read(record.dataOffset + at, length, out);
      // Deflated records (rare: torch stores) are inflated once and kept.
      inflated ??= readZipEntry(zip, record);
      return inflated.then((all) => {
        const view = all.subarray(at, at + length);
        if (!out) return view;
        const target = out.subarray(0, length);
        target.set(view);
        return target;
      });
    },
  };
}

async function openLegacyTorch(source: ByteSource, options: OpenTorchOptions): Promise<TorchFile> {
  const limit = Math.min(source.size, options.maxPickleBytes ?? MAX_PICKLE_BYTES);
  let length = Math.min(limit, 1024 * 1024);
  // The pickles' total length is not recorded: read a prefix and grow it until they all fit.
  while (true) {
    const prefix = await source.read(0, length);
    try {
      return await parseLegacy(source, prefix, options);
    } catch (error) {
      if (error instanceof TruncatedError && length < limit && error.offset >= 0 && error.offset <= length) {
        length = Math.min(limit, length * 4);
        continue;
      }
      throw error;
    }
  }
}

async function parseLegacy(
  source: ByteSource,
  prefix: Uint8Array,
  options: OpenTorchOptions,
): Promise<TorchFile> {
  const name = source.name;
  const magic = loadPickle(prefix, { name });
  if (magic.value !== LEGACY_MAGIC) fail(source, "invalid legacy magic number", 0);
  const protocol = loadPickle(prefix, { offset: magic.end, name });
  if (protocol.value !== LEGACY_PROTOCOL) {
    fail(source, `unsupported legacy protocol version ${String(protocol.value)}`, magic.end);
  }
  const sysInfo = loadPickle(prefix, { offset: protocol.end, name });
  const littleEndian = !(sysInfo.value instanceof Map) || sysInfo.value.get("little_endian") !== false;
  interface Pending {
    key: string;
    dtype: ReturnType<typeof dtypeOf>;
    numel: number;
    dataOffset: number;
  }
  const roots = new Map<string, Pending>();
  const storages = new Map<string, TorchStorage>();
  const storageOver = (root: Pending, start: number, numel: number, key: string): TorchStorage => {
    const elementSize = dtypeInfo(root.dtype).bits / 8;
    return {
      key,
      dtype: root.dtype,
      elementSize,
      numel,
      bigEndian: !littleEndian,
      shared: false,
      read(at: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
        return source.read(root.dataOffset + start * elementSize + at, length, out);
      },
    };
  };
  const persistentLoad = (pid: PickleValue): unknown => {
    const parts = pidParts(source, pid, 6);
    const dtype = dtypeOf(source, parts[1]);
    const rootKey = String(parts[2]);
    const numel = count(source, parts[4], `element count of storage '${rootKey}'`);
    let root = roots.get(rootKey);
    if (!root) {
      root = { key: rootKey, dtype, numel, dataOffset: -1 };
      roots.set(rootKey, root);
    }
    const view = parts[5] instanceof PickleTuple ? parts[5].items : undefined;
    if (!view) {
      let storage = storages.get(rootKey);
      if (!storage) {
        storage = storageOver(root, 0, numel, rootKey);
        storages.set(rootKey, storage);
      }
      return storage;
    }
    // (view_key, offset, view_size): an old-style storage view into the root storage.
    const viewKey = String(view[0]);
    const offset = count(source, view[1], `offset of storage view '${viewKey}'`);
    const size = count(source, view[2], `size of storage view '${viewKey}'`);
    if (offset + size > numel) fail(source, `storage view '${viewKey}' reaches past storage '${rootKey}'`);
    let storage = storages.get(viewKey);
    if (!storage) {
      storage = storageOver(root, offset, size, viewKey);
      storages.set(viewKey, storage);
    }
    return storage;
  };
  const object = loadPickle(prefix, {
    offset: sysInfo.end,
    permissive: options.permissive,
    allowGlobals: options.allowGlobals,
    persistentLoad,
    name,
  });
  const keys = loadPickle(prefix, { offset: object.end, name });
  if (!Array.isArray(keys.value)) fail(source, "the storage key list is not a list", object.end);
  let at = keys.end;
  for (const key of keys.value as PickleValue[]) {
    const root = roots.get(String(key));
    if (!root) fail(source, `storage '${String(key)}' is listed but no tensor uses it`, at);
    const header = await source.read(at, 8);
    const numel = new DataView(header.buffer, header.byteOffset, 8).getBigInt64(0, littleEndian);
    if (numel < 0n || numel > BigInt(source.size)) {
      fail(source, `storage '${root!.key}' declares ${numel} elements`, at);
    }
    const bytes = Number(numel) * (dtypeInfo(root!.dtype).bits / 8);
    if (Number(numel) < root!.numel) {
      fail(source, `storage '${root!.key}' holds ${numel} elements but its tensors use ${root!.numel}`, at);
    }
    if (at + 8 + bytes > source.size) {
      throw new TruncatedError(
        `Cannot read PyTorch file ${name}: storage '${root!.key}' (${bytes} bytes at ${
          at + 8
        }) runs past the end of the file (${source.size} bytes)`,
        { offset: at + 8 },
      );
    }
    root!.dataOffset = at + 8;
    at += 8 + bytes;
  }
  for (const root of roots.values()) {
    if (root.dataOffset < 0) fail(source, `storage '${root.key}' is used but not in the storage key list`);
  }
  const file = await finish(source, object, new TensorResolver(), options, "torch", "legacy");
  legacyEnds.set(file, at);
  return file;
}

const legacyEnds = new WeakMap<TorchFile, number>();

/**
 * Where a legacy checkpoint's last storage ends (anything after it is not
 * part of the checkpoint). Opens the file permissively; reads no tensor data.
 *
 * @example
 * ```ts ignore
 * import { legacyDataEnd } from "./open_torch.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * const source = await fileSource("old.pt");
 * console.log(await legacyDataEnd(source), source.size);
 * ```
 */
export async function legacyDataEnd(source: ByteSource, options: OpenTorchOptions = {}): Promise<number> {
  const file = await openLegacyTorch(source, { ...options, permissive: true });
  return legacyEnds.get(file)!;
}

async function openPlainPickle(source: ByteSource, options: OpenTorchOptions): Promise<TorchFile> {
  checkPickleSize(source, source.size, options, "pickle");
  const bytes = await source.read(0, source.size);
  const loaded = loadPickle(bytes, {
    permissive: options.permissive,
    // numpy's array reconstruction is read, never called: plain pickles of arrays open by default.
    allowGlobals: [...NUMPY_ARRAY_GLOBALS, ...(options.allowGlobals ?? [])],
    persistentLoad: () =>
      fail(source, "a plain pickle refers to persistent ids (storages outside the pickle)"),
    name: source.name,
  });
  return await finish(source, loaded, new TensorResolver(), options, "pickle", "pickle");
}
