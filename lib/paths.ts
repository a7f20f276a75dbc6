/**
 * Path helpers shared by every writer: split and join POSIX-style paths,
 * name staging files beside an output, and refuse to replace an input.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/**
 * The folder part of a path (`.` when there is none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dirname } from "./paths.ts";
 * assert.equal(dirname("out/model.safetensors"), "out");
 * assert.equal(dirname("model.pt"), ".");
 * ```
 */
export function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * The last part of a path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { basename } from "./paths.ts";
 * assert.equal(basename("out/model.safetensors"), "model.safetensors");
 * ```
 */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * `name` inside `dir`, without a `./` prefix for the current folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "./paths.ts";
 * assert.equal(join(".", "a.bin"), "a.bin");
 * assert.equal(join("out/", "a.bin"), "out/a.bin");
 * ```
 */
export function join(dir: string, name: string): string {
  return dir === "." ? name : dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/**
 * A path with links resolved; for a file that does not exist yet, its
 * folder is resolved instead, so `out/../x` and `x` compare equal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolvePath } from "./paths.ts";
 * const dir = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.mkdir(`${dir}/out`);
 * assert.equal(await resolvePath(`${dir}/out/../model.safetensors`), `${dir}/model.safetensors`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolvePath(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    try {
      return `${await Deno.realPath(dirname(path))}/${basename(path)}`;
    } catch {
      return path;
    }
  }
}

/**
 * Throw a `UsageError` when any of `outputs` is one of `inputs` (after
 * resolving links), so no command overwrites what it reads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseInputs } from "./paths.ts";
 * await refuseInputs(["out.safetensors"], ["model.pt"]); // different files: fine
 * await assert.rejects(refuseInputs(["./model.pt"], ["model.pt"]), {
 *   name: "UsageError",
 *   message: "Refusing to write ./model.pt: it is also an input; choose another output path",
 * });
 * ```
 */
export async function refuseInputs(outputs: readonly string[], inputs: readonly string[]): Promise<void> {
  if (inputs.length === 0) return;
  const protectedPaths = new Set(await Promise.all(inputs.map(resolvePath)));
  for (const output of outputs) {
    if (protectedPaths.has(await resolvePath(output))) {
      throw new UsageError(`Refusing to write ${output}: it is also an input; choose another output path`);
    }
  }
}

/**
 * A hidden staging name beside `path`, renamed into place (or removed) once
 * the whole output is written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stagingName } from "./paths.ts";
 * assert.match(stagingName("out/model.safetensors"), /^out\/\.model\.safetensors\.[0-9a-f]{8}\.partial$/);
 * ```
 */
export function stagingName(path: string, suffix = "partial"): string {
  return join(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.${suffix}`);
}
