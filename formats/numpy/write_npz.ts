/**
 * Write tensors as an .npz: one `<name>.npy` member each, stored (as
 * `numpy.savez`) or deflated (as `numpy.savez_compressed`), one tensor in
 * memory at a time.
 *
 * @module
 */

import { ScratchBuffer } from "../../lib/scratch_buffer.ts";
import type { ByteSink } from "../../lib/byte_sink.ts";
import { UsageError } from "../../lib/errors.ts";
import type { WriteOptions } from "../../lib/format.ts";
import { requirePlainEntry } from "../../lib/plain_entry.ts";
import type { TensorStream } from "../../lib/tensor.ts";
import { createZipWriter } from "../zip/create_zip_writer.ts";
import { encodeNpyHeader } from "./npy_header.ts";

/** Options for {@linkcode writeNpz}. */
export interface WriteNpzOptions extends WriteOptions {
  /** Deflate each member, as `numpy.savez_compressed`. @default false */
  compress?: boolean;
}

/**
 * Write a stream as .npz. Block-encoded tensors are dequantized to float32;
 * dtypes numpy lacks are refused. The caller closes the sink.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeNpz } from "./write_npz.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const sink = memorySink();
 * await writeNpz({ metadata: {}, tensors: [tensorFromBytes("w", "F32", [4], new Uint8Array(16))] }, sink);
 * assert.equal(new TextDecoder().decode(sink.bytes().subarray(0, 2)), "PK"); // a zip archive
 * ```
 */
export async function writeNpz(
  stream: TensorStream,
  sink: ByteSink,
  options: WriteNpzOptions = {},
): Promise<void> {
  {
    const s = sink;
    const zip = createZipWriter(s);
    const names = new Set<string>();
    // One member buffer for every tensor (the zip writer is done with it when add() resolves).
    const scratch = new ScratchBuffer();
    for await (const original of stream.tensors) {
      const entry = original;
      requirePlainEntry(entry, "npz");
      if (names.has(entry.name)) {
        throw new UsageError(`Cannot write npz: duplicate tensor name '${entry.name}'`);
      }
      names.add(entry.name);
      const header = encodeNpyHeader(entry.dtype, entry.shape);
      const member = scratch.take(header.length + entry.byteLength);
      member.set(header);
      await entry.read(member.subarray(header.length));
      await zip.add(`${entry.name}.npy`, member, { method: options.compress ? "deflate" : "store" });
    }
    await zip.finish();
  }
}
