/**
 * A GGUF model as a tensor stream: string metadata for every key, with the
 * typed key/values attached so a GGUF writer (or `quantizeGguf`) keeps each
 * key's exact type.
 *
 * @module
 */

import type { TensorEntry, TensorStream } from "../../lib/tensor.ts";
import {
  attachGgufKeyValues,
  type GgufKeyValue,
  ggufValueToString,
  metadataKeyFromGguf,
} from "./gguf_value.ts";

/**
 * The stream of a GGUF model made of typed key/values and tensors (what
 * `openGguf` reads from a file, or what a converter builds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ggufModelStream } from "./gguf_model_stream.ts";
 * import { ggufKeyValuesOf } from "./gguf_value.ts";
 * const stream = ggufModelStream([{ key: "llama.block_count", type: "u32", value: 2 }], []);
 * assert.equal(stream.metadata["llama.block_count"], "2");
 * assert.equal(ggufKeyValuesOf(stream.metadata)?.[0].type, "u32");
 * ```
 */
export function ggufModelStream(kv: readonly GgufKeyValue[], tensors: TensorEntry[]): TensorStream {
  const metadata: Record<string, string> = {};
  for (const { key, type, value } of kv) metadata[metadataKeyFromGguf(key)] = ggufValueToString(type, value);
  attachGgufKeyValues(metadata, kv);
  return { metadata, tensors };
}
