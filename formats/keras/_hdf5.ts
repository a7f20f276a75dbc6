// HDF5 access through h5wasm (the HDF5 C library compiled to WebAssembly).
//
// h5wasm opens files from its Emscripten file system. Instead of copying a
// whole file into it, each open file is a file-system node whose reads are
// served synchronously by a SyncReader (positioned reads on a local file, or a
// view of bytes already in memory), so HDF5 itself reads only the metadata it
// walks and the datasets asked for.

import type { DType } from "../../lib/dtype.ts";
import { dtypeInfo } from "../../lib/dtype.ts";
import { FormatError, LimitError, TruncatedError } from "../../lib/errors.ts";

/** Synchronous positioned reads, as the HDF5 library needs them. */
export interface SyncReader {
  readonly size: number;
  /** Fill `target` from `position`; returns the bytes read (fewer only at the end). */
  readAt(position: number, target: Uint8Array): number;
  close(): void;
}

/** Reads from `[base, base + size)` of a local file. */
export function fileRangeReader(path: string, base: number, size: number): SyncReader {
  const file = Deno.openSync(path, { read: true });
  let closed = false;
  return {
    size,
    readAt(position: number, target: Uint8Array): number {
      const length = Math.max(0, Math.min(target.length, size - position));
      file.seekSync(base + position, Deno.SeekMode.Start);
      let done = 0;
      while (done < length) {
        const n = file.readSync(target.subarray(done, length));
        if (n === null || n === 0) break;
        done += n;
      }
      return done;
    },
    close(): void {
      if (!closed) {
        closed = true;
        file.close();
      }
    },
  };
}

/** Reads from bytes in memory. */
export function bytesReader(bytes: Uint8Array): SyncReader {
  return {
    size: bytes.length,
    readAt(position: number, target: Uint8Array): number {
      const view = bytes.subarray(position, Math.min(bytes.length, position + target.length));
      target.set(view);
      return view.length;
    },
    close(): void {},
  };
}

/** The HDF5 signature, at offset 0 (or 512, 1024, … after a user block). */
export const HDF5_MAGIC: Uint8Array = Uint8Array.of(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a);

/** True when `head` starts with the HDF5 signature at 0 or at a power-of-two user-block offset it covers. */
export function hasHdf5Magic(head: Uint8Array): boolean {
  for (let at = 0; at + 8 <= head.length; at = at === 0 ? 512 : at * 2) {
    if (HDF5_MAGIC.every((b, i) => head[at + i] === b)) return true;
  }
  return false;
}

// Largest rank HDF5 allows.
const MAX_RANK = 32;
// Deflate expands at most ~1032x: a filtered dataset cannot honestly hold more than this per stored byte.
const MAX_FILTER_RATIO = 1100;
// Bytes one read asks of the WebAssembly heap; larger datasets are read in slices along their first axis.
const READ_SLICE_BYTES = 64 * 1024 * 1024;

