/**
 * The safetensors header writer: JSON laid out exactly as the reference
 * writer lays it out, padded with spaces.
 *
 * @module
 */

import { LimitError, UsageError } from "../../lib/errors.ts";
import {
  HEADER_LENGTH_BYTES,
  MAX_HEADER_BYTES,
  type SafetensorsTensorInfo,
} from "./decode_safetensors_header.ts";

/** Options for {@linkcode encodeSafetensorsHeader}. */
export interface EncodeSafetensorsHeaderOptions {
  /**
   * Pad the header so the data section starts on a multiple of this many
   * bytes (a positive multiple of 8, e.g. 64 or 4096).
   * @default 8
   */
  align?: number;
  /**
   * Pad the JSON to at least this many bytes (to rewrite a header in place,
   * pass the old header's length and check whether the result grew).
   * @default 0
   */
  minHeaderBytes?: number;
  /** Write `__metadata__` even when the metadata is empty. @default false */
  emptyMetadata?: boolean;
}

const utf8 = new TextEncoder();

/**
 * Encode the 8-byte length and the JSON header for `tensors` (written in the
 * order given, with the offsets given) and `metadata`. The JSON has no spaces,
 * `__metadata__` first, then each tensor as
 * `{"dtype":…,"shape":[…],"data_offsets":[b,e]}` — what the reference
 * writer's serializer produces — and is padded with spaces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensorsHeader } from "./encode_safetensors_header.ts";
 * const head = encodeSafetensorsHeader({ format: "pt" }, [
 *   { name: "w", dtype: "F32", shape: [2], dataOffsets: [0, 8] },
 * ]);
 * assert.equal(head.length % 8, 0); // the data section starts 8-byte aligned
 * ```
 */
export function encodeSafetensorsHeader(
  metadata: Readonly<Record<string, string>>,
  tensors: readonly SafetensorsTensorInfo[],
  options: EncodeSafetensorsHeaderOptions = {},
): Uint8Array {
  const align = options.align ?? 8;
  if (!Number.isSafeInteger(align) || align <= 0 || align % 8 !== 0) {
    throw new UsageError(`Cannot align safetensors data to ${align} bytes: use a positive multiple of 8`);
  }
  const parts: string[] = [];
  const keys = Object.keys(metadata);
  if (keys.length > 0 || options.emptyMetadata) {
    const entries = keys.map((key) => {
      const value = metadata[key];
      if (typeof value !== "string") {
        throw new UsageError(`Cannot write metadata '${key}': safetensors metadata values must be strings`);
      }
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    parts.push(`"__metadata__":{${entries.join(",")}}`);
  }
  for (const t of tensors) {
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(",")}],"data_offsets":[${
        t.dataOffsets[0]
      },${t.dataOffsets[1]}]}`,
    );
  }
  const json = utf8.encode(`{${parts.join(",")}}`);
  const minimum = options.minHeaderBytes ?? 0;
  // Pad so that 8 + length is a multiple of `align` (so length is a multiple of 8 too).
  const length = json.length <= minimum
    ? minimum
    : Math.ceil((HEADER_LENGTH_BYTES + json.length) / align) * align - HEADER_LENGTH_BYTES;
  if (length > MAX_HEADER_BYTES) {
    throw new LimitError(
      `Cannot write a safetensors header of ${length} bytes: readers refuse headers over ${MAX_HEADER_BYTES} bytes`,
      { limit: MAX_HEADER_BYTES, actual: length },
    );
  }
  const out = new Uint8Array(HEADER_LENGTH_BYTES + length);
  new DataView(out.buffer).setBigUint64(0, BigInt(length), true);
  out.set(json, HEADER_LENGTH_BYTES);
  out.fill(0x20, HEADER_LENGTH_BYTES + json.length);
  return out;
}
