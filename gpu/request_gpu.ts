/**
 * The process-wide GPU quantizer: found once, shared by every transform.
 *
 * @module
 */

import { type QuantizeBackend, registerGpuProvider } from "../lib/quantize.ts";
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
  return { name: gpu.adapterName, kind: gpu.adapter.kind, quantize: (jobs) => gpu.quantize(jobs) };
}

/**
 * Where quantization runs, in words for the CLI: `gpu (<adapter>)`, `cpu`
 * for `--device cpu`, and for `auto` without a hardware adapter `cpu` with
 * the reason (no adapter, or the software adapter it left alone).
 *
 * @example
 * ```ts
 * import { deviceLabel } from "./request_gpu.ts";
 * import assert from "node:assert/strict";
 * assert.equal(await deviceLabel("cpu", undefined), "cpu");
 * assert.equal(await deviceLabel("gpu", { name: "NVIDIA H200", quantize: () => Promise.resolve([]) }), "gpu (NVIDIA H200)");
 * ```
 */
export async function deviceLabel(
  requested: "auto" | "gpu" | "cpu",
  backend: QuantizeBackend | undefined,
): Promise<string> {
  if (backend) return `gpu (${backend.name}${backend.kind === "software" ? ", a software adapter" : ""})`;
  if (requested === "cpu") return "cpu";
  const gpu = await requestGpu();
  if (!gpu) return "cpu (no WebGPU adapter)";
  return `cpu (left the software adapter ${gpu.adapterName} alone: ${gpu.adapter.reason}; --device gpu uses it)`;
}

// Importing the GPU layer is what lets `quantize({ device: "auto" })` use it.
registerGpuProvider(gpuBackend);
