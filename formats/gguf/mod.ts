/**
 * GGUF, llama.cpp's format: read (v2, v3) lazily from files, bytes or URLs,
 * with every metadata value type and ggml's own validity checks; write
 * plain and block-quantized tensors. Block types (Q4_0 … Q8_0, the K-quants)
 * decode through `dequantizeEntry` from `lib/ggml_blocks.ts`. `quantizeGguf`
 * requantizes a model to a llama-quantize file type (`Q4_K_M`, …) and
 * `planFileType` says which type each tensor gets.
 *
 * @example
 * ```ts
 * import { openGguf, writeGguf } from "@ckpt/ckpt/gguf";
 * import { bytesSource, memorySink, tensorFromBytes } from "@ckpt/ckpt";
 *
 * const sink = memorySink();
 * await writeGguf({ metadata: { "general.name": "demo" }, tensors: [
 *   tensorFromBytes("w", "F32", [2, 4], new Uint8Array(32)),
 * ] }, sink);
 * const file = await openGguf(bytesSource(sink.bytes()));
 * console.log(file.metadata["general.name"], file.tensors[0].shape); // demo [2, 4]
 * ```
 *
 * @module
 */

export * from "./gguf_value.ts";
export * from "./open_gguf.ts";
export * from "./write_gguf.ts";
export * from "./format.ts";
export * from "../../lib/ggml_blocks.ts";
export * from "./write_gguf_files.ts";
export * from "./open_gguf_split.ts";
export * from "./file_type.ts";
export * from "./quantize_gguf.ts";
export * from "./gguf_model_stream.ts";
