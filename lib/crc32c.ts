/**
 * CRC-32C (Castagnoli, the checksum LevelDB tables and TensorFlow checkpoints
 * use), table-driven with slicing-by-8, plus LevelDB's masking of stored
 * checksums.
 *
 * @module
 */

import { crcSlicing8, slicing8Tables } from "./_crc_slicing8.ts";

const TABLES: Uint32Array = slicing8Tables(0x82f63b78);

/**
 * The CRC-32C of `data`, continuing from `crc` (the result of a previous
 * call over the bytes before it), so large inputs can be checked in chunks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32c } from "./crc32c.ts";
 * const text = new TextEncoder().encode("123456789");
 * assert.equal(crc32c(text), 0xe3069283);
 * assert.equal(crc32c(text.subarray(4), crc32c(text.subarray(0, 4))), crc32c(text));
 * ```
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  return crcSlicing8(TABLES, data, crc);
}

// LevelDB stores checksums rotated and offset, so that the CRC of a string
// holding an embedded CRC is not trivially related to it.
const MASK_DELTA = 0xa282ead8;

/**
 * A CRC-32C as LevelDB and TensorFlow store it: rotated right by 15 bits plus
 * a constant.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maskCrc32c, unmaskCrc32c } from "./crc32c.ts";
 * assert.equal(unmaskCrc32c(maskCrc32c(0x12345678)), 0x12345678);
 * ```
 */
export function maskCrc32c(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/**
 * The CRC-32C a stored (masked) checksum stands for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maskCrc32c, unmaskCrc32c } from "./crc32c.ts";
 * assert.equal(unmaskCrc32c(maskCrc32c(0)), 0);
 * ```
 */
export function unmaskCrc32c(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
