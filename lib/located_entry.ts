/**
 * Entries that say where their bytes lie unchanged in a source, in a way a
 * copy cannot inherit by accident.
 *
 * @module
 */

import type { TensorEntry, TensorLocation } from "./tensor.ts";

/**
 * `entry` with `location` as a non-enumerable property. Spreading it
 * (`{ ...entry, read }`) leaves the location behind, so an entry whose
 * bytes were replaced never sends a writer's chunked copy to the original
 * ones; a transform that keeps the bytes passes the location on with this
 * function (as `rename` does). Without a location, `entry` itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { locatedEntry } from "./located_entry.ts";
 * import { bytesSource } from "./byte_source.ts";
 * import { tensorFromBytes } from "./tensor.ts";
 * const bytes = new Uint8Array(8);
 * const entry = locatedEntry(tensorFromBytes("w", "F32", [2], bytes), { source: bytesSource(bytes), offset: 0 });
 * assert.equal(entry.location?.offset, 0);
 * const changed = { ...entry, read: () => Promise.resolve(new Uint8Array(8).fill(1)) };
 * assert.equal(changed.location, undefined); // the copy's bytes are its own
 * ```
 */
export function locatedEntry(entry: TensorEntry, location: TensorLocation | undefined): TensorEntry {
  if (location === undefined) return entry;
  const { location: _previous, ...rest } = entry;
  return Object.defineProperty(rest, "location", { value: location, enumerable: false }) as TensorEntry;
}
