/**
 * Alignment and padding arithmetic for packed layouts.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/**
 * True when `n` is a positive power of two.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPowerOfTwo } from "./align.ts";
 * assert.equal(isPowerOfTwo(32), true);
 * assert.equal(isPowerOfTwo(0), false);
 * assert.equal(isPowerOfTwo(24), false);
 * ```
 */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

/**
 * `offset` rounded up to a multiple of `alignment` (a positive integer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { alignTo } from "./align.ts";
 * assert.equal(alignTo(33, 32), 64);
 * assert.equal(alignTo(64, 32), 64);
 * ```
 */
export function alignTo(offset: number, alignment: number): number {
  if (!Number.isSafeInteger(alignment) || alignment <= 0) {
    throw new UsageError(`Alignment must be a positive integer, got ${alignment}`);
  }
  const rem = offset % alignment;
  return rem === 0 ? offset : offset + alignment - rem;
}

/**
 * Zero bytes needed after `offset` to reach the next multiple of `alignment`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paddingFor } from "./align.ts";
 * assert.equal(paddingFor(10, 8), 6);
 * ```
 */
export function paddingFor(offset: number, alignment: number): number {
  return alignTo(offset, alignment) - offset;
}
