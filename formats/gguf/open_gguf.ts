/**
 * Read GGUF (llama.cpp's format, v2 and v3) from any byte source: the header,
 * every metadata value and the tensor infos are parsed and checked as ggml's
 * own reader checks them; tensor bytes stay in the source until read.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import { FormatError, LimitError, TruncatedError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type GgmlType, ggmlTypeById } from "../../lib/ggml_blocks.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import { alignTo, isPowerOfTwo } from "../../lib/binary/align.ts";
import type { FieldReader } from "../../lib/binary/field_reader.ts";
import { checkMagic } from "../../lib/binary/magic.ts";
import { parseFromSource } from "../../lib/binary/read_window.ts";
import {
  attachGgufKeyValues,
  GGUF_TYPE_SIZE,
  GGUF_VALUE_TYPES,
  type GgufArray,
  type GgufItem,
  type GgufKeyValue,
  type GgufType,
  ggufValueToString,
  metadataKeyFromGguf,
} from "./gguf_value.ts";

/** The newest GGUF version ckpt reads and writes. */
export const GGUF_VERSION = 3;
/** Data alignment when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Most dimensions a ggml tensor has (`GGML_MAX_DIMS`). */
export const GGUF_MAX_DIMS = 4;
/** Tensor names must be shorter than this many bytes (`GGML_MAX_NAME`). */
export const GGUF_MAX_NAME = 64;
/** ggml's bound on string bytes and on array items (`GGUF_MAX_STRING_LENGTH`, `GGUF_MAX_ARRAY_ELEMENTS`). */
export const GGUF_MAX_ELEMENTS = 2 ** 30;
/** How deep arrays of arrays may nest before the file is refused. */
export const GGUF_MAX_ARRAY_DEPTH = 8;
/** Default bound on the header (metadata and tensor infos). */
export const GGUF_MAX_HEADER_BYTES = 1024 * 1024 * 1024;

/** One tensor info, as stored. */
export interface GgufTensorInfo {
  /** Tensor name. */
  readonly name: string;
  /** Dimensions as GGUF stores them: innermost (the row) first. */
  readonly dims: readonly number[];
  /** The ggml type. */
  readonly type: GgmlType;
  /** Offset of the tensor's bytes from the start of the data section. */
  readonly offset: number;
  /** Bytes of the tensor's data (without padding). */
  readonly byteLength: number;
}

/** A decoded GGUF file: the generic view plus what GGUF itself stores. */
export interface GgufFile extends TensorFile {
  /** Format version (2 or 3). */
  readonly version: number;
  /** Data alignment (`general.alignment`, default 32). */
  readonly alignment: number;
  /** Offset of the data section in the file. */
  readonly dataOffset: number;
  /** Every metadata entry, typed, in file order. */
  readonly kv: readonly GgufKeyValue[];
  /** Every tensor info, in file order. */
  readonly tensorInfos: readonly GgufTensorInfo[];
}

interface Header {
  version: number;
  kv: GgufKeyValue[];
  alignment: number;
  infos: GgufTensorInfo[];
  dataOffset: number;
}

const FORMAT = "gguf";

function readString(r: FieldReader, what: string, strict: boolean): string {
  const at = r.offset;
  const n = r.u64();
  if (n > BigInt(GGUF_MAX_ELEMENTS)) {
    throw new LimitError(
      `Cannot decode gguf: ${what} at offset ${at} declares ${n} bytes, over the limit of ${GGUF_MAX_ELEMENTS}`,
      { limit: GGUF_MAX_ELEMENTS, actual: Number(n) },
    );
  }
  const length = r.count(n, 1, `${what} length`);
  if (strict) return r.utf8(length);
  return LENIENT.decode(r.bytes(length));
}

const LENIENT = new TextDecoder("utf-8");

function readType(r: FieldReader, key: string): GgufType {
  const at = r.offset;
  const id = r.i32();
  const type = GGUF_VALUE_TYPES[id];
  if (type === undefined) throw r.error(`key '${key}' has invalid value type ${id}`, at);
  return type;
}

function readScalar(r: FieldReader, type: GgufType): GgufItem {
  switch (type) {
    case "u8":
      return r.u8();
    case "i8":
      return r.i8();
    case "u16":
      return r.u16();
    case "i16":
      return r.i16();
    case "u32":
      return r.u32();
    case "i32":
      return r.i32();
    case "f32":
      return r.f32();
    case "bool":
      return r.u8() !== 0;
    case "u64":
      return r.u64();
    case "i64":
      return r.i64();
    case "f64":
      return r.f64();
    default:
      throw new TypeError(`Not a scalar GGUF type: ${type}`);
  }
}