/** What a dataset holds, checked against the file's size. */
export interface H5DatasetInfo {
  readonly path: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

// deno-lint-ignore no-explicit-any
type Any = any;
let modulePromise: Promise<{ h5wasm: Any; Module: Any }> | undefined;

/** Load and start the HDF5 library (once). */
export function loadH5wasm(): Promise<{ h5wasm: Any; Module: Any }> {
  // Imported on first use: the module carries a 4 MB WebAssembly build that
  // other formats' users should not pay for at start-up.
  modulePromise ??= import("h5wasm").then(async (mod) => {
    const h5wasm = mod.default;
    const Module = await h5wasm.ready;
    // HDF5 errors become exceptions carrying the error stack, instead of text on stderr.
    Module.activate_throwing_error_handler();
    Module.FS.mkdir("/ckpt");
    return { h5wasm, Module };
  });
  return modulePromise;
}

let fileCounter = 0;

/** The innermost HDF5 error message in an h5wasm error stack. */
function hdf5Detail(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = [...text.matchAll(/#\d+: .*? in (\S+)\(\): (.*)$/gm)];
  if (lines.length === 0) return text.split("\n")[0].trim() || "unknown HDF5 error";
  const last = lines[lines.length - 1];
  const first = lines[0];
  return first === last ? `${last[2]}` : `${first[2]} (${last[2]})`;
}

/** An open HDF5 file. */
export class Hdf5File {
  readonly name: string;
  readonly size: number;
  #Module: Any;
  #file: Any;
  #fsPath: string;
  #reader: SyncReader;
  #closed = false;

  private constructor(name: string, reader: SyncReader, Module: Any, file: Any, fsPath: string) {
    this.name = name;
    this.size = reader.size;
    this.#reader = reader;
    this.#Module = Module;
    this.#file = file;
    this.#fsPath = fsPath;
  }

  /** Open HDF5 bytes served by `reader`; `name` is used in messages. Takes ownership of `reader`. */
  static async open(reader: SyncReader, name: string): Promise<Hdf5File> {
    let h5: Any, Module: Any;
    try {
      ({ h5wasm: h5, Module } = await loadH5wasm());
    } catch (error) {
      reader.close();
      throw error;
    }
    const FS = Module.FS;
    const fsPath = `/ckpt/${++fileCounter}.h5`;
    try {
      FS.writeFile(fsPath, new Uint8Array(0));
      const node = FS.lookupPath(fsPath).node;
      // The node reports the source's size and serves reads from it.
      node.usedBytes = reader.size;
      node.stream_ops = {
        ...node.stream_ops,
        read(_stream: unknown, buffer: Uint8Array, offset: number, length: number, position: number): number {
          if (position >= reader.size) return 0;
          return reader.readAt(position, new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length));
        },
        write(): number {
          throw new FS.ErrnoError(30); // EROFS: the file is opened read-only
        },
      };
    } catch (error) {
      reader.close();
      throw error;
    }
    if (reader.size < 8) {
      FS.unlink(fsPath);
      reader.close();
      throw new TruncatedError(`Cannot read HDF5 file ${name}: ${reader.size} bytes is too short`, {
        offset: 0,
      });
    }
    const head = new Uint8Array(Math.min(reader.size, 4096));
    reader.readAt(0, head);
    if (!hasHdf5Magic(head)) {
      FS.unlink(fsPath);
      reader.close();
      throw new FormatError(`Cannot read ${name}: it has no HDF5 signature`, { offset: 0, format: "hdf5" });
    }
    let file: Any;
    try {
      file = new h5.File(fsPath, "r");
    } catch (error) {
      FS.unlink(fsPath);
      reader.close();
      const detail = hdf5Detail(error);
      if (/truncated file/i.test(detail)) {
        throw new TruncatedError(`Cannot open HDF5 file ${name}: it is truncated (${detail})`, {
          offset: reader.size,
          cause: error,
        });
      }
      throw new FormatError(`Cannot open HDF5 file ${name}: ${detail}`, { format: "hdf5", cause: error });
    }
    return new Hdf5File(name, reader, Module, file, fsPath);
  }

  #call<T>(what: string, fn: () => T): T {
    if (this.#closed) throw new TypeError(`Cannot read ${this.name}: it is closed`);
    try {
      return fn();
    } catch (error) {
      if (error instanceof FormatError || error instanceof LimitError || error instanceof TruncatedError) {
        throw error;
      }
      if (error instanceof WebAssembly.RuntimeError) {
        throw new FormatError(
          `Cannot read ${what} in HDF5 file ${this.name}: the HDF5 library failed (${error.message})`,
          {
            format: "hdf5",
            cause: error,
          },
        );
      }
      throw new FormatError(`Cannot read ${what} in HDF5 file ${this.name}: ${hdf5Detail(error)}`, {
        format: "hdf5",
        cause: error,
      });
    }
  }

  /** `"group"`, `"dataset"`, or `"other"` (committed types, broken links) for the object at `path`. */
  kind(path: string): "group" | "dataset" | "other" {
    return this.#call(`'${path}'`, () => {
      const type = this.#Module.get_type(this.#file.file_id, path || "/");
      return type === 0 ? "group" : type === 1 ? "dataset" : "other";
    });
  }

