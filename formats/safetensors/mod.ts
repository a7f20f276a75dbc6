/**
 * safetensors for ckpt: a lazy reader that validates headers as the
 * reference implementation does, a streaming writer whose output is
 * byte-identical to the reference writer's, in-place metadata edits, and
 * sharded checkpoints with a `model.safetensors.index.json`.
 *
 * @example Read a file, cast it to bfloat16 and write it back
 * ```ts ignore
 * import { openSafetensors, writeSafetensors } from "@ckpt/ckpt/safetensors";
 * import { cast, fileSink, fileSource, pipe, withSink } from "@ckpt/ckpt";
 *
 * const model = await openSafetensors(await fileSource("model.safetensors"));
 * await withSink(await fileSink("model-bf16.safetensors"), (sink) =>
 *   writeSafetensors(pipe(model, cast("BF16")), sink));
 * await model.close();
 * ```
 *
 * @module
 */

export * from "./decode_safetensors_header.ts";
export * from "./encode_safetensors_header.ts";
export * from "./open_safetensors.ts";
export * from "./write_safetensors.ts";
export * from "./encode_safetensors.ts";
export * from "./edit_safetensors_metadata.ts";
export * from "./open_safetensors_index.ts";
export * from "./write_safetensors_shards.ts";
export * from "./write_safetensors_index.ts";
export * from "./format.ts";
export { ScratchBuffer } from "../../lib/scratch_buffer.ts";
