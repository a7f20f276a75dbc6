/**
 * The safetensors header parser: a pure function over bytes that validates a
 * header the way the reference implementation does.
 *
 * @module
 */

import { type DType, DTYPES, isDType } from "../../lib/dtype.ts";
import { FormatError, LimitError, TruncatedError } from "../../lib/errors.ts";
import { scanJsonKeys } from "./_json_keys.ts";

/**
 * Largest header accepted, in bytes, as in the reference reader: a header
 * is parsed whole, so an unbounded one would let a file demand any amount of
 * memory.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes of the little-endian u64 header length that starts every file. */
export const HEADER_LENGTH_BYTES = 8;

/** One tensor as the header describes it. */
export interface SafetensorsTensorInfo {
  /** Tensor name. */
  readonly name: string;
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** `[begin, end)` byte offsets relative to the start of the data section. */
  readonly dataOffsets: readonly [number, number];
}

/** A decoded, validated safetensors header. */
export interface SafetensorsHeader {
  /** Length of the JSON header in bytes, padding included (the u64 at offset 0). */
  readonly headerBytes: number;
  /** Offset of the data section in the file (`8 + headerBytes`). */
  readonly dataOffset: number;
  /** Length of the data section in bytes. */
  readonly dataBytes: number;
  /** The `__metadata__` map (empty when absent). */
  readonly metadata: Record<string, string>;
  /** Whether the header had a `__metadata__` entry at all. */
  readonly hasMetadata: boolean;
  /** The tensors, sorted by their offset in the data section. */
  readonly tensors: readonly SafetensorsTensorInfo[];
}

/** Options for {@linkcode decodeSafetensorsHeader}. */
export interface DecodeSafetensorsHeaderOptions {
  /** Largest header to accept, in bytes. @default {MAX_HEADER_BYTES} */
  maxHeaderBytes?: number;
  /**
   * Size of the whole file, when `bytes` holds only its beginning (at least
   * the header). The data section must end exactly there.
   * @default bytes.byteLength
   */
  fileBytes?: number;
  /** A name for messages (a path or URL). @default "<memory>" */
  name?: string;
}

/**
 * Read and check the header length at the start of a file: it must fit both
 * the file and the limit. Returns the length of the JSON header.
 */