  /** Child names of the group at `path`, in HDF5's (name) order. */
  keys(path: string): string[] {
    return this.#call(
      `group '${path || "/"}'`,
      () => this.#Module.get_names(this.#file.file_id, path || "/", false),
    );
  }

  /** Attribute names of the object at `path`. */
  attributeNames(path: string): string[] {
    return this.#call(
      `attributes of '${path || "/"}'`,
      () => this.#Module.get_attribute_names(this.#file.file_id, path || "/"),
    );
  }

  /** An attribute as JSON-compatible data (strings, numbers, arrays), or undefined when absent. */
  attribute(path: string, name: string): unknown {
    return this.#call(`attribute '${name}' of '${path || "/"}'`, () => {
      const names: string[] = this.#Module.get_attribute_names(this.#file.file_id, path || "/");
      if (!names.includes(name)) return undefined;
      const entity = path ? this.#file.get(path) : this.#file;
      return entity.get_attribute(name, true);
    });
  }

  /**
   * Describe the dataset at `path` for tensor `tensor`, checking its type,
   * rank and size: a dataset declaring more bytes than its file could hold
   * is refused before anything is read.
   */
  dataset(path: string, tensor: string): H5DatasetInfo {
    const meta = this.#call(
      `tensor '${tensor}'`,
      () => this.#Module.get_dataset_metadata(this.#file.file_id, path),
    ) as {
      type: number;
      size: number;
      signed: boolean;
      shape: number[] | null;
      enum_type?: { members: Record<string, number> };
    };
    const where = `tensor '${tensor}' (dataset '${path}') in ${this.name}`;
    const dtype = this.#dtype(meta, path, where);
    if (meta.shape === null) {
      throw new FormatError(`Cannot read ${where}: it has no dataspace`, { format: "hdf5" });
    }
    if (meta.shape.length > MAX_RANK) {
      throw new LimitError(`Cannot read ${where}: rank ${meta.shape.length} exceeds ${MAX_RANK}`, {
        limit: MAX_RANK,
        actual: meta.shape.length,
      });
    }
    let elements = 1;
    for (const dim of meta.shape) {
      if (!Number.isSafeInteger(dim) || dim < 0) {
        throw new LimitError(`Cannot read ${where}: dimension ${dim} is out of range`, { actual: dim });
      }
      elements *= dim;
    }
    const byteLength = elements * (dtypeInfo(dtype).bits / 8);
    if (!Number.isSafeInteger(byteLength)) {
      throw new LimitError(
        `Cannot read ${where}: shape [${meta.shape.join(", ")}] declares more elements than can be addressed`,
        { limit: Number.MAX_SAFE_INTEGER, actual: byteLength },
      );
    }
    const filters = this.#call(
      `filters of ${where}`,
      () => this.#Module.get_dataset_filters(this.#file.file_id, path),
    ) as unknown[];
    const bound = filters.length > 0 ? this.size * MAX_FILTER_RATIO : this.size;
    if (byteLength > bound) {
      throw new LimitError(
        `Cannot read ${where}: shape [${
          meta.shape.join(", ")
        }] declares ${byteLength} bytes but the file has ${this.size}` +
          (filters.length > 0 ? ` (compressed data expands at most ${MAX_FILTER_RATIO}x)` : ""),
        { limit: bound, actual: byteLength },
      );
    }
    return { path, dtype, shape: meta.shape, byteLength };
  }

  #dtype(
    meta: { type: number; size: number; signed: boolean; enum_type?: { members: Record<string, number> } },
    path: string,
    where: string,
  ): DType {
    const { type, size, signed } = meta;
    if (type === 0) {
      const ints: Record<number, DType> = signed ? { 1: "I8", 2: "I16", 4: "I32", 8: "I64" } : {
        1: "U8",
        2: "U16",
        4: "U32",
        8: "U64",
      };
      if (ints[size]) return ints[size];
    } else if (type === 1) {
      const floats: Record<number, DType> = { 2: "F16", 4: "F32", 8: "F64" };
      // Keras stores bfloat16 variables as 2-byte data marked with a dtype attribute.
      if (size === 2 && this.attribute(path, "dtype") === "bfloat16") return "BF16";
      if (floats[size]) return floats[size];
    } else if (type === 8 && size === 1) {
      // h5py writes numpy bool as an enum {FALSE: 0, TRUE: 1} over int8.
      const members = meta.enum_type?.members ?? {};
      const keys = Object.keys(members).sort();
      if (
        keys.length === 2 && keys[0] === "FALSE" && keys[1] === "TRUE" && members.FALSE === 0 &&
        members.TRUE === 1
      ) {
        return "BOOL";
      }
    } else if (size === 2 && this.attribute(path, "dtype") === "bfloat16") {
      return "BF16";
    }
    throw new FormatError(
      `Cannot read ${where}: HDF5 type class ${type} of ${size} bytes is not a tensor dtype ckpt reads`,
      { format: "hdf5" },
    );
  }

  /** Read a dataset's bytes, little-endian, row-major, into `out` when given. */
  read(info: H5DatasetInfo, tensor: string, out?: Uint8Array): Uint8Array {
    if (out && out.length < info.byteLength) {
      throw new RangeError(`Output buffer of ${out.length} bytes is smaller than ${info.byteLength}`);
    }
    const target = out ? out.subarray(0, info.byteLength) : new Uint8Array(info.byteLength);
    if (info.byteLength === 0) return target;
    const Module = this.#Module;
    const rows = info.shape.length === 0 ? 1 : info.shape[0];
    const rowBytes = info.byteLength / rows;
    const perSlice = Math.max(1, Math.floor(READ_SLICE_BYTES / rowBytes));
    this.#call(`tensor '${tensor}' (dataset '${info.path}')`, () => {
      for (let row = 0; row < rows; row += perSlice) {
        const count = Math.min(perSlice, rows - row);
        const bytes = count * rowBytes;
        const ptr = Module._malloc(bytes);
        if (!ptr) {
          throw new LimitError(
            `Cannot read tensor '${tensor}' in ${this.name}: ${bytes} bytes do not fit the HDF5 heap`,
            {
              actual: bytes,
            },
          );
        }
        try {
          const whole = count === rows;
          const counts = whole ? null : info.shape.map((d, i) => BigInt(i === 0 ? count : d));
          const offsets = whole ? null : info.shape.map((_, i) => BigInt(i === 0 ? row : 0));
          const strides = whole ? null : info.shape.map(() => 1n);
          const status = Module.get_dataset_data(
            this.#file.file_id,
            info.path,
            counts,
            offsets,
            strides,
            BigInt(ptr),
          );
          if (status < 0) throw new Error(`H5Dread returned ${status}`);
          target.set(Module.HEAPU8.subarray(ptr, ptr + bytes), row * rowBytes);
        } finally {
          Module._free(ptr);
        }
      }
    });
    return target;
  }

  /** Close the file and its reader. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } finally {
      try {
        this.#Module.FS.unlink(this.#fsPath);
      } finally {
        this.#reader.close();
      }
    }
  }
}
