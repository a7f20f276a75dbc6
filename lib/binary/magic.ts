/**
 * Magic numbers and version checks at the start of a packed file.
 *
 * @module
 */

import { FormatError } from "../errors.ts";

/** A magic number as bytes or as a latin-1 string such as `"GGUF"` or `"\x93NUMPY"`. */
export type Magic = string | Uint8Array;

/**
 * The bytes of a magic number given as a latin-1 string (or as bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { magicBytes } from "./magic.ts";
 * assert.deepEqual(magicBytes("GGUF"), new Uint8Array([71, 71, 85, 70]));
 * ```
 */
export function magicBytes(magic: Magic): Uint8Array {
  if (typeof magic !== "string") return magic;
  const out = new Uint8Array(magic.length);
  for (let i = 0; i < magic.length; i++) {
    const c = magic.charCodeAt(i);
    if (c > 255) throw new TypeError(`Magic '${magic}' has a character outside latin-1`);
    out[i] = c;
  }
  return out;
}

/**
 * True when `head` starts with `magic` (for a format's `sniff`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasMagic } from "./magic.ts";
 * assert.equal(hasMagic(new TextEncoder().encode("GGUF\x03"), "GGUF"), true);
 * ```
 */
export function hasMagic(head: Uint8Array, magic: Magic, offset = 0): boolean {
  const m = magicBytes(magic);
  if (head.length < offset + m.length) return false;
  for (let i = 0; i < m.length; i++) if (head[offset + i] !== m[i]) return false;
  return true;
}

function printable(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "?")).join("");
}

/**
 * Throw `FormatError` unless `head` starts with `magic`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMagic } from "./magic.ts";
 * import { FormatError } from "../errors.ts";
 * checkMagic(new TextEncoder().encode("GGUF"), "GGUF", "gguf"); // passes
 * assert.throws(() => checkMagic(new TextEncoder().encode("GGML"), "GGUF", "gguf"), FormatError);
 * assert.throws(() => checkMagic(new TextEncoder().encode("GGML"), "GGUF", "gguf"), {
 *   message: "Cannot decode gguf: invalid magic 'GGML', expected 'GGUF'",
 *   offset: 0,
 * });
 * ```
 */
export function checkMagic(head: Uint8Array, magic: Magic, format: string): void {
  if (!hasMagic(head, magic)) {
    const m = magicBytes(magic);
    throw new FormatError(
      `Cannot decode ${format}: invalid magic '${printable(head.subarray(0, m.length))}', expected '${
        printable(m)
      }'`,
      { offset: 0, format },
    );
  }
}

/**
 * Throw `FormatError` unless `version` is one of `supported`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkVersion } from "./magic.ts";
 * import { FormatError } from "../errors.ts";
 * checkVersion(3, [2, 3], "gguf", 4); // passes
 * assert.throws(() => checkVersion(1, [2, 3], "gguf", 4), FormatError);
 * assert.throws(() => checkVersion(1, [2, 3], "gguf", 4), {
 *   message: "Cannot decode gguf: version 1 is not supported (supported: 2, 3)",
 *   offset: 4,
 * });
 * ```
 */
export function checkVersion(
  version: number,
  supported: readonly number[],
  format: string,
  offset: number,
): void {
  if (!supported.includes(version)) {
    throw new FormatError(
      `Cannot decode ${format}: version ${version} is not supported (supported: ${supported.join(", ")})`,
      { offset, format },
    );
  }
}
