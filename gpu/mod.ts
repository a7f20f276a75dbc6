/**
 * WebGPU quantization: the WGSL kernels of every scheme run on the first
 * adapter, chunked to its binding limits, with bytes identical to the CPU
 * reference. Importing this module lets `quantize({ device: "auto" })` use
 * the GPU when the adapter is hardware (`classifyAdapter`); `device: "gpu"`
 * uses any adapter.
 *
 * @example
 * ```ts ignore
 * import { requestGpu } from "@ckpt/ckpt/gpu";
 * const gpu = await requestGpu();
 * console.log(gpu?.adapterName ?? "no WebGPU adapter");
 * ```
 *
 * @module
 */

export * from "./adapter_kind.ts";
export * from "./gpu_quantizer.ts";
export * from "./request_gpu.ts";
