/**
 * The ONNX format descriptor for the registry.
 *
 * @module
 */

import type { TensorFormat } from "../../lib/format.ts";
import { sniffModel } from "./_sniff.ts";

// The codec (and the protobuf runtime, which reads an environment variable
// when it loads) is imported only when an ONNX file is actually opened.
const codec = () => import("./mod.ts");

/**
 * ONNX models (`.onnx`): their initializers are read as tensors; writing
 * needs the source model (`options.input`) and replaces its initializers in
 * a copy, keeping the rest of the model byte for byte. Opening one loads
 * `@bufbuild/protobuf`, which needs `--allow-env=BUF_BIGINT_DISABLE`.
 *
 * @example
 * ```ts
 * import { onnxFormat } from "./format.ts";
 * console.log(onnxFormat.sniff(new Uint8Array([0x08, 0x07, 0x12, 0x00]), 4)); // true
 * ```
 */
export const onnxFormat: TensorFormat = {
  name: "onnx",
  extensions: [".onnx"],
  sniff: sniffModel,
  open: async (source, options) => (await codec()).openOnnx(source, options),
  openPath: async (path, options) => (await codec()).openOnnxPath(path, options),
  writePath: async (stream, path, options) => (await codec()).writeOnnxPath(stream, path, options ?? {}),
};