function readArray(r: FieldReader, key: string, depth: number): GgufArray {
  if (depth > GGUF_MAX_ARRAY_DEPTH) {
    throw new LimitError(
      `Cannot decode gguf: key '${key}' nests arrays deeper than ${GGUF_MAX_ARRAY_DEPTH} at offset ${r.offset}`,
      { limit: GGUF_MAX_ARRAY_DEPTH, actual: depth },
    );
  }
  const itemType = readType(r, key);
  const n = r.u64();
  if (n > BigInt(GGUF_MAX_ELEMENTS)) {
    throw new LimitError(
      `Cannot decode gguf: key '${key}' declares an array of ${n} items, over the limit of ${GGUF_MAX_ELEMENTS}`,
      { limit: GGUF_MAX_ELEMENTS, actual: Number(n) },
    );
  }
  // Smallest item on the wire: a string is at least its u64 length, an array its type and count.
  const minItem = itemType === "string" ? 8 : itemType === "array" ? 12 : GGUF_TYPE_SIZE[itemType];
  const count = r.count(n, minItem, `array length of key '${key}'`);
  const items: GgufItem[] = new Array(count);
  for (let i = 0; i < count; i++) {
    items[i] = itemType === "string"
      ? readString(r, `string ${i} of key '${key}'`, false)
      : itemType === "array"
      ? readArray(r, key, depth + 1)
      : readScalar(r, itemType);
  }
  return { itemType, items };
}

function parseHeader(r: FieldReader): Header {
  checkMagic(r.bytes(4), "GGUF", FORMAT);
  const versionAt = r.offset;
  const version = r.u32();
  if (version === 0) throw r.error(`bad version 0`, versionAt);
  if ((version & 0xffff) === 0) {
    throw r.error(
      `version ${version} is implausibly large; the file may have the other byte order`,
      versionAt,
    );
  }
  if (version === 1) throw r.error(`version 1 is no longer supported (ggml reads 2 and 3)`, versionAt);
  if (version > GGUF_VERSION) {
    throw r.error(`version ${version} is newer than the newest supported (${GGUF_VERSION})`, versionAt);
  }
  const tensorsAt = r.offset;
  const nTensors = r.i64();
  const nKvAt = r.offset;
  const nKv = r.i64();
  if (nTensors < 0n) throw r.error(`negative tensor count ${nTensors}`, tensorsAt);
  if (nKv < 0n) throw r.error(`negative key/value count ${nKv}`, nKvAt);
  // Each key/value takes at least 13 bytes and each tensor info 24: check both
  // against the file before reading either.
  const kvCount = r.count(nKv, 13, "key/value count");
  const tensorCount = r.count(nTensors, 24, "tensor count");
  if (BigInt(kvCount) * 13n + BigInt(tensorCount) * 24n > BigInt(r.remaining)) {
    throw new LimitError(
      `Cannot decode gguf: ${kvCount} key/values and ${tensorCount} tensor infos can't fit the ${r.remaining} bytes after the header`,
      { limit: r.remaining, actual: kvCount * 13 + tensorCount * 24 },
    );
  }

  const kv: GgufKeyValue[] = [];
  const keys = new Set<string>();
  for (let i = 0; i < kvCount; i++) {
    const keyAt = r.offset;
    const key = readString(r, `key ${i}`, true);
    if (key.length === 0) throw r.error(`key ${i} is empty`, keyAt);
    if (keys.has(key)) throw r.error(`duplicate key '${key}'`, keyAt);
    keys.add(key);
    const type = readType(r, key);
    const value = type === "array"
      ? readArray(r, key, 1)
      : type === "string"
      ? readString(r, `value of key '${key}'`, false)
      : readScalar(r, type);
    kv.push({ key, type, value });
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignmentKv = kv.find((e) => e.key === "general.alignment");
  if (alignmentKv) {
    if (alignmentKv.type !== "u32") {
      throw r.error(`key 'general.alignment' must be of type u32 but is ${alignmentKv.type}`, -1);
    }
    alignment = alignmentKv.value as number;
    if (!isPowerOfTwo(alignment)) throw r.error(`alignment ${alignment} is not a power of 2`, -1);
  }

  const infos: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const nameAt = r.offset;
    const name = readString(r, `name of tensor ${i}`, true);
    const nameBytes = new TextEncoder().encode(name).length;
    if (nameBytes >= GGUF_MAX_NAME) {
      throw r.error(
        `tensor ${i} name is too long: ${nameBytes} bytes, the limit is ${GGUF_MAX_NAME - 1}`,
        nameAt,
      );
    }
    if (names.has(name)) throw r.error(`duplicate tensor name '${name}'`, nameAt);
    names.add(name);
    const dimsAt = r.offset;
    const nDims = r.u32();
    if (nDims > GGUF_MAX_DIMS) {
      throw r.error(`tensor '${name}' has ${nDims} dimensions, more than ${GGUF_MAX_DIMS}`, dimsAt);
    }
    const dims: number[] = [];
    let elements = 1n;
    for (let j = 0; j < nDims; j++) {
      const at = r.offset;
      const d = r.i64();
      if (d < 0n) throw r.error(`tensor '${name}' dimension ${j} is negative (${d})`, at);
      elements *= d;
      if (elements >= 2n ** 63n || d > 2n ** 62n) {
        throw r.error(`tensor '${name}' has more elements than ggml can count`, at);
      }
      dims.push(Number(d));
    }
    const typeAt = r.offset;
    const typeId = r.i32();
    const type = ggmlTypeById(typeId);
    if (!type) throw r.error(`tensor '${name}' has unknown ggml type ${typeId}`, typeAt);
    const row = dims.length > 0 ? dims[0] : 1;
    if (row % type.blockSize !== 0) {
      throw r.error(
        `tensor '${name}' of type ${type.name} has ${row} elements per row, not a multiple of the block size ${type.blockSize}`,
        typeAt,
      );
    }
    const byteLength = (elements / BigInt(type.blockSize)) * BigInt(type.typeSize);
    if (byteLength > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LimitError(
        `Cannot decode gguf: tensor '${name}' is too large to address (${byteLength} bytes)`,
        {
          limit: Number.MAX_SAFE_INTEGER,
          actual: Number(byteLength),
        },
      );
    }
    const offset = r.u64Number(`offset of tensor '${name}'`);
    infos.push({ name, dims, type, offset, byteLength: Number(byteLength) });
  }
  const dataOffset = tensorCount > 0 ? alignTo(r.offset, alignment) : r.offset;
  return { version, kv, alignment, infos, dataOffset };
}

