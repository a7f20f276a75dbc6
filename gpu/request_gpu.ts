/**
 * The process-wide GPU quantizer: found once, shared by every transform.
 *
 * @module
 */

import { type QuantizeBackend, registerGpuProvider } from "../lib/quant/mod.ts";
import { GpuQuantizer, type GpuQuantizerOptions } from "./gpu_quantizer.ts";

let shared: Promise<GpuQuantizer | undefined> | undefined;

/**
 * The shared {@linkcode GpuQuantizer}, or `undefined` when WebGPU has no
 * adapter. The first call opens the device; later calls reuse it.
 *
 * @example
 * ```ts ignore
 * import { requestGpu } from "./request_gpu.ts";
 * const gpu = await requestGpu();
 * console.log(gpu ? gpu.adapterName : "no adapter");
 * ```
 */
export function requestGpu(options: GpuQuantizerOptions = {}): Promise<GpuQuantizer | undefined> {
  shared ??= GpuQuantizer.create(options).catch(() => undefined);
  return shared;
}

/**
 * The shared GPU as a quantize backend (for `quantize({ device })`).
 *
 * @example
 * ```ts ignore
 * import { gpuBackend } from "./request_gpu.ts";
 * const backend = await gpuBackend();
 * ```
 */
export async function gpuBackend(): Promise<QuantizeBackend | undefined> {
  const gpu = await requestGpu();
  if (!gpu) return undefined;
  return {
    name: gpu.adapterName,
    software: gpu.adapter.kind === "software",
    ...(gpu.adapter.kind === "software" ? { softwareReason: gpu.adapter.reason } : {}),
    quantize: (jobs) => gpu.quantize(jobs),
  };
}

// Importing the GPU layer is what lets `quantize({ device: "auto" })` use it.
registerGpuProvider(gpuBackend);
