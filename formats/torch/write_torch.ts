/**
 * Write PyTorch `.pt` files that `torch.load(path, weights_only=True)`
 * accepts: a zip of `archive/data.pkl` (an OrderedDict state dict pickled
 * with protocol 2), `archive/data/<n>` storages and `archive/version`, each
 * record's data on a 64-byte boundary, as torch's own writer lays them out.
 *
 * @module
 */

import type { ByteSink } from "../../lib/byte_sink.ts";
import { requirePlainEntry } from "../../lib/plain_entry.ts";
import { UsageError } from "../../lib/errors.ts";
import { collectTensors, type TensorStream } from "../../lib/tensor.ts";
import { dumpPickle, PickleGlobal, PickleObject, PicklePersistent, PickleTuple } from "../pickle/mod.ts";
import { createZipWriter } from "../zip/mod.ts";
import { DTYPE_STORAGES } from "./_dtypes.ts";
import { rowMajorStrides } from "./_tensors.ts";

/** Options for {@linkcode writeTorch}. */
export interface WriteTorchOptions {
  /** Folder name of the records inside the zip. @default "archive" */
  archiveName?: string;
}

/** Record alignment torch uses (caffe2/serialize/inline_container.cc kFieldAlignment). */
export const TORCH_RECORD_ALIGNMENT = 64;

/**
 * Write a stream of tensors as a PyTorch state dict. Tensors are read one
 * at a time, each into its own storage record. Metadata is not written
 * (a state dict has nowhere to keep it).
 *
 * @example
 * ```ts
 * import { writeTorch } from "./write_torch.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const sink = memorySink();
 * const w = tensorFromBytes("fc.weight", "F32", [2], new Uint8Array(new Float32Array([1, 2]).buffer));
 * await writeTorch({ metadata: {}, tensors: [w] }, sink);
 * await sink.close();
 * console.log(sink.bytes().length > 0); // true
 * ```
 */
export async function writeTorch(
  stream: TensorStream,
  sink: ByteSink,
  options: WriteTorchOptions = {},
): Promise<void> {
  const archive = options.archiveName ?? "archive";
  if (!/^[A-Za-z0-9_.-]+$/.test(archive)) {
    throw new UsageError(`Archive name '${archive}' must be letters, digits, '_', '.' or '-'`);
  }
  const entries = await collectTensors(stream);
  const names = new Set<string>();
  const rebuild = new PickleGlobal("torch._utils", "_rebuild_tensor_v2");
  const orderedDict = new PickleGlobal("collections", "OrderedDict");
  const stateDict = new PickleObject("collections", "OrderedDict", []);
  entries.forEach((entry, index) => {
    if (names.has(entry.name)) throw new UsageError(`Cannot write two tensors named '${entry.name}'`);
    names.add(entry.name);
    requirePlainEntry(entry, "a PyTorch file");
    const storage = DTYPE_STORAGES[entry.dtype];
    if (!storage) {
      throw new UsageError(
        `Cannot write '${entry.name}' to a PyTorch file: torch has no storage for ${entry.dtype}`,
      );
    }
    const numel = entry.shape.reduce((a, b) => a * b, 1);
    const pid = new PicklePersistent(
      new PickleTuple(["storage", new PickleGlobal("torch", storage), String(index), "cpu", numel]),
      undefined,
    );
    const tensor = new PickleObject(rebuild.module, rebuild.name, [
      pid,
      0,
      new PickleTuple([...entry.shape]),
      new PickleTuple(rowMajorStrides(entry.shape)),
      false,
      new PickleObject(orderedDict.module, orderedDict.name, []),
    ]);
    stateDict.dictItems.set(entry.name, tensor);
  });
  const zip = createZipWriter(sink);
  const align = { align: TORCH_RECORD_ALIGNMENT };
  await zip.add(`${archive}/data.pkl`, dumpPickle(stateDict), align);
  let buffer = new Uint8Array(0);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    // One buffer, grown as needed, is reused for every tensor.
    if (buffer.length < entry.byteLength) buffer = new Uint8Array(entry.byteLength);
    const bytes = await entry.read(buffer.subarray(0, entry.byteLength));
    if (bytes.length !== entry.byteLength) {
      throw new RangeError(`Tensor '${entry.name}' read ${bytes.length} bytes, expected ${entry.byteLength}`);
    }
    await zip.add(`${archive}/data/${i}`, bytes, align);
  }
  await zip.add(`${archive}/version`, new TextEncoder().encode("3\n"), align);
  await zip.finish();
}
