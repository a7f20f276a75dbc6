/**
 * Optional per-blob compression: raw deflate through fflate, and inflation
 * bounded by the size the table declares, so a hostile blob can't expand
 * into a memory bomb.
 *
 * @module
 */

import { deflateSync, Inflate } from "fflate";
import { FormatError, LimitError } from "../../lib/errors.ts";

/** Options for {@linkcode deflateBlob}. */
export interface DeflateBlobOptions {
  /** Compression level 0–9. @default 6 */
  level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
}

/**
 * Compress bytes with raw deflate (RFC 1951, as zip stores it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deflateBlob, inflateBlob } from "./blob_deflate.ts";
 * const packed = deflateBlob(new Uint8Array(1000));
 * assert.ok(packed.length < 1000);
 * assert.deepEqual(await inflateBlob(packed, 1000), new Uint8Array(1000));
 * ```
 */
export function deflateBlob(bytes: Uint8Array, options: DeflateBlobOptions = {}): Uint8Array {
  return deflateSync(bytes, { level: options.level ?? 6 });
}

/** Options for {@linkcode inflateBlob}. */
export interface InflateBlobOptions {
  /** Format name for messages. @default "packed" */
  format?: string;
  /** What is being inflated, for messages. @default "blob" */
  what?: string;
  /** Input offset of the blob, for messages. @default -1 */
  offset?: number;
  /** Write into this buffer (at least `expectedBytes` long). @default a new array */
  out?: Uint8Array;
}

// Compressed bytes fed per step: deflate expands at most ~1032x, so one step
// produces at most ~16 MiB before the running total is checked.
const STEP = 16 * 1024;

/**
 * Inflate raw-deflate bytes that must decompress to exactly `expectedBytes`.
 * Output beyond that is refused with `LimitError` as soon as it appears;
 * corrupt or short streams throw `FormatError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deflateBlob, inflateBlob } from "./blob_deflate.ts";
 * const bytes = await inflateBlob(deflateBlob(new Uint8Array([1, 2, 3])), 3);
 * assert.deepEqual(bytes, new Uint8Array([1, 2, 3]));
 * ```
 */
export async function inflateBlob(
  compressed: Uint8Array,
  expectedBytes: number,
  options: InflateBlobOptions = {},
): Promise<Uint8Array> {
  const format = options.format ?? "packed";
  const what = options.what ?? "blob";
  const offset = options.offset ?? -1;
  const out = options.out ? options.out.subarray(0, expectedBytes) : new Uint8Array(expectedBytes);
  let written = 0;
  let ended = false;
  let overflow = false;
  const inflater = new Inflate((chunk, final) => {
    if (written + chunk.length > expectedBytes) {
      overflow = true;
      throw new LimitError(
        `Cannot inflate ${format} ${what}: it expands past its declared ${expectedBytes} bytes`,
        { limit: expectedBytes, actual: written + chunk.length },
      );
    }
    out.set(chunk, written);
    written += chunk.length;
    if (final) ended = true;
  });
  try {
    for (let i = 0; i < compressed.length; i += STEP) {
      const end = Math.min(compressed.length, i + STEP);
      inflater.push(compressed.subarray(i, end), end === compressed.length);
    }
    if (compressed.length === 0) inflater.push(new Uint8Array(0), true);
  } catch (cause) {
    if (overflow || cause instanceof LimitError) throw cause;
    throw new FormatError(
      `Cannot inflate ${format} ${what}: corrupt deflate data (${(cause as Error).message})`,
      {
        offset,
        format,
        cause,
      },
    );
  }
  if (!ended || written !== expectedBytes) {
    throw new FormatError(
      `Cannot inflate ${format} ${what}: it expands to ${written} bytes, expected ${expectedBytes}`,
      { offset, format },
    );
  }
  return await Promise.resolve(out);
}
