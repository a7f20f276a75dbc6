/**
 * The one policy for block-encoded entries (ggml blocks, `encoding` set):
 * a writer whose format has no such storage refuses them, naming the
 * tensor, and never converts them silently. Pipe the stream through
 * `dequantize()` first to store their float values; GGUF stores them as
 * they are. (`ckpt convert` does the first for every output but GGUF.)
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import type { TensorEntry } from "./tensor.ts";

/**
 * Throw a `UsageError` when `entry` is block-encoded, for a writer of
 * `format` that cannot store blocks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requirePlainEntry } from "./plain_entry.ts";
 * import { tensorFromBytes } from "./tensor.ts";
 * const blocks = { ...tensorFromBytes("w", "F32", [32], new Uint8Array(18)), encoding: "Q4_0" };
 * assert.throws(
 *   () => requirePlainEntry(blocks, "npy"),
 *   /Cannot write tensor 'w' as npy: it holds Q4_0 blocks, which npy cannot store; dequantize it first/,
 * );
 * requirePlainEntry(tensorFromBytes("b", "F32", [1], new Uint8Array(4)), "npy"); // plain: fine
 * ```
 */
export function requirePlainEntry(entry: TensorEntry, format: string): void {
  if (entry.encoding === undefined) return;
  throw new UsageError(
    `Cannot write tensor '${entry.name}' as ${format}: it holds ${entry.encoding} blocks, which ${format} cannot store; dequantize it first (pipe through dequantize())`,
  );
}
