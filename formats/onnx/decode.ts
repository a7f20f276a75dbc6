/**
 * Read an ONNX model's initializers as lazy tensors.
 *
 * @module
 */

import { type ByteSource, fileSource, urlSource } from "../../lib/byte_source.ts";
import { byteLengthOf, elementCount } from "../../lib/dtype.ts";
import { FormatError, TruncatedError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import { type InitializerLayout, type ModelLayout, scanModel } from "./_model.ts";
import { folderOf, insideFolder, resolveExternalPath } from "./_paths.ts";

export type {
  DataLayout,
  GraphInfo,
  InitializerLayout,
  ModelLayout,
  NodeInfo,
  Span,
  TensorRole,
  ValueInfo,
} from "./_model.ts";

/** The model behind an {@linkcode OnnxFile}: what a writer needs to make a copy of it. */
export interface OnnxModelSource {
  /** The model's bytes. */
  readonly source: ByteSource;
  /** Where each tensor, the graph and the model's other fields lie in `source`. */
  readonly layout: ModelLayout;
  /** The folder external data locations are relative to, when known. */
  readonly baseDir: string | undefined;
}

/**
 * A tensor file opened from an ONNX model: its tensors (every initializer of
 * every graph, Constant values, sparse initializers) and the model itself, so
 * that a writer can put changed tensors back where they came from.
 */
export interface OnnxFile extends TensorFile {
  /** Always `onnx`. */
  readonly format: "onnx";
  /** The model the tensors were read from. */
  readonly model: OnnxModelSource;
}
import { TENSOR } from "./_schema.ts";
import { BinaryReader, WireType } from "./_wire.ts";
import { locatedEntry } from "../../lib/located_entry.ts";

/** Options for {@linkcode openOnnx}. */
export interface OpenOnnxOptions extends OpenOptions {
  /**
   * Folder (a path, or a URL ending in `/`) that external data locations are
   * relative to.
   * @default the folder of the source's name when it is a path or URL
   */
  baseDir?: string;
}

/** Decode a Constant's value_float(s)/value_int(s) (packed or not) from its AttributeProto bytes into `out`. */
function decodeAttributeValues(
  message: Uint8Array,
  init: InitializerLayout,
  field: number,
  out: Uint8Array,
): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const count = elementCount(init.dims);
  let n = 0;
  const isFloat = init.dtype === "F32";
  const put = (r: BinaryReader) => {
    if (n >= count) throw new Error(`more values than its ${count} elements`);
    if (isFloat) view.setFloat32(n * 4, r.float(), true);
    else view.setBigInt64(n * 8, BigInt(r.int64()), true);
    n++;
  };
  try {
    const r = new BinaryReader(message);
    while (r.pos < r.len) {
      const [f, wire] = r.tag();
      if (f !== field) r.skip(wire, f);
      else if (wire === WireType.LengthDelimited) {
        const pr = new BinaryReader(r.bytes());
        while (pr.pos < pr.len) put(pr);
      } else put(r);
    }
  } catch (error) {
    throw new FormatError(`Cannot decode ONNX Constant '${init.protoName}': ${(error as Error).message}`, {
      offset: init.start,
      format: "onnx",
      cause: error,
    });
  }
  if (n !== count) {
    throw new FormatError(
      `Cannot decode ONNX Constant '${init.protoName}': ${n} values for ${count} elements`,
      {
        offset: init.start,
        format: "onnx",
      },
    );
  }
}

/** Decode the typed repeated field of a TensorProto's bytes into `out`. */
function decodeTyped(message: Uint8Array, init: InitializerLayout, field: number, out: Uint8Array): void {
  const dtype = init.dtype!;
  // Complex values are pairs; 4-bit floats come two to a value, as packed in raw_data.
  const count = dtype === "C64"
    ? elementCount(init.dims) * 2
    : dtype === "F4"
    ? out.length
    : elementCount(init.dims);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let n = 0;
  const put = (reader: BinaryReader) => {
    if (n >= count) {
      throw new FormatError(
        `Cannot decode ONNX initializer '${init.name}': more values than its ${count} elements`,
        {
          offset: init.start,
          format: "onnx",
        },
      );
    }
    switch (dtype) {
      case "F32":
      case "C64":
        view.setFloat32(n * 4, reader.float(), true);
        break;
      case "F64":
        view.setFloat64(n * 8, reader.double(), true);
        break;
      case "I64":
        view.setBigInt64(n * 8, BigInt(reader.int64()), true);
        break;
      case "U64":
        view.setBigUint64(n * 8, BigInt(reader.uint64()), true);
        break;
      case "U32":
        view.setUint32(n * 4, Number(BigInt(reader.uint64()) & 0xffffffffn), true);
        break;
      case "I32":
        view.setInt32(n * 4, reader.int32(), true);
        break;
      case "I16":
      case "U16":
      case "F16":
      case "BF16":
        view.setUint16(n * 2, reader.int32() & 0xffff, true);
        break;
      default:
        out[n] = reader.int32() & 0xff;
    }
    n++;
  };
  const scalarWire = field === TENSOR.floatData
    ? WireType.Bit32
    : field === TENSOR.doubleData
    ? WireType.Bit64
    : WireType.Varint;
  try {
    const r = new BinaryReader(message);
    while (r.pos < r.len) {
      const [f, wire] = r.tag();
      if (f !== field) {
        r.skip(wire, f);
      } else if (wire === WireType.LengthDelimited) {
        const packed = r.bytes();
        const pr = new BinaryReader(packed);
        while (pr.pos < pr.len) put(pr);
      } else if (wire === scalarWire) {
        put(r);
      } else {
        throw new Error(`field ${f} has wire type ${wire}`);
      }
    }
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(`Cannot decode ONNX initializer '${init.name}': ${(error as Error).message}`, {
      offset: init.start,
      format: "onnx",
      cause: error,
    });
  }
  if (n !== count) {
    throw new FormatError(
      `Cannot decode ONNX initializer '${init.name}': ${n} values for ${count} elements`,
      {
        offset: init.start,
        format: "onnx",
      },
    );
  }
}

