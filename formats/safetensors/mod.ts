/**
 * safetensors for ckpt: a lazy reader that validates headers as the
 * reference implementation does, a streaming writer whose output is
 * byte-identical to the reference writer's, in-place metadata edits, and
 * sharded checkpoints with a `model.safetensors.index.json`.
 *
 * @example Read a file, cast it to bfloat16 and write it back
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors, openSafetensors, writeSafetensors } from "@ckpt/ckpt/safetensors";
 * import { cast, fileSink, fileSource, pipe, tensorFromBytes, withSink } from "@ckpt/ckpt";
 *
 * const dir = await Deno.makeTempDir();
 * const w = tensorFromBytes("w", "F32", [2], new Uint8Array(new Float32Array([1, 2]).buffer));
 * await Deno.writeFile(`${dir}/model.safetensors`, await encodeSafetensors({ metadata: {}, tensors: [w] }));
 *
 * const model = await openSafetensors(await fileSource(`${dir}/model.safetensors`));
 * await withSink(await fileSink(`${dir}/model-bf16.safetensors`), (sink) =>
 *   writeSafetensors(pipe(model, cast("BF16")), sink));
 * await model.close();
 *
 * const bf16 = await openSafetensors(await fileSource(`${dir}/model-bf16.safetensors`));
 * assert.deepEqual(bf16.tensors.map((t) => [t.name, t.dtype, t.byteLength]), [["w", "BF16", 4]]);
 * await bf16.close();
 * await Deno.remove(dir, { recursive: true });
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