export function readSafetensorsHeaderLength(
  prefix: Uint8Array,
  fileBytes: number,
  options: { maxHeaderBytes?: number; name?: string } = {},
): number {
  const name = options.name ?? "<memory>";
  const limit = options.maxHeaderBytes ?? MAX_HEADER_BYTES;
  if (fileBytes < HEADER_LENGTH_BYTES || prefix.byteLength < HEADER_LENGTH_BYTES) {
    throw new TruncatedError(
      `Cannot decode safetensors header of ${name}: the file has ${fileBytes} bytes, fewer than the 8-byte header length`,
      { offset: 0 },
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, HEADER_LENGTH_BYTES);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(fileBytes - HEADER_LENGTH_BYTES)) {
    throw new LimitError(
      `Cannot decode safetensors header of ${name}: declared length ${declared} exceeds the file (${fileBytes} bytes)`,
      { limit: fileBytes - HEADER_LENGTH_BYTES, actual: Number(declared) },
    );
  }
  const length = Number(declared);
  if (length > limit) {
    throw new LimitError(
      `Cannot decode safetensors header of ${name}: declared length ${length} exceeds the limit of ${limit} bytes (maxHeaderBytes)`,
      { limit, actual: length },
    );
  }
  if (length < 2) {
    throw new FormatError(
      `Cannot decode safetensors header of ${name}: declared length ${length} is too short for a JSON object`,
      { offset: 0, format: "safetensors" },
    );
  }
  return length;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decode and validate a safetensors header from the first bytes of a file
 * (the 8-byte length and the JSON header; the tensor data may follow or not).
 * Rejects everything the reference reader rejects — bad lengths, invalid
 * UTF-8 or JSON, unknown dtypes, bad shapes, offsets that leave holes or
 * overlap, a data section that does not end at the end of the file — and
 * also duplicate names, which the reference reader does not report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensorsHeader } from "./decode_safetensors_header.ts";
 * const json = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
 * const file = new Uint8Array(8 + json.length + 8);
 * new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
 * file.set(json, 8);
 * const header = decodeSafetensorsHeader(file);
 * assert.equal(header.tensors[0].name, "w");
 * assert.equal(header.dataOffset, 8 + json.length); // 62: the data follows the JSON
 * ```
 */
export function decodeSafetensorsHeader(
  bytes: Uint8Array,
  options: DecodeSafetensorsHeaderOptions = {},
): SafetensorsHeader {
  const name = options.name ?? "<memory>";
  const fileBytes = options.fileBytes ?? bytes.byteLength;
  const headerBytes = readSafetensorsHeaderLength(bytes, fileBytes, options);
  if (bytes.byteLength < HEADER_LENGTH_BYTES + headerBytes) {
    throw new TruncatedError(
      `Cannot decode safetensors header of ${name}: ${headerBytes} header bytes declared, ${
        bytes.byteLength - HEADER_LENGTH_BYTES
      } given`,
      { offset: bytes.byteLength },
    );
  }
  return parseSafetensorsJson(
    bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + headerBytes),
    fileBytes,
    name,
  );
}

function fail(name: string, what: string, offset = HEADER_LENGTH_BYTES): never {
  throw new FormatError(`Cannot decode safetensors header of ${name}: ${what}`, {
    offset,
    format: "safetensors",
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parse the JSON header bytes (without the length prefix) and validate it against the file size. */
export function parseSafetensorsJson(json: Uint8Array, fileBytes: number, name: string): SafetensorsHeader {
  const headerBytes = json.byteLength;
  const dataOffset = HEADER_LENGTH_BYTES + headerBytes;
  let text: string;
  try {
    text = utf8.decode(json);
  } catch (cause) {
    throw new FormatError(`Cannot decode safetensors header of ${name}: it is not valid UTF-8`, {
      offset: HEADER_LENGTH_BYTES,
      format: "safetensors",
      cause,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new FormatError(
      `Cannot decode safetensors header of ${name}: invalid JSON (${(cause as Error).message})`,
      { offset: HEADER_LENGTH_BYTES, format: "safetensors", cause },
    );
  }
  if (!isPlainObject(parsed)) fail(name, "the JSON header is not an object");

  const keys = scanJsonKeys(text, "__metadata__");
  const seen = new Set<string>();
  for (const key of keys.top) {
    if (seen.has(key)) {
      fail(name, key === "__metadata__" ? "duplicate __metadata__ entry" : `duplicate tensor name '${key}'`);
    }
    seen.add(key);
  }
  const seenMeta = new Set<string>();
  for (const key of keys.nested) {
    if (seenMeta.has(key)) fail(name, `duplicate metadata key '${key}'`);
    seenMeta.add(key);
  }

  let metadata: Record<string, string> = {};
  const hasMetadata = Object.hasOwn(parsed, "__metadata__");
  if (hasMetadata) {
    const raw = parsed.__metadata__;
    if (!isPlainObject(raw)) fail(name, "__metadata__ is not an object of strings");
    for (const [key, value] of Object.entries(raw)) {
      if (typeof value !== "string") {
        fail(name, `metadata value of '${key}' is ${describe(value)}, not a string`);
      }
    }
    metadata = Object.fromEntries(Object.entries(raw)) as Record<string, string>;
  }

  const tensors: SafetensorsTensorInfo[] = [];
  for (const [tensorName, value] of Object.entries(parsed)) {
    if (tensorName === "__metadata__") continue;
    tensors.push(tensorInfo(name, tensorName, value));
  }
  // Reference order: by [begin, end]; zero-length tensors may share an offset.
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let position = 0;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin !== position) {
      fail(
        name,
        begin > position
          ? `tensor '${t.name}' starts at data offset ${begin}, leaving a hole after offset ${position}`
          : `tensor '${t.name}' starts at data offset ${begin}, overlapping the previous tensor (which ends at ${position})`,
      );
    }
    position = end;
  }
  const dataBytes = position;
  const actual = fileBytes - dataOffset;
  if (dataBytes > actual) {
    throw new TruncatedError(
      `Cannot decode safetensors file ${name}: its tensors need ${dataBytes} data bytes, the file has ${actual} after the header`,
      { offset: fileBytes },
    );
  }
  if (dataBytes < actual) {
    fail(
      name,
      `the data section ends at byte ${
        dataOffset + dataBytes
      }, but the file has ${fileBytes} bytes (trailing data)`,
      dataOffset + dataBytes,
    );
  }
  return { headerBytes, dataOffset, dataBytes, metadata, hasMetadata, tensors };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function tensorInfo(file: string, name: string, value: unknown): SafetensorsTensorInfo {
  if (!isPlainObject(value)) fail(file, `tensor '${name}' is described by ${describe(value)}, not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  // C128 is ckpt's own dtype name; the safetensors format has no such dtype.
  if (!isDType(dtype) || dtype === "C128") {
    fail(file, `tensor '${name}' has unknown dtype ${JSON.stringify(dtype) ?? "undefined"}`);
  }
  if (!Array.isArray(shape)) fail(file, `tensor '${name}' has no shape array`);
  for (const dim of shape) {
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      fail(
        file,
        `tensor '${name}' has invalid dimension ${JSON.stringify(dim)} (not a non-negative integer)`,
      );
    }
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
  ) {
    fail(file, `tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets) ?? "undefined"}`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) {
    fail(file, `tensor '${name}' has data_offsets [${begin}, ${end}] that end before they begin`);
  }
  // Element count × bits, refusing any intermediate product beyond 2^53 as
  // the reference refuses one beyond its usize (checked_mul at every step).
  const width = DTYPES[dtype].bits;
  let count = 1;
  let overflow = false;
  for (const dim of shape as number[]) {
    if (dim !== 0 && count > Number.MAX_SAFE_INTEGER / dim) overflow = true;
    count *= dim;
  }
  if (overflow || count > Number.MAX_SAFE_INTEGER / width) {
    throw new LimitError(
      `Cannot decode safetensors header of ${file}: tensor '${name}' of shape [${
        shape.join(", ")
      }] is too large (element count × dtype size overflows)`,
      { limit: Number.MAX_SAFE_INTEGER, actual: count * width },
    );
  }
  const bits = count * width;
  if (bits % 8 !== 0) {
    fail(
      file,
      `tensor '${name}' of dtype ${dtype} and shape [${
        shape.join(", ")
      }] does not end on a whole byte (${bits} bits)`,
    );
  }
  const size = bits / 8;
  if (end - begin !== size) {
    fail(
      file,
      `tensor '${name}' of dtype ${dtype} and shape [${
        shape.join(", ")
      }] needs ${size} bytes, its data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], dataOffsets: [begin, end] };
}
