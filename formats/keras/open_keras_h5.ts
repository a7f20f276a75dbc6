/**
 * Open Keras HDF5 weights: Keras 3 `.weights.h5` files and legacy `.h5`
 * files (Keras 2, tf.keras and Keras 3's `model.save("model.h5")`, full
 * models and weights only).
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import { FormatError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import type { TensorFile } from "../../lib/tensor.ts";
import { bytesReader, fileRangeReader, Hdf5File, type SyncReader } from "./_hdf5.ts";
import { isLegacyLayout, keras3Variables, type KerasVariable, legacyVariables } from "./_layout.ts";
import { kerasTensorFile } from "./_tensor_file.ts";

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
  _options: OpenOptions = {},
): Promise<TensorFile> {
  let reader: SyncReader;
  let name: string;
  let size: number;
  if (typeof input === "string") {
    size = (await Deno.stat(input)).size;
    reader = fileRangeReader(input, 0, size);
    name = input;
  } else {
    size = input.size;
    try {
      reader = bytesReader(await input.read(0, input.size));
    } finally {
      await input.close();
    }
    name = input.name;
  }
  const file = await Hdf5File.open(reader, name);
  try {
    let variables: KerasVariable[];
    const metadata: Record<string, string> = {};
    if (isLegacyLayout(file)) {
      variables = legacyVariables(file);
      const root = file.keys("").includes("model_weights") ? "model_weights" : "";
      for (const key of ["keras_version", "backend"]) {
        const value = file.attribute(root, key) ?? file.attribute("", key);
        if (typeof value === "string") metadata[key] = value;
      }
    } else {
      const keys = file.keys("");
      if (!keys.includes("layers") && !keys.includes("vars") && !keys.includes("optimizer")) {
        throw new FormatError(
          `Cannot read ${name}: it is an HDF5 file but not Keras weights (no layer_names attribute, no layers or vars groups)`,
          { format: "keras-h5" },
        );
      }
      variables = keras3Variables(file).variables;
    }
    return kerasTensorFile("keras-h5", file, variables, metadata, size, () => Promise.resolve());
  } catch (error) {
    file.close();
    throw error;
  }
}
