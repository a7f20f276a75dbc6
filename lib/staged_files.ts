/**
 * Multi-file outputs (shards and their index, a model and its external
 * data) written all or nothing: each file is written under a hidden staging
 * name beside its destination, and only when every one is complete are they
 * renamed into place, in the order they were staged. A failure, or SIGINT
 * while they are written, removes every staged file, so the destination
 * folder is left as it was.
 *
 * @module
 */

import { onInterrupt } from "./byte_sink.ts";
import { stagingName } from "./paths.ts";

/** A set of output files being written under staging names. */
export interface StagedFiles {
  /** The staging path to write `finalPath` under (hidden, in the same folder). */
  stage(finalPath: string): string;
  /** The final paths staged so far, in order. */
  readonly finals: readonly string[];
}

/**
 * Run `body` with a fresh {@linkcode StagedFiles}; when it resolves, rename
 * every staged file to its final path (in staging order) and return its
 * result; when it throws (or the process is interrupted), remove every staged
 * file and rethrow.
 *
 * @example Two files appear together, or not at all
 * ```ts
 * import assert from "node:assert/strict";
 * import { withStagedFiles } from "./staged_files.ts";
 * const dir = await Deno.makeTempDir();
 * await withStagedFiles(async (staged) => {
 *   await Deno.writeTextFile(staged.stage(`${dir}/a.txt`), "a");
 *   await Deno.writeTextFile(staged.stage(`${dir}/b.txt`), "b");
 * });
 * assert.equal(await Deno.readTextFile(`${dir}/b.txt`), "b");
 * await assert.rejects(withStagedFiles(async (staged) => {
 *   await Deno.writeTextFile(staged.stage(`${dir}/c.txt`), "c");
 *   throw new Error("disk full");
 * }));
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["a.txt", "b.txt"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function withStagedFiles<T>(body: (staged: StagedFiles) => Promise<T>): Promise<T> {
  const pairs: [temp: string, final: string][] = [];
  const removeStaged = async () => {
    for (const [temp] of pairs) await Deno.remove(temp).catch(() => {});
  };
  const forget = onInterrupt(removeStaged);
  const staged: StagedFiles = {
    stage(finalPath: string): string {
      const temp = stagingName(finalPath);
      pairs.push([temp, finalPath]);
      return temp;
    },
    get finals() {
      return pairs.map(([, final]) => final);
    },
  };
  try {
    const result = await body(staged);
    for (const [temp, final] of pairs) await Deno.rename(temp, final);
    return result;
  } catch (error) {
    await removeStaged();
    throw error;
  } finally {
    forget();
  }
}
