/**
 * Open Keras HDF5 weights: Keras 3 `.weights.h5` files and legacy `.h5`
 * files (Keras 2, tf.keras and Keras 3's `model.save("model.h5")`, full
 * models and weights only).
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import type { TensorFile } from "../../lib/tensor.ts";
import { openHdf5Tensors } from "./_hdf5_client.ts";
import type { OpenKerasOptions } from "./open_keras.ts";

/**
 * Open a Keras HDF5 weights file. Tensors are named by their Keras paths
 * (`dense/kernel`); optimizer state is listed as `optimizer/…`.
 *
 * A path is read lazily: the HDF5 library reads the metadata it walks and
 * each dataset when its tensor is read, never the whole file. A
 * {@linkcode ByteSource} is read into memory first (HDF5 needs synchronous
 * reads), so it costs the file's size in memory.
 *
 * Keras 3 files store no variable names, only layer names and numbered
 * datasets: names come from the layer's class (its group key) as the
 * built-in layers create their variables (`kernel`, `bias`, `gamma`, …),
 * else the dataset's number (`custom_layer/0`); optimizer variables are
 * numbered (`optimizer/adam/0`), since without the model's config their
 * order cannot be tied to the weights. Legacy files store their names,
 * which are used as they are, less TensorFlow's `:0`.
 *
 * HDF5 runs in a worker: a corrupt file that makes the library loop is
 * stopped after `timeoutMs` with a `LimitError`.
 *
 * @example
 * ```ts
 * import { openKerasH5 } from "./open_keras_h5.ts";
 * import assert from "node:assert/strict";
 * const file = await openKerasH5(new URL("../../tests/data/keras/functional.h5", import.meta.url).pathname);
 * const kernel = file.tensors.find((t) => t.name === "dense/kernel")!;
 * assert.deepEqual(kernel.shape, [12, 3]);
 * assert.equal((await kernel.read()).length, 12 * 3 * 4);
 * await file.close();
 * ```
 */
export async function openKerasH5(
  input: string | ByteSource,
  options: OpenKerasOptions = {},
): Promise<TensorFile> {
  if (typeof input === "string") {
    const size = (await Deno.stat(input)).size;
    return await openHdf5Tensors(
      "keras-h5",
      { kind: "file", path: input, base: 0, size },
      input,
      undefined,
      {},
      size,
      options.timeoutMs,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await input.read(0, input.size);
  } finally {
    await input.close();
  }
  return await openHdf5Tensors(
    "keras-h5",
    { kind: "bytes", buffer: bytes.slice().buffer },
    input.name,
    undefined,
    {},
    input.size,
    options.timeoutMs,
  );
}
