/**
 * Write one tensor as an .npy file, with the header numpy itself would
 * write, so `np.save` and ckpt produce the same bytes.
 *
 * @module
 */

import type { ByteSink } from "../../lib/byte_sink.ts";
import { UsageError } from "../../lib/errors.ts";
import type { WriteOptions } from "../../lib/format.ts";
import { requirePlainEntry } from "../../lib/plain_entry.ts";
import { collectTensors, type TensorStream } from "../../lib/tensor.ts";
import { encodeNpyHeader } from "./npy_header.ts";

/** Options for {@linkcode writeNpy}. */
export interface WriteNpyOptions extends WriteOptions {
  /** Header version; numpy's choice when absent. @default the oldest that fits */
  version?: 1 | 2 | 3;
}

/**
 * Write a stream holding exactly one tensor as .npy (C order,
 * little-endian). Block-encoded tensors are dequantized to float32; dtypes
 * numpy lacks (BF16, FP8) are refused with `UsageError`. The caller closes
 * the sink.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeNpy } from "./write_npy.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const sink = memorySink();
 * await writeNpy({ metadata: {}, tensors: [tensorFromBytes("x", "F32", [2], new Uint8Array(8))] }, sink);
 * assert.equal(sink.bytes().length, 136); // a 128-byte header, then 8 bytes of data
 * ```
 */
export async function writeNpy(
  stream: TensorStream,
  sink: ByteSink,
  options: WriteNpyOptions = {},
): Promise<void> {
  {
    const s = sink;
    const entries = await collectTensors(stream);
    if (entries.length !== 1) {
      throw new UsageError(
        `Cannot write npy: it holds exactly one array but the input has ${entries.length} tensors (write .npz instead)`,
      );
    }
    const entry = entries[0];
    requirePlainEntry(entry, "npy");
    await s.write(encodeNpyHeader(entry.dtype, entry.shape, { version: options.version }));
    await s.write(await entry.read());
  }
}
