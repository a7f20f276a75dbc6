/**
 * Open a sharded safetensors checkpoint through its
 * `model.safetensors.index.json` as one lazy `TensorFile`.
 *
 * @module
 */

import { type ByteSource, fileSource } from "../../lib/byte_source.ts";
import { FormatError, LimitError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import { MAX_HEADER_BYTES } from "./decode_safetensors_header.ts";
import { openSafetensors, type SafetensorsFile } from "./open_safetensors.ts";
import { compareUtf8 } from "./_order.ts";
import { dirname, join } from "./_paths.ts";

/** Largest index file accepted, in bytes: an index lists names only, like a header. */
export const MAX_INDEX_BYTES: number = MAX_HEADER_BYTES;

function fail(path: string, what: string): never {
  throw new FormatError(`Cannot read safetensors index ${path}: ${what}`, { format: "safetensors" });
}

/**
 * Parse an index's JSON text into its weight map (tensor name → shard file
 * name), checking that shard names are plain file names in the index's folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSafetensorsIndex } from "./open_safetensors_index.ts";
 * const map = parseSafetensorsIndex('{"metadata":{"total_size":8},"weight_map":{"w":"model-00001-of-00001.safetensors"}}');
 * assert.equal(map.get("w"), "model-00001-of-00001.safetensors");
 * ```
 */
export function parseSafetensorsIndex(text: string, path = "<memory>"): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new FormatError(
      `Cannot read safetensors index ${path}: invalid JSON (${(cause as Error).message})`,
      {
        format: "safetensors",
        cause,
      },
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    fail(path, "it is not a JSON object");
  }
  const weightMap = (parsed as Record<string, unknown>).weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    fail(path, "it has no weight_map object");
  }
  const map = new Map<string, string>();
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== "string") fail(path, `weight_map entry '${name}' is not a file name`);
    if (file.length === 0 || file.includes("/") || file.includes("\\") || file === "." || file === "..") {
      fail(path, `shard name '${file}' for tensor '${name}' is not a plain file name in the index's folder`);
    }
    map.set(name, file);
  }
  return map;
}

/**
 * Open `path` (a `*.safetensors.index.json`) and every shard it names, as
 * one `TensorFile` whose tensors are read lazily from their shards. Each
 * shard's header is validated as a single file's would be; every tensor the
 * index lists must be in its shard, and every shard's tensors must be listed.
 * Metadata comes from the shards' `__metadata__`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSafetensorsIndex } from "./open_safetensors_index.ts";
 * import { writeSafetensorsShards } from "./write_safetensors_shards.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * const tensors = [
 *   tensorFromBytes("a", "U8", [4], new Uint8Array([1, 2, 3, 4])),
 *   tensorFromBytes("b", "U8", [4], new Uint8Array([5, 6, 7, 8])),
 * ];
 * const index = `${dir}/model.safetensors.index.json`;
 * await writeSafetensorsShards({ metadata: {}, tensors }, index, { maxShardSize: 4 }); // two shards
 *
 * const model = await openSafetensorsIndex(index);
 * assert.deepEqual(model.tensors.map((t) => t.name), ["a", "b"]);
 * assert.deepEqual(await model.tensors[1].read(), new Uint8Array([5, 6, 7, 8]));
 * await model.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openSafetensorsIndex(path: string, options: OpenOptions = {}): Promise<TensorFile> {
  const stat = await Deno.stat(path);
  if (stat.size > MAX_INDEX_BYTES) {
    throw new LimitError(
      `Cannot read safetensors index ${path}: ${stat.size} bytes exceeds the limit of ${MAX_INDEX_BYTES}`,
      { limit: MAX_INDEX_BYTES, actual: stat.size },
    );
  }
  const map = parseSafetensorsIndex(await Deno.readTextFile(path), path);
  const shardNames = [...new Set(map.values())].sort(compareUtf8);
  const dir = dirname(path);
  const opened: SafetensorsFile[] = [];
  const sources: ByteSource[] = [];
  try {
    const tensors: TensorEntry[] = [];
    const metadata: Record<string, string> = {};
    let fileBytes = 0;
    for (const shardName of shardNames) {
      const source = await fileSource(join(dir, shardName));
      sources.push(source);
      const shard = await openSafetensors(source, options);
      opened.push(shard);
      fileBytes += source.size;
      for (const [key, value] of Object.entries(shard.metadata)) {
        if (!Object.hasOwn(metadata, key)) {
          Object.defineProperty(metadata, key, {
            value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
      }
      for (const entry of shard.tensors) {
        const listed = map.get(entry.name);
        if (listed !== shardName) {
          fail(
            path,
            listed === undefined
              ? `shard ${shardName} holds tensor '${entry.name}', which the index does not list`
              : `tensor '${entry.name}' is in shard ${shardName}, but the index places it in ${listed}`,
          );
        }
        tensors.push(entry);
      }
    }
    const found = new Set(tensors.map((t) => t.name));
    for (const [name, shardName] of map) {
      if (!found.has(name)) {
        fail(path, `tensor '${name}' is listed in ${shardName}, but that shard does not hold it`);
      }
    }
    return tensorFile({
      format: "safetensors",
      metadata,
      tensors,
      fileBytes,
      paths: [path, ...shardNames.map((name) => join(dir, name))],
      async close(): Promise<void> {
        for (const source of sources) await source.close();
      },
    });
  } catch (error) {
    for (const source of sources) await source.close();
    throw error;
  }
}
