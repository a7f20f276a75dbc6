// Path helpers for the multi-file writers (shards, metadata rewrites).

import { UsageError } from "../../lib/errors.ts";

export function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export function join(dir: string, name: string): string {
  return dir === "." ? name : dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

async function resolved(path: string): Promise<string> {
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

/** Refuse to write any of `outputs` when it is one of `inputs` (after resolving links). */
export async function refuseInputs(outputs: readonly string[], inputs: readonly string[]): Promise<void> {
  if (inputs.length === 0) return;
  const protectedPaths = new Set(await Promise.all(inputs.map(resolved)));
  for (const output of outputs) {
    if (protectedPaths.has(await resolved(output))) {
      throw new UsageError(`Refusing to write ${output}: it is also an input; choose another output path`);
    }
  }
}

/** A hidden staging name beside `path`, removed or renamed once the whole output is written. */
export function stagingName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.partial`);
}
