/**
 * The packed-format kit: the parts ckpt's own codecs are built from, for
 * defining a tensor container of your own in a page — magic and version
 * checks, a bounds-checked little-endian field reader and writer, JSON and
 * length-prefixed header codecs, a validated tensor table, alignment
 * helpers, per-blob deflate with an inflation bound, windowed header reads
 * from any byte source, and `definePackedFormat` tying them together.
 *
 * @example A format of your own
 * ```ts
 * import assert from "node:assert/strict";
 * import { definePackedFormat } from "@ckpt/ckpt/packed";
 * import { bytesSource, memorySink, tensorFromBytes } from "@ckpt/ckpt";
 *
 * const tiny = definePackedFormat({ name: "tiny", extensions: [".tiny"], magic: "TINY", deflate: true });
 * const sink = memorySink();
 * await tiny.write({ metadata: {}, tensors: [tensorFromBytes("w", "F32", [2], new Uint8Array(8))] }, sink);
 * const file = await tiny.open(bytesSource(sink.bytes()));
 * assert.equal(file.tensors[0].name, "w");
 * assert.deepEqual(await file.tensors[0].read(), new Uint8Array(8));
 * ```
 *
 * @module
 */

export * from "../../lib/binary/align.ts";
export * from "../../lib/binary/magic.ts";
export * from "../../lib/binary/field_reader.ts";
export * from "../../lib/binary/field_writer.ts";
export * from "./header_codec.ts";
export * from "../../lib/binary/read_window.ts";
export * from "../../lib/binary/slice_source.ts";
export * from "./tensor_table.ts";
export * from "./blob_deflate.ts";
export * from "./packed_format.ts";
