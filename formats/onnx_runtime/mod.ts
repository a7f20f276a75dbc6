/**
 * Running ONNX models with onnxruntime-node: compare two models on the same
 * inputs (top-1 agreement, output differences, cosine) and measure every
 * intermediate value's shape. Apart from the codec (`@ckpt/ckpt/onnx`)
 * because it loads a native library (`--allow-ffi --allow-env`).
 *
 * @example Compare a model with its int8 copy
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { compareOnnxModels } from "@ckpt/ckpt/onnx-runtime";
 *
 * const r = await compareOnnxModels("model.onnx", "model-int8.onnx", { random: 20, seed: 1 });
 * assert.ok(r.cosine > 0.99);
 * ```
 *
 * @module
 */

export * from "./activations.ts";
export * from "./compare_models.ts";
