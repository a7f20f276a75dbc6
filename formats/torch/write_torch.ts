/**
 * Write PyTorch `.pt` files that `torch.load(path, weights_only=True)`
 * accepts: a zip of `archive/data.pkl` (an OrderedDict state dict pickled
 * with protocol 2), `archive/data/<n>` storages and `archive/version`, each
 * record's data on a 64-byte boundary, as torch's own writer lays them out.
 * Float8, uint16/32/64 go as torch ≥ 2.1 writes them (an untyped storage and
 * `_rebuild_tensor_v3` with the dtype); the packed sub-byte dtypes (F4, F6_*)
 * have no torch dtype and are refused.
 *
 * @module
 */

import type { ByteSink } from "../../lib/byte_sink.ts";
import { requirePlainEntry } from "../../lib/plain_entry.ts";
import { UsageError } from "../../lib/errors.ts";
import { collectTensors, type TensorStream } from "../../lib/tensor.ts";
import { dumpPickle, PickleGlobal, PickleObject, PicklePersistent, PickleTuple } from "../pickle/mod.ts";
import { createZipWriter } from "../zip/mod.ts";
import { DTYPE_STORAGES, DTYPE_V3 } from "./_dtypes.ts";
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
  const rebuildV3 = new PickleGlobal("torch._utils", "_rebuild_tensor_v3");
  const untyped = new PickleGlobal("torch.storage", "UntypedStorage");
  const orderedDict = new PickleGlobal("collections", "OrderedDict");
  const stateDict = new PickleObject("collections", "OrderedDict", []);
  entries.forEach((entry, index) => {
    if (names.has(entry.name)) throw new UsageError(`Cannot write two tensors named '${entry.name}'`);
    names.add(entry.name);
    requirePlainEntry(entry, "a PyTorch file");
    const storage = DTYPE_STORAGES[entry.dtype];
    const v3 = DTYPE_V3[entry.dtype];
    if (!storage && !v3) {
      throw new UsageError(
        `Cannot write '${entry.name}' to a PyTorch file: torch has no dtype for ${entry.dtype}`,
      );
    }
    const numel = entry.shape.reduce((a, b) => a * b, 1);
    // New dtypes go as torch ≥ 2.1 saves them: an untyped storage of bytes and _rebuild_tensor_v3 with the dtype.
    const pid = new PicklePersistent(
      new PickleTuple([
        "storage",
        storage ? new PickleGlobal("torch", storage) : untyped,
        String(index),
        "cpu",
        storage ? numel : entry.byteLength,
      ]),
      undefined,
    );
    const args = [
      pid,
      0,
      new PickleTuple([...entry.shape]),
      new PickleTuple(rowMajorStrides(entry.shape)),
      false,
      new PickleObject(orderedDict.module, orderedDict.name, []),
    ];
    const tensor = storage
      ? new PickleObject(rebuild.module, rebuild.name, args)
      : new PickleObject(rebuildV3.module, rebuildV3.name, [...args, new PickleGlobal("torch", v3!)]);
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
