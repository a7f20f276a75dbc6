/**
 * A buffer reused for reads of many sizes: it grows to the largest asked for
 * and is handed out again, so writing tensor after tensor costs no fresh
 * tensor-sized allocations (their page faults and garbage).
 *
 * @module
 */

/**
 * Hands out views of one growing buffer. Each view is valid until the next
 * {@linkcode ScratchBuffer.take}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ScratchBuffer } from "./scratch_buffer.ts";
 * const scratch = new ScratchBuffer();
 * const a = scratch.take(16);
 * const b = scratch.take(8); // the same memory as a's first 8 bytes
 * assert.equal(a.buffer, b.buffer);
 * ```
 */
export class ScratchBuffer {
  #buffer = new Uint8Array(0);

  /** A view of `length` bytes, reusing the buffer when it is large enough. */
  take(length: number): Uint8Array {
    if (this.#buffer.length < length) this.#buffer = new Uint8Array(length);
    return this.#buffer.subarray(0, length);
  }
}
