/**
 * The PyTorch format descriptor for the registry: zip and legacy checkpoints
 * and plain pickles, sniffed by their bytes; written as zip state dicts.
 *
 * @module
 */

import type { ByteSink } from "../../lib/byte_sink.ts";
import type { ByteSource } from "../../lib/byte_source.ts";
import type { OpenOptions, TensorFormat, WriteOptions } from "../../lib/format.ts";
import type { TensorFile, TensorStream } from "../../lib/tensor.ts";
import { isLegacyTorch, isTorchZip, openTorch } from "./open_torch.ts";
import { writeTorch } from "./write_torch.ts";

/**
 * True when `head` looks like a PyTorch zip checkpoint, a legacy checkpoint,
 * or a pickle (protocol 2 or later: a PROTO opcode).
 *
 * @example
 * ```ts
 * import { sniffTorch } from "./format.ts";
 * console.log(sniffTorch(new Uint8Array([0x80, 4, 0x95]))); // true
 * console.log(sniffTorch(new TextEncoder().encode("hello"))); // false
 * ```
 */
export function sniffTorch(head: Uint8Array): boolean {
  if (isTorchZip(head) || isLegacyTorch(head)) return true;
  return head.length >= 3 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
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
export const torchFormat: TensorFormat = {
  name: "torch",
  extensions: [".pt", ".pth", ".bin"],
  sniff: (head: Uint8Array) => sniffTorch(head),
  open: (source: ByteSource, options?: OpenOptions): Promise<TensorFile> => openTorch(source, options),
  write: (stream: TensorStream, sink: ByteSink, _options?: WriteOptions): Promise<void> =>
    writeTorch(stream, sink),
};
