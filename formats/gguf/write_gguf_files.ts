/**
 * Write GGUF to a path as one file or as split files the way llama.cpp's
 * `gguf-split` lays them out (`name-00001-of-00003.gguf`, every key/value in
 * the first split, `split.no`/`split.count`/`split.tensors.count` in each),
 * streaming each tensor's body in bounded chunks.
 *
 * @module
 */

import { fileSink, withSink } from "../../lib/byte_sink.ts";
import { withStagedFiles } from "../../lib/staged_files.ts";
import { UsageError } from "../../lib/errors.ts";
import { basename, dirname, join, refuseInputs } from "../../lib/paths.ts";
import { ScratchBuffer } from "../../lib/scratch_buffer.ts";
import { collectTensors, type TensorStream } from "../../lib/tensor.ts";
import { alignTo } from "../../lib/binary/align.ts";
import { FieldWriter } from "../../lib/binary/field_writer.ts";
import type { GgufKeyValue } from "./gguf_value.ts";
import { writeHeaderStart } from "./_encode_value.ts";
import {
  planGgufTensors,
  type PlannedTensor,
  writeTensorBodies,
  writeTensorInfos,
} from "./_tensor_section.ts";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_VERSION } from "./open_gguf.ts";

export type { ChunkedTensorEntry } from "./_tensor_section.ts";

/** Options for {@linkcode writeGgufFiles}. */
export interface WriteGgufFilesOptions {
  /** Typed key/values, in order (`general.architecture` first, as llama.cpp's writers put it). */
  kv: readonly GgufKeyValue[];
  /** Split into files of at most this many tensor bytes (a larger tensor gets a file of its own). @default no split */
  maxShardSize?: number;
  /** Paths that must not be replaced (the inputs). @default [] */
  protect?: readonly string[];
  /** Largest piece read from a chunked entry, in bytes. @default 16 MiB */
  chunkBytes?: number;
}

/** What {@linkcode writeGgufFiles} wrote. */
export interface GgufFilesResult {
  /** Every file written, in split order. */
  readonly paths: readonly string[];
}

const ALIGNMENT = GGUF_DEFAULT_ALIGNMENT;

/** The header of one file: magic, version, counts, key/values, tensor infos, padding. */
function encodeHeader(kv: readonly GgufKeyValue[], tensors: readonly PlannedTensor[]): Uint8Array {
  const w = new FieldWriter();
  writeHeaderStart(w, GGUF_VERSION, tensors.length, kv);
  writeTensorInfos(w, tensors, ALIGNMENT);
  return w.toBytes();
}

/**
 * The path of split `index` (0-based) of `count` for an output named
 * `path`, as llama.cpp names them: `model.gguf` → `model-00001-of-00003.gguf`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ggufSplitPath } from "./write_gguf_files.ts";
 * assert.equal(ggufSplitPath("out/model.gguf", 0, 3), "out/model-00001-of-00003.gguf");
 * ```
 */
export function ggufSplitPath(path: string, index: number, count: number): string {
  const stem = basename(path).replace(/\.gguf$/i, "");
  const pad = (n: number) => String(n).padStart(5, "0");
  return join(dirname(path), `${stem}-${pad(index + 1)}-of-${pad(count)}.gguf`);
}

/**
 * Write a tensor stream with typed key/values as GGUF v3 at `path`, or as
 * split files beside it when `maxShardSize` is set and the tensors exceed it
 * (splitting greedily in order, as `gguf-split --split-max-size` does). Each
 * file is staged and renamed into place only once every file is complete.
 * Entries with `chunks()` are written piece by piece.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeGgufFiles } from "./write_gguf_files.ts";
 * import { openGguf } from "./open_gguf.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const tensors = [tensorFromBytes("a", "F32", [8], new Uint8Array(32)), tensorFromBytes("b", "F32", [8], new Uint8Array(32))];
 * const kv = [{ key: "general.architecture", type: "string" as const, value: "llama" }];
 * const { paths } = await writeGgufFiles({ metadata: {}, tensors }, `${dir}/m.gguf`, { kv, maxShardSize: 32 });
 * assert.deepEqual(paths.map((p) => p.slice(dir.length + 1)), ["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"]);
 * const second = await openGguf(await fileSource(paths[1]));
 * assert.equal(second.metadata["split.no"], "1");
 * await second.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeGgufFiles(
  stream: TensorStream,
  path: string,
  options: WriteGgufFilesOptions,
): Promise<GgufFilesResult> {
  const chunkBytes = options.chunkBytes ?? 16 * 1024 * 1024;
  const planned = planGgufTensors(await collectTensors(stream));
  const max = options.maxShardSize;
  if (max !== undefined && (!Number.isSafeInteger(max) || max <= 0)) {
    throw new UsageError(`Invalid maximum shard size ${max}: use a positive number of bytes`);
  }
  // Greedy, in order, by padded size: what gguf-split's size mode does.
  const groups: PlannedTensor[][] = [[]];
  let current = 0;
  for (const p of planned) {
    const n = alignTo(p.size, ALIGNMENT);
    if (max !== undefined && current + n > max && groups[groups.length - 1].length > 0) {
      groups.push([]);
      current = 0;
    }
    groups[groups.length - 1].push(p);
    current += n;
  }
  const count = groups.length;
  const finals = count === 1 ? [path] : groups.map((_, i) => ggufSplitPath(path, i, count));
  await refuseInputs(finals, options.protect ?? []);
  const scratch = new ScratchBuffer();
  const writeSplit = async (i: number, target: string) => {
    const kv: GgufKeyValue[] = i === 0 ? [...options.kv] : [];
    if (count > 1) {
      kv.push(
        { key: "split.no", type: "u16", value: i },
        { key: "split.count", type: "u16", value: count },
        { key: "split.tensors.count", type: "i32", value: planned.length },
      );
    }
    await withSink(await fileSink(target), async (sink) => {
      await sink.write(encodeHeader(kv, groups[i]));
      await writeTensorBodies(sink, groups[i], ALIGNMENT, scratch, chunkBytes);
    });
  };
  if (count === 1) {
    await writeSplit(0, path);
  } else {
    // Every split appears together, or none of them.
    await withStagedFiles(async (staged) => {
      for (let i = 0; i < count; i++) await writeSplit(i, staged.stage(finals[i]));
    });
  }
  return { paths: finals };
}
