/**
 * Encode a tensor stream to safetensors bytes in memory.
 *
 * @module
 */

import { memorySink } from "../../lib/byte_sink.ts";
import type { TensorStream } from "../../lib/tensor.ts";
import { writeSafetensors, type WriteSafetensorsOptions } from "./write_safetensors.ts";

/**
 * Encode a tensor stream as one safetensors file in memory (for small
 * models and tests; use {@linkcode writeSafetensors} with a file sink for
 * large ones).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "./encode_safetensors.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const bytes = await encodeSafetensors({ metadata: {}, tensors: [
 *   tensorFromBytes("bias", "F32", [1], new Uint8Array(4)),
 * ] });
 * assert.equal(bytes.length, 76);
 * ```
 */
export async function encodeSafetensors(
  stream: TensorStream,
  options: WriteSafetensorsOptions = {},
): Promise<Uint8Array> {
  const sink = memorySink();
  await writeSafetensors(stream, sink, options);
  await sink.close();
  return sink.bytes();
}
