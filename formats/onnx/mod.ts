/**
 * ONNX models' initializers as tensors: read them (inline, typed fields or
 * external data), write a transformed set back into a copy of the model
 * keeping everything else byte for byte, and inspect the graph's interface.
 *
 * @example Store a float16-rounded copy of a model's weights ("fake" F16)
 * ```ts ignore
 * import { openOnnxPath, writeOnnxPath } from "@ckpt/ckpt/onnx";
 * import { cast, pipe } from "@ckpt/ckpt";
 *
 * const model = await openOnnxPath("model.onnx");
 * await writeOnnxPath(pipe(model, cast("F16")), "model-f16.onnx", { input: "model.onnx" });
 * await model.close();
 * ```
 *
 * @module
 */

export * from "./decode.ts";
export * from "./encode.ts";
export { onnxFormat } from "./format.ts";
export * from "./graph.ts";
export * from "./onnx_variant.ts";
