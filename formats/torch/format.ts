/**
 * The PyTorch format descriptor for the registry: zip and legacy checkpoints
 * and plain pickles, sniffed by their bytes; written as zip state dicts.
 *
 * @module
 */

import type { ByteSink } from "../../lib/byte_sink.ts";
import type { ByteSource } from "../../lib/byte_source.ts";
import type { TensorFormat, WriteOptions } from "../../lib/format.ts";
import type { TensorFile, TensorStream } from "../../lib/tensor.ts";
import { sniffPickle } from "../pickle/mod.ts";
import { ggufFormat } from "../gguf/format.ts";
import { isLegacyTorch, isTorchZip, openTorch, type OpenTorchOptions } from "./open_torch.ts";
import { writeTorch } from "./write_torch.ts";

/**
 * True when `head` (of a file `size` bytes long) looks like a PyTorch zip
 * checkpoint, a legacy checkpoint, or a pickle of any protocol (0-5).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sniffTorch } from "./format.ts";
 * assert.equal(sniffTorch(new Uint8Array([0x80, 4, 0x95, 2, 0, 0, 0, 0, 0, 0, 0, 0x4e, 0x2e])), true);
 * assert.equal(sniffTorch(new TextEncoder().encode("(dp0\nS'a'\np1\nI1\ns.")), true); // protocol 0
 * assert.equal(sniffTorch(new TextEncoder().encode("hello")), false);
 * ```
 */
export function sniffTorch(head: Uint8Array, size: number = head.length): boolean {
  if (isTorchZip(head) || isLegacyTorch(head)) return true;
  // GGUF's magic opens with "G" (BINFLOAT): leave it to its own sniffer.
  return !ggufFormat.sniff(head, size) && sniffPickle(head, size);
}

/**
 * PyTorch checkpoints (`.pt`, `.pth`, `.bin`, `.ckpt`) and pickles of numpy
 * arrays (`.pkl`, reported as format `pickle`). Writes zip state dicts that
 * `torch.load(weights_only=True)` accepts.
 *
 * @example
 * ```ts
 * import { torchFormat } from "./format.ts";
 * console.log(torchFormat.name, torchFormat.extensions); // torch [ ".pt", ".pth", ".bin" ]
 * ```
 */
export const torchFormat: TensorFormat<OpenTorchOptions> = {
  name: "torch",
  extensions: [".pt", ".pth", ".bin"],
  sniff: (head: Uint8Array, size: number) => sniffTorch(head, size),
  open: (source: ByteSource, options?: OpenTorchOptions): Promise<TensorFile> => openTorch(source, options),
  write: (stream: TensorStream, sink: ByteSink, _options?: WriteOptions): Promise<void> =>
    writeTorch(stream, sink),
};
