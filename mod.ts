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
export * from "./lib/scratch_buffer.ts";
export * from "./lib/pipeline.ts";
export * from "./lib/format.ts";
export * from "./lib/units.ts";
export * from "./lib/size_report.ts";
export * from "./lib/memory_estimate.ts";
export * from "./lib/float8.ts";
export * from "./lib/metrics.ts";
export * from "./lib/quantize.ts";
export * from "./lib/quant/scheme.ts";
export { SCHEME_NAMES, schemeByName, SCHEMES } from "./lib/quant/schemes.ts";
export {
  type AdapterClass,
  gpuBackend,
  type GpuJob,
  GpuQuantizer,
  type GpuQuantizerOptions,
  requestGpu,
} from "./gpu/mod.ts";
export { formatByName, formatForPath, FORMATS } from "./formats/registry.ts";
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
  PickleGlobal,
  PickleObject,
  PicklePersistent,
  type PickleScan,
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
export { crc32 } from "./lib/crc32.ts";
export {
  decodeSafetensorsHeader,
  type DecodeSafetensorsHeaderOptions,
  editSafetensorsMetadata,
  encodeSafetensors,
  openSafetensors,
  openSafetensorsIndex,
  type OpenSafetensorsOptions,
  type SafetensorsFile,
  safetensorsFormat,
  type SafetensorsHeader,
  type SafetensorsMetadataEdit,
  type SafetensorsMetadataEditResult,
  type SafetensorsShardsResult,
  type SafetensorsTensorInfo,
  writeSafetensors,
  type WriteSafetensorsOptions,
  writeSafetensorsShards,
  type WriteSafetensorsShardsOptions,
} from "./formats/safetensors/mod.ts";
export * from "./lib/ggml_blocks.ts";
export {
  encodeNpyHeader,
  type EncodeNpyHeaderOptions,
  npyDescr,
  type NpyHeader,
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
