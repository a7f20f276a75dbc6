/**
 * ckpt: read, write, convert, shrink and check tensor files — safetensors,
 * PyTorch checkpoints (without running their pickles), numpy, GGUF, ONNX
 * and formats of your own — as lazy, streaming pipelines.
 *
 * This root module is the pipeline core: the tensor types, `pipe` and its
 * transforms (`include`, `exclude`, `rename`, `cast`, `quantize`,
 * `dequantize`), opening any file by its bytes and writing any format by its
 * extension, byte sources and sinks, the quantization schemes and the typed
 * errors. Each format and kit is its own entry point:
 * `@ckpt/ckpt/safetensors`, `/torch`, `/pickle`, `/numpy`, `/gguf`, `/onnx`,
 * `/zip`, `/packed` (a container of your own), `/gpu`, `/analysis` (sizes,
 * memory estimates, error metrics) and `/report`.
 *
 * @example Cast a checkpoint to bfloat16 and drop its optimizer state
 * ```ts
 * import assert from "node:assert/strict";
 * import { cast, exclude, openTensorFile, pipe, tensorFromBytes, writeTensorFile } from "./mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const f32 = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
 * await writeTensorFile({
 *   metadata: {},
 *   tensors: [tensorFromBytes("fc.weight", "F32", [2, 2], f32), tensorFromBytes("optimizer.m", "F32", [2, 2], f32)],
 * }, `${dir}/model.safetensors`);
 *
 * await using model = await openTensorFile(`${dir}/model.safetensors`);
 * // The file appears under its name only once every tensor was written.
 * await writeTensorFile(pipe(model, exclude(/^optimizer\./), cast("BF16")), `${dir}/model-bf16.safetensors`);
 *
 * await using small = await openTensorFile(`${dir}/model-bf16.safetensors`);
 * assert.deepEqual(small.tensors.map((t) => [t.name, t.dtype]), [["fc.weight", "BF16"]]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export {
  byteLengthOf,
  type DType,
  type DTypeInfo,
  dtypeInfo,
  type DTypeKind,
  DTYPES,
  elementCount,
  isDType,
  isFloatDType,
} from "./lib/dtype.ts";
export { canCast, castBytes, type CastOptions } from "./lib/cast.ts";
export * from "./lib/tensor.ts";
export { locatedEntry } from "./lib/located_entry.ts";
export {
  type ByteSource,
  bytesSource,
  fileSource,
  urlSource,
  type UrlSourceOptions,
} from "./lib/byte_source.ts";
export {
  type ByteSink,
  fileSink,
  type FileSinkOptions,
  type MemorySink,
  memorySink,
  withSink,
} from "./lib/byte_sink.ts";
export * from "./lib/pipeline.ts";
export type { OpenOptions, TensorFormat, WriteOptions } from "./lib/format.ts";
export { type ConvertSpec, transformsFromSpec } from "./lib/convert_spec.ts";
export { requirePlainEntry } from "./lib/plain_entry.ts";
export type { ErrorMetrics } from "./lib/metrics.ts";
export {
  checkDevice,
  type CompanionSpec,
  cpuWorkers,
  type CpuWorkersBackend,
  DEFAULT_BATCH_BYTES,
  DEFAULT_HELD_BYTES,
  dequantize,
  type DequantizeOptions,
  DEVICE_NAMES,
  type DeviceChoice,
  type GpuProgram,
  hasQuantizedTensors,
  isDeviceName,
  isSchemeName,
  MAX_BATCH_CANDIDATES,
  MAX_BATCH_TENSORS,
  QUANTIZATION_METADATA_KEY,
  quantize,
  type QuantizeBackend,
  type QuantizeDevice,
  type QuantizeJob,
  type QuantizeOptions,
  type QuantizeSpec,
  type QuantPlan,
  type QuantRecord,
  type QuantResult,
  type QuantScheme,
  type QuantSettings,
  resolveDevice,
  type ResolvedQuantizeSpec,
  resolveQuantizeSpec,
  SCHEME_NAMES,
  schemeByName,
  type SchemeName,
  SCHEMES,
  type SchemeStorage,
  settingsOf,
  type StatsParams,
  type TensorReport,
  type UnitKernel,
} from "./lib/quant/mod.ts";
export { formatByName, formatForPath, FORMATS } from "./formats/registry.ts";
export { openSource, openTensorFile, type OpenTensorFileOptions } from "./formats/open_tensor_file.ts";
export type { OpenTorchOptions } from "./formats/torch/open_torch.ts";
export { writeTensorFile, type WriteTensorFileOptions } from "./formats/write_tensor_file.ts";
export {
  convertShard,
  convertShards,
  type ConvertShardsOptions,
  type ConvertShardsResult,
  serialRunner,
  type ShardJob,
  type ShardResult,
  type ShardRunner,
  workerRunner,
} from "./formats/convert_shards.ts";
export { VERSION } from "./lib/version.ts";

// Registers the WebGPU backend, so `device: "auto" | "gpu"` finds an adapter.
import "./gpu/mod.ts";
