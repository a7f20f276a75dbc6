/**
 * numpy's .npy (versions 1.0–3.0, every dtype ckpt has, big-endian and
 * Fortran-order arrays converted on read) and .npz (stored or deflated
 * members, read lazily with a bound on inflation), read and written with
 * the bytes numpy itself writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openNpy, writeNpy } from "@ckpt/ckpt/numpy";
 * import { bytesSource, memorySink, tensorFromBytes } from "@ckpt/ckpt";
 *
 * const sink = memorySink();
 * await writeNpy({ metadata: {}, tensors: [
 *   tensorFromBytes("x", "F32", [2], new Uint8Array(new Float32Array([1, 2]).buffer)),
 * ] }, sink);
 * const file = await openNpy(bytesSource(sink.bytes()));
 * const bytes = await file.tensors[0].read();
 * assert.deepEqual(new Float32Array(bytes.slice().buffer), new Float32Array([1, 2]));
 * ```
 *
 * @module
 */

export * from "./npy_header.ts";
export * from "./open_npy.ts";
export * from "./write_npy.ts";
export * from "./open_npz.ts";
export * from "./write_npz.ts";
export * from "./format.ts";
