/**
 * Keras files: `.keras` archives, Keras 3 `.weights.h5` and legacy `.h5`
 * (Keras 2, tf.keras), read through h5wasm (the HDF5 C library compiled to
 * WebAssembly). Tensors are named by their Keras paths (`dense/kernel`),
 * optimizer state as `optimizer/…`; values are the stored bytes.
 *
 * @example
 * ```ts
 * import { openKeras } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const file = await openKeras(new URL("../../tests/data/keras/sequential.keras", import.meta.url).pathname);
 * assert.deepEqual(file.tensors.map((t) => t.name).slice(0, 2), ["hidden/kernel", "hidden/bias"]);
 * await file.close();
 * ```
 *
 * @module
 */

export * from "./open_keras.ts";
export * from "./open_keras_h5.ts";
export * from "./format.ts";
