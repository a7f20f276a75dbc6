/**
 * A window of a byte source seen as a source of its own (a zip member, a
 * blob inside a container), so parsers can treat it as a whole file.
 *
 * @module
 */

import { type ByteSource, checkRange } from "../byte_source.ts";

/**
 * The bytes `[offset, offset + length)` of `source` as a source. Closing it
 * leaves the parent open.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sliceSource } from "./slice_source.ts";
 * import { bytesSource } from "../byte_source.ts";
 * const inner = sliceSource(bytesSource(new Uint8Array([1, 2, 3, 4])), 1, 2);
 * assert.equal(inner.size, 2);
 * assert.deepEqual(await inner.read(0, 2), new Uint8Array([2, 3]));
 * ```
 */
export function sliceSource(source: ByteSource, offset: number, length: number, name?: string): ByteSource {
  checkRange(source.name, source.size, offset, length);
  const label = name ?? `${source.name}[${offset}, ${offset + length})`;
  return {
    size: length,
    name: label,
    read(at: number, n: number, out?: Uint8Array): Promise<Uint8Array> {
      try {
        checkRange(label, length, at, n);
      } catch (error) {
        return Promise.reject(error);
      }
      return source.read(offset + at, n, out);
    },
    close(): Promise<void> {
      return Promise.resolve();
    },
  };
}
