/**
 * Parse a header of unknown length from a random-access source by reading a
 * window and widening it only when the parser asks for more, so listing a
 * remote file's tensors fetches little more than its header.
 *
 * @module
 */

import type { ByteSource } from "../byte_source.ts";
import { LimitError } from "../errors.ts";
import { FieldReader, NeedMoreBytes } from "./field_reader.ts";

/** Options for {@linkcode parseFromSource}. */
export interface ParseFromSourceOptions {
  /** Format name for messages. @default "packed" */
  format?: string;
  /** Bytes read in the first attempt. @default 1048576 (1 MiB) */
  initialBytes?: number;
  /** Largest header to read. @default 1073741824 (1 GiB) */
  maxBytes?: number;
  /** Where the header starts in the source. @default 0 */
  start?: number;
}

/**
 * Run `parse` over a {@linkcode FieldReader} on the source's first bytes,
 * re-running it on a larger window whenever it reads past the window (the
 * reader throws `NeedMoreBytes`) until it succeeds, the source ends
 * (`TruncatedError`), or the window would pass `maxBytes` (`LimitError`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFromSource } from "./read_window.ts";
 * import { bytesSource } from "../byte_source.ts";
 * const src = bytesSource(new Uint8Array([1, 0, 0, 0, 7]));
 * assert.deepEqual(await parseFromSource(src, (r) => [r.u32(), r.u8()], { initialBytes: 2 }), [1, 7]);
 * ```
 */
export async function parseFromSource<T>(
  source: ByteSource,
  parse: (reader: FieldReader) => T,
  options: ParseFromSourceOptions = {},
): Promise<T> {
  const start = options.start ?? 0;
  const max = options.maxBytes ?? 1024 * 1024 * 1024;
  const available = source.size - start;
  let window = Math.min(options.initialBytes ?? 1024 * 1024, available, max);
  for (;;) {
    const bytes = await source.read(start, window);
    try {
      return parse(new FieldReader(bytes, { base: start, totalSize: source.size, format: options.format }));
    } catch (error) {
      if (!(error instanceof NeedMoreBytes)) throw error;
      const needed = error.needed - start;
      if (needed > max) {
        throw new LimitError(
          `Cannot decode ${
            options.format ?? "packed"
          } header of ${source.name}: it is larger than the limit of ${max} bytes`,
          { limit: max, actual: needed },
        );
      }
      window = Math.min(Math.max(needed, window * 2), available, max);
    }
  }
}
