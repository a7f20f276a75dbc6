/**
 * Quantization: the schemes (each one layout, CPU reference, WGSL kernel and
 * dequantizer), the serialisable {@linkcode QuantizeSpec}, the device choice,
 * and the `quantize` / `dequantize` pipeline transforms.
 *
 * @example Quantize to int8 and back
 * ```ts
 * import assert from "node:assert/strict";
 * import { dequantize, quantize } from "./mod.ts";
 * import { pipe } from "../pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "../tensor.ts";
 * const values = new Float32Array(64).map((_, i) => i / 63 - 0.5);
 * const w = tensorFromBytes("w", "F32", [2, 32], new Uint8Array(values.buffer));
 * const out = pipe({ metadata: {}, tensors: [w] }, quantize({ scheme: "int8" }, { device: "cpu" }), dequantize());
 * const [back] = await collectTensors(out);
 * const restored = new Float32Array((await back.read()).slice().buffer);
 * assert.ok(restored.every((v, i) => Math.abs(v - values[i]) < 0.004));
 * ```
 *
 * @module
 */

export * from "./scheme.ts";
export * from "./schemes.ts";
export * from "./spec.ts";
export * from "./device.ts";
export * from "./quantize.ts";
export * from "./dequantize.ts";
export { QUANTIZATION_METADATA_KEY } from "./_records.ts";
export * from "./cpu_workers.ts";
