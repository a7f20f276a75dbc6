/**
 * Binary I/O shared by the formats and by the packed-format kit: a
 * bounds-checked little-endian field reader and writer, magic and version
 * checks, alignment, windowed header reads from a byte source, and a source
 * restricted to a slice of another.
 *
 * @example Read two fields and refuse a short input
 * ```ts
 * import { FieldReader, FieldWriter } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const w = new FieldWriter();
 * w.u32(7);
 * w.f32(0.5);
 * const r = new FieldReader(w.toBytes());
 * assert.equal(r.u32(), 7);
 * assert.equal(r.f32(), 0.5);
 * assert.throws(() => r.u8(), RangeError);
 * ```
 *
 * @module
 */

export * from "./align.ts";
export * from "./magic.ts";
export * from "./field_reader.ts";
export * from "./field_writer.ts";
export * from "./read_window.ts";
export * from "./slice_source.ts";
