/**
 * ckpt: read, write, convert, shrink and check tensor files — safetensors,
 * PyTorch checkpoints (without running their pickles), numpy, GGUF, ONNX
 * initializers and formats of your own — as lazy, streaming pipelines.
 *
 * @example Cast a checkpoint to bfloat16 and drop its optimizer state
 * ```ts ignore
 * import { cast, exclude, fileSink, openTensorFile, pipe, withSink, writeSafetensors } from "@ckpt/ckpt";
 *
 * const model = await openTensorFile("model.safetensors");
 * const stream = pipe(model, exclude(/^optimizer\./), cast("BF16"));
 * // The file appears under its name only once every tensor was written.
 * await withSink(await fileSink("model-bf16.safetensors"), (sink) => writeSafetensors(stream, sink));
 * await model.close();
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export * from "./lib/dtype.ts";
export * from "./lib/cast.ts";
export * from "./lib/tensor.ts";
export * from "./lib/byte_source.ts";
export * from "./lib/byte_sink.ts";
export * from "./lib/pipeline.ts";
export * from "./lib/format.ts";
export * from "./lib/units.ts";
export * from "./lib/size_report.ts";
export * from "./lib/memory_estimate.ts";
export * from "./lib/metrics.ts";
export * from "./lib/quantize.ts";
export * from "./lib/quant/scheme.ts";
export { SCHEME_NAMES, schemeByName, SCHEMES } from "./lib/quant/schemes.ts";
export { GpuQuantizer, type GpuJob, type GpuQuantizerOptions, gpuBackend, requestGpu } from "./gpu/mod.ts";
export { FORMATS, formatByName, formatForPath } from "./formats/registry.ts";
export { openSource, openTensorFile } from "./formats/open_tensor_file.ts";
// The ONNX codec itself is the "./onnx" entry point: loading it needs --allow-env (protobuf runtime).
export { onnxFormat } from "./formats/onnx/format.ts";
export {
  type CheckpointScan,
  openTorch,
  type OpenTorchOptions,
  scanCheckpoint,
  type ScanCheckpointOptions,
  type TorchFile,
  torchFormat,
  writeTorch,
  type WriteTorchOptions,
} from "./formats/torch/mod.ts";
export {
  classifyGlobal,
  DEFAULT_ALLOWED_GLOBALS,
  dumpPickle,
  type LoadedPickle,
  loadPickle,
  type LoadPickleOptions,
  type PickleScan,
  PickleGlobal,
  PickleObject,
  PicklePersistent,
  pickleToJson,
  PickleTuple,
  type PickleValue,
  type ScannedGlobal,
  scanPickle,
  type ScanPickleOptions,
  type ScanVerdict,
} from "./formats/pickle/mod.ts";
export {
  createZipWriter,
  openZip,
  type OpenZipOptions,
  readZipEntry,
  type ReadZipEntryOptions,
  type ZipAddOptions,
  type ZipArchive,
  type ZipEntry,
  type ZipWriter,
  type ZipWriterOptions,
} from "./formats/zip/mod.ts";
export {
  decodeSafetensorsHeader,
  editSafetensorsMetadata,
  encodeSafetensors,
  openSafetensors,
  openSafetensorsIndex,
  safetensorsFormat,
  writeSafetensors,
  writeSafetensorsShards,
} from "./formats/safetensors/mod.ts";
export * from "./lib/ggml_blocks.ts";
export {
  encodeNpyHeader,
  type EncodeNpyHeaderOptions,
  type NpyHeader,
  npyDescr,
  npzFormat,
  numpyFormat,
  openNpy,
  type OpenNpyOptions,
  openNpz,
  type OpenNpzOptions,
  readNpyHeader,
  writeNpy,
  type WriteNpyOptions,
  writeNpz,
  type WriteNpzOptions,
} from "./formats/numpy/mod.ts";
export {
  type GgufArray,
  type GgufFile,
  ggufFormat,
  type GgufItem,
  type GgufKeyValue,
  type GgufTensorInfo,
  type GgufType,
  ggufValueToString,
  openGguf,
  writeGguf,
  type WriteGgufOptions,
} from "./formats/gguf/mod.ts";
export {
  definePackedFormat,
  FieldReader,
  FieldWriter,
  type JsonValue,
  type Magic,
  type PackedCodec,
  type PackedEncoded,
  type PackedFormat,
  type PackedFormatSpec,
  type PackedTensorRecord,
} from "./formats/packed/mod.ts";
