/**
 * The tensor table of a packed file: one record per tensor with where its
 * stored bytes are, how they are stored, and what they decode to; JSON
 * (de)serialisation with strict validation of every field and of the
 * layout (in bounds, no overlaps, no duplicate names).
 *
 * @module
 */

import { byteLengthOf, type DType, isDType } from "../../lib/dtype.ts";
import { FormatError } from "../../lib/errors.ts";

/** A JSON value, for per-tensor attributes a codec keeps (scales, minimums). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One tensor of a packed file. */
export interface PackedTensorRecord {
  /** Tensor name. */
  readonly name: string;
  /** The dtype `read()` returns. */
  readonly dtype: DType;
  /** Logical shape, outermost first. */
  readonly shape: readonly number[];
  /** Offset of the stored bytes from the start of the file. */
  readonly offset: number;
  /** Length of the stored bytes in the file. */
  readonly storedBytes: number;
  /** Length of the stored bytes once inflated (equals `storedBytes` when not compressed). */
  readonly rawBytes: number;
  /** How the stored bytes are compressed. */
  readonly compression?: "deflate";
  /** Codec-specific values (e.g. a minimum and maximum). */
  readonly attributes?: { readonly [key: string]: JsonValue };
}

/**
 * Records as a JSON-able array (what a packed header stores).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensorTableToJson } from "./tensor_table.ts";
 * assert.deepEqual(
 *   tensorTableToJson([{ name: "w", dtype: "F32", shape: [2], offset: 64, storedBytes: 8, rawBytes: 8 }]),
 *   [{ name: "w", dtype: "F32", shape: [2], offset: 64, stored_bytes: 8, raw_bytes: 8 }],
 * );
 * ```
 */
export function tensorTableToJson(records: readonly PackedTensorRecord[]): JsonValue[] {
  return records.map((r) => {
    const out: { [key: string]: JsonValue } = {
      name: r.name,
      dtype: r.dtype,
      shape: [...r.shape],
      offset: r.offset,
      stored_bytes: r.storedBytes,
      raw_bytes: r.rawBytes,
    };
    if (r.compression) out.compression = r.compression;
    if (r.attributes) out.attributes = { ...r.attributes };
    return out;
  });
}

/** Options for {@linkcode tensorTableFromJson}. */
export interface TensorTableFromJsonOptions {
  /** Format name for messages. @default "packed" */
  format?: string;
  /** Input offset of the table, for messages. @default -1 */
  offset?: number;
  /** First byte tensor data may occupy. @default 0 */
  dataStart?: number;
  /** End of the region tensor data may occupy. @default Number.MAX_SAFE_INTEGER */
  dataEnd?: number;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parse and validate records from JSON: every field typed, shapes and byte
 * counts consistent, blobs within `[dataStart, dataEnd)`, no two blobs
 * overlapping, names unique. Throws `FormatError` naming the tensor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensorTableFromJson } from "./tensor_table.ts";
 * const [w] = tensorTableFromJson([{ name: "w", dtype: "F32", shape: [2], offset: 0, stored_bytes: 8, raw_bytes: 8 }]);
 * assert.equal(w.rawBytes, 8);
 * ```
 */
export function tensorTableFromJson(
  value: unknown,
  options: TensorTableFromJsonOptions = {},
): PackedTensorRecord[] {
  const format = options.format ?? "packed";
  const at = options.offset ?? -1;
  const fail = (message: string): never => {
    throw new FormatError(`Cannot decode ${format} tensor table: ${message}`, { offset: at, format });
  };
  if (!Array.isArray(value)) fail("it is not an array");
  const records: PackedTensorRecord[] = [];
  const names = new Set<string>();
  const dataStart = options.dataStart ?? 0;
  const dataEnd = options.dataEnd ?? Number.MAX_SAFE_INTEGER;
  for (const [i, raw] of (value as unknown[]).entries()) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) fail(`entry ${i} is not an object`);
    const r = raw as Record<string, unknown>;
    const name = r.name;
    if (typeof name !== "string") return fail(`entry ${i} has no string name`);
    if (names.has(name)) fail(`duplicate tensor name '${name}'`);
    names.add(name);
    if (!isDType(r.dtype)) fail(`tensor '${name}' has unknown dtype ${JSON.stringify(r.dtype)}`);
    if (!Array.isArray(r.shape) || !r.shape.every(isCount)) fail(`tensor '${name}' has an invalid shape`);
    for (const key of ["offset", "stored_bytes", "raw_bytes"]) {
      if (!isCount(r[key])) fail(`tensor '${name}' has an invalid ${key}`);
    }
    const offset = r.offset as number,
      storedBytes = r.stored_bytes as number,
      rawBytes = r.raw_bytes as number;
    if (r.compression !== undefined && r.compression !== "deflate") {
      fail(`tensor '${name}' has unknown compression ${JSON.stringify(r.compression)}`);
    }
    if (r.compression === undefined && storedBytes !== rawBytes) {
      fail(`tensor '${name}' is not compressed but its stored and raw sizes differ`);
    }
    if (offset < dataStart || offset + storedBytes > dataEnd) {
      fail(
        `tensor '${name}' at [${offset}, ${
          offset + storedBytes
        }) lies outside the data region [${dataStart}, ${dataEnd})`,
      );
    }
    if (
      r.attributes !== undefined &&
      (r.attributes === null || typeof r.attributes !== "object" || Array.isArray(r.attributes))
    ) {
      fail(`tensor '${name}' has attributes that are not an object`);
    }
    try {
      byteLengthOf(r.dtype as DType, r.shape as number[]);
    } catch (cause) {
      fail(`tensor '${name}': ${(cause as Error).message}`);
    }
    records.push({
      name,
      dtype: r.dtype as DType,
      shape: r.shape as number[],
      offset,
      storedBytes,
      rawBytes,
      ...(r.compression ? { compression: "deflate" as const } : {}),
      ...(r.attributes ? { attributes: r.attributes as Record<string, JsonValue> } : {}),
    });
  }
  const sorted = [...records].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.storedBytes) {
      fail(`tensors '${prev.name}' and '${sorted[i].name}' overlap`);
    }
  }
  return records;
}