/**
 * Open a GGUF file. Throws `FormatError`/`LimitError`/`TruncatedError` for
 * everything ggml's reader refuses: a version other than 2 or 3, duplicate
 * keys or tensor names, more than 4 dimensions, names of 64 bytes or more,
 * strings or arrays over 2^30 items, unknown value or tensor types, rows
 * that are not whole blocks, an alignment that is not a power of two,
 * offsets that are not the running sum of padded sizes, and data past the
 * end of the file. Block-typed tensors (Q4_0, Q6_K, …) are entries with
 * `encoding` set, `dtype` F32 and `byteLength` their block bytes.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "./open_gguf.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * const file = await openGguf(await fileSource("model.gguf"));
 * console.log(file.metadata["general.architecture"], file.tensors.length);
 * await file.close();
 * ```
 */
export async function openGguf(source: ByteSource, options: OpenOptions = {}): Promise<GgufFile> {
  const header = await parseFromSource(source, parseHeader, {
    format: FORMAT,
    maxBytes: options.maxHeaderBytes ?? GGUF_MAX_HEADER_BYTES,
  });
  const { dataOffset, alignment } = header;
  let expected = 0;
  for (const info of header.infos) {
    if (info.offset !== expected) {
      throw new FormatError(
        `Cannot decode gguf: tensor '${info.name}' has offset ${info.offset}, expected ${expected} (the running sum of padded sizes)`,
        { offset: dataOffset + info.offset, format: FORMAT },
      );
    }
    const end = dataOffset + info.offset + info.byteLength;
    if (end > source.size) {
      throw new TruncatedError(
        `Cannot decode gguf: tensor '${info.name}' ends at byte ${end} but ${source.name} has ${source.size} bytes`,
        { offset: dataOffset + info.offset },
      );
    }
    expected += alignTo(info.byteLength, alignment);
  }
  const metadata: Record<string, string> = {};
  for (const { key, type, value } of header.kv) {
    metadata[metadataKeyFromGguf(key)] = ggufValueToString(type, value);
  }
  attachGgufKeyValues(metadata, header.kv);
  const tensors = header.infos.map((info) => ggufEntry(source, dataOffset, info));
  return tensorFile({
    format: FORMAT,
    metadata,
    tensors,
    fileBytes: source.size,
    close: () => source.close(),
    version: header.version,
    alignment,
    dataOffset,
    kv: header.kv,
    tensorInfos: header.infos,
  });
}

function ggufEntry(source: ByteSource, dataOffset: number, info: GgufTensorInfo): TensorEntry {
  const start = dataOffset + info.offset;
  const { byteLength, type } = info;
  const read = (out?: Uint8Array) => source.read(start, byteLength, out);
  const shape = [...info.dims].reverse();
  if (type.dtype) return { name: info.name, dtype: type.dtype, shape, byteLength, read };
  return { name: info.name, dtype: "F32", shape, byteLength, encoding: type.name, read };
}
