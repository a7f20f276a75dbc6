/**
 * Open a GGUF split by llama.cpp's `gguf-split` (or by `writeGgufFiles`),
 * `name-00001-of-00003.gguf` and its siblings, as one tensor file.
 *
 * @module
 */

import { ggufModelStream } from "./gguf_model_stream.ts";
import { type ByteSource, fileSource } from "../../lib/byte_source.ts";
import { FormatError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { basename, dirname, join } from "../../lib/paths.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import type { GgufKeyValue } from "./gguf_value.ts";
import { openGguf } from "./open_gguf.ts";
import { ggufSplitPath } from "./write_gguf_files.ts";

const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;
const SPLIT_KEYS = new Set(["split.no", "split.count", "split.tensors.count"]);

/** A split GGUF opened as one file: the first split's key/values (without the `split.*` keys) and every tensor. */
export interface GgufSplitFile extends TensorFile {
  /** The typed key/values of the first split, `split.*` removed. */
  readonly kv: readonly GgufKeyValue[];
  /** Every split's path, in order. */
  readonly paths: readonly string[];
}

/**
 * True when `path` is named like a split GGUF (`…-00001-of-00003.gguf`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isGgufSplitPath } from "./open_gguf_split.ts";
 * assert.equal(isGgufSplitPath("m-00002-of-00003.gguf"), true);
 * assert.equal(isGgufSplitPath("m.gguf"), false);
 * ```
 */
export function isGgufSplitPath(path: string): boolean {
  return SPLIT_NAME.test(basename(path));
}

function numberValue(kv: readonly GgufKeyValue[], key: string): number | undefined {
  const found = kv.find((e) => e.key === key);
  return found === undefined ? undefined : Number(found.value);
}

/**
 * Open any split of a split GGUF and every sibling, checking each split's
 * `split.no` and `split.count` and the total against `split.tensors.count`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openGgufSplit } from "./open_gguf_split.ts";
 * import { writeGgufFiles } from "./write_gguf_files.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const tensors = [tensorFromBytes("a", "F32", [8], new Uint8Array(32)), tensorFromBytes("b", "F32", [8], new Uint8Array(32))];
 * const kv = [{ key: "general.architecture", type: "string" as const, value: "llama" }];
 * const { paths } = await writeGgufFiles({ metadata: {}, tensors }, `${dir}/m.gguf`, { kv, maxShardSize: 32 });
 * const file = await openGgufSplit(paths[1]);
 * assert.deepEqual(file.tensors.map((t) => t.name), ["a", "b"]);
 * assert.equal(file.metadata["split.count"], undefined);
 * await file.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openGgufSplit(path: string, options: OpenOptions = {}): Promise<GgufSplitFile> {
  const match = SPLIT_NAME.exec(basename(path));
  if (!match) {
    throw new FormatError(`Cannot open ${path} as a split GGUF: its name is not NAME-00001-of-0000N.gguf`);
  }
  const count = Number(match[3]);
  if (count < 1) {
    throw new FormatError(`Cannot open ${path} as a split GGUF: it declares 0 splits`, { format: "gguf" });
  }
  const first = join(dirname(path), `${match[1]}.gguf`);
  const paths = Array.from({ length: count }, (_, i) => ggufSplitPath(first, i, count));
  const sources: ByteSource[] = [];
  try {
    const tensors: TensorEntry[] = [];
    let kv: GgufKeyValue[] = [];
    let declared = 0;
    let fileBytes = 0;
    for (const [i, splitPath] of paths.entries()) {
      let source: ByteSource;
      try {
        source = await fileSource(splitPath);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new FormatError(
            `Cannot open split GGUF ${path}: split ${i + 1} of ${count} (${splitPath}) is missing`,
            {
              format: "gguf",
            },
          );
        }
        throw error;
      }
      sources.push(source);
      const file = await openGguf(source, options);
      fileBytes += source.size;
      const no = numberValue(file.kv, "split.no");
      const n = numberValue(file.kv, "split.count");
      if (no !== i || n !== count) {
        throw new FormatError(
          `Cannot open split GGUF ${path}: ${splitPath} has split.no ${no} and split.count ${n}, expected ${i} and ${count}`,
          { format: "gguf" },
        );
      }
      if (i === 0) {
        kv = file.kv.filter((e) => !SPLIT_KEYS.has(e.key));
        declared = numberValue(file.kv, "split.tensors.count") ?? -1;
      }
      tensors.push(...file.tensors);
    }
    if (declared !== tensors.length) {
      throw new FormatError(
        `Cannot open split GGUF ${path}: split.tensors.count is ${declared} but the ${count} splits hold ${tensors.length} tensors`,
        { format: "gguf" },
      );
    }
    const { metadata } = ggufModelStream(kv, tensors);
    return tensorFile({
      format: "gguf",
      metadata,
      tensors,
      kv,
      paths,
      fileBytes,
      async close(): Promise<void> {
        for (const s of sources) await s.close();
      },
    });
  } catch (error) {
    for (const s of sources) await s.close();
    throw error;
  }
}