/**
 * Open an ONNX model (a ModelProto) from a byte source. Its initializers
 * become lazy tensor entries; initializers of types ckpt cannot represent
 * (strings, 4-bit integers, complex128) are listed in the metadata key
 * `onnx.skipped_initializers` instead. External data files are resolved
 * against the model's folder and must stay inside it.
 *
 * @example
 * ```ts ignore
 * import { openOnnx } from "./decode.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * const model = await openOnnx(await fileSource("model.onnx"));
 * for (const t of model.tensors) console.log(t.name, t.dtype, t.shape);
 * await model.close();
 * ```
 */
export async function openOnnx(source: ByteSource, options: OpenOnnxOptions = {}): Promise<OnnxFile> {
  const layout = await scanModel(source);
  const baseDir = options.baseDir ?? folderOf(source.name);
  const externalSources = new Map<string, Promise<ByteSource>>();
  const isUrl = baseDir !== undefined && /^https?:\/\//i.test(baseDir);
  const external = (location: string, tensor: string): Promise<ByteSource> => {
    if (baseDir === undefined) {
      return Promise.reject(
        new FormatError(
          `Cannot read initializer '${tensor}' of ${source.name}: its data is in an external file and the model's folder is unknown (pass baseDir)`,
          { format: "onnx" },
        ),
      );
    }
    let opened = externalSources.get(location);
    if (!opened) {
      const path = resolveExternalPath(baseDir, location, tensor);
      opened = isUrl ? urlSource(path) : insideFolder(baseDir, path, tensor).then(() => fileSource(path));
      externalSources.set(location, opened);
    }
    return opened;
  };
  const metadata = { ...layout.metadata };
  const skipped: string[] = [];
  const tensors: TensorEntry[] = [];
  const seen = new Set<string>();
  const closeExternal = async () => {
    const opened = [...externalSources.values()];
    externalSources.clear();
    for (const p of opened) await p.then((s) => s.close(), () => {});
  };
  try {
    for (const init of layout.initializers) {
      if (init.dtype === undefined) {
        skipped.push(init.name);
        continue;
      }
      if (seen.has(init.name) && init.role === "initializer") {
        throw new FormatError(
          `Cannot decode ONNX model ${source.name}: initializer '${init.name}' appears twice`,
          {
            offset: init.start,
            format: "onnx",
          },
        );
      }
      seen.add(init.name);
      const byteLength = byteLengthOf(init.dtype, init.dims);
      const data = init.data;
      if (data.kind === "external" && !isUrl && baseDir !== undefined) {
        // Check the range now, so a bad model fails when opened, not halfway through a conversion.
        const file = await external(data.location, init.name);
        if (data.offset + byteLength > file.size) {
          throw new TruncatedError(
            `Cannot read initializer '${init.name}': ${byteLength} bytes at offset ${data.offset} of ${data.location} go past its end (${file.size} bytes)`,
            { offset: data.offset },
          );
        }
      }
      const location = data.kind === "raw"
        ? { source, offset: data.offset }
        : data.kind === "external" && !isUrl && baseDir !== undefined
        ? { source: await external(data.location, init.name), offset: data.offset }
        : undefined;
      tensors.push(locatedEntry({
        name: init.name,
        dtype: init.dtype,
        shape: init.dims,
        byteLength,
        async read(out?: Uint8Array): Promise<Uint8Array> {
          const target = out ? out.subarray(0, byteLength) : new Uint8Array(byteLength);
          if (target.length < byteLength) {
            throw new RangeError(`Output buffer of ${out!.length} bytes is smaller than ${byteLength}`);
          }
          switch (data.kind) {
            case "raw":
              return await source.read(data.offset, data.length, target);
            case "external":
              return await (await external(data.location, init.name)).read(data.offset, byteLength, target);
            case "typed":
              decodeTyped(
                await source.read(init.valueStart, init.end - init.valueStart),
                init,
                data.field,
                target,
              );
              return target;
            case "attribute":
              decodeAttributeValues(
                await source.read(init.valueStart, init.end - init.valueStart),
                init,
                data.field,
                target,
              );
              return target;
            case "empty":
              return target;
          }
        },
      }, location));
    }
  } catch (error) {
    await closeExternal();
    throw error;
  }
  if (skipped.length > 0) metadata["onnx.skipped_initializers"] = skipped.join(",");
  return tensorFile({
    format: "onnx" as const,
    metadata,
    tensors,
    fileBytes: source.size,
    model: { source, layout, baseDir },
    async close(): Promise<void> {
      await closeExternal();
      await source.close();
    },
  });
}

/**
 * Open an ONNX model by path; external data files are found beside it.
 *
 * @example
 * ```ts ignore
 * import { openOnnxPath } from "./decode.ts";
 * const model = await openOnnxPath("model.onnx");
 * console.log(model.tensors.length);
 * await model.close();
 * ```
 */
export async function openOnnxPath(path: string, options: OpenOnnxOptions = {}): Promise<OnnxFile> {
  const source = await fileSource(path);
  try {
    return await openOnnx(source, options);
  } catch (error) {
    await source.close();
    throw error;
  }
}
