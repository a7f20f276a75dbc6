// Where a checkpoint's files are: its prefix from a prefix, an `.index`
// path, a data shard's path or a folder with a `checkpoint` file.

import { FormatError, UsageError } from "../../lib/errors.ts";
import { join } from "../../lib/paths.ts";

const DATA_SUFFIX = /\.data-\d{5}-of-\d{5}$/;
/** Largest `checkpoint` state file read: it lists paths, a few KiB. */
const MAX_STATE_BYTES = 1 << 20;

/** The name of data shard `i` of `n`: `PREFIX.data-0000i-of-0000n`. */
export function dataPath(prefix: string, shard: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, "0");
  return `${prefix}.data-${pad(shard)}-of-${pad(count)}`;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** True when `path` names a TensorFlow checkpoint that exists. */
export function claimsCheckpointPath(path: string): boolean {
  if (isDirectory(path)) return isFile(join(path, "checkpoint"));
  if (/\.index$/.test(path)) return isFile(path) && !isDirectory(path);
  if (DATA_SUFFIX.test(path)) return isFile(`${path.replace(DATA_SUFFIX, "")}.index`);
  return !isFile(path) && isFile(`${path}.index`);
}

/** The first `model_checkpoint_path` of a `checkpoint` state file (a text proto). */
export function latestFromState(text: string, file: string): string {
  const match = /^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"/m.exec(text);
  if (!match) {
    throw new FormatError(`Cannot read ${file}: it names no model_checkpoint_path`, { format: "tensorflow" });
  }
  return match[1].replace(/\\(["'\\])/g, "$1").replace(/\\n/g, "\n");
}

/** Resolve a checkpoint prefix from what the user gave. */
export async function resolvePrefix(path: string): Promise<string> {
  if (isDirectory(path)) {
    const state = join(path, "checkpoint");
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(state);
    } catch {
      throw new UsageError(
        `Cannot open ${path} as a TensorFlow checkpoint: the folder has no 'checkpoint' file`,
      );
    }
    if (stat.size > MAX_STATE_BYTES) {
      throw new FormatError(
        `Cannot read ${state}: ${stat.size} bytes is too large for a checkpoint state file`,
        {
          format: "tensorflow",
        },
      );
    }
    const latest = latestFromState(await Deno.readTextFile(state), state);
    return latest.startsWith("/") ? latest : join(path, latest);
  }
  if (/\.index$/.test(path)) return path.slice(0, -".index".length);
  if (DATA_SUFFIX.test(path)) return path.replace(DATA_SUFFIX, "");
  return path;
}
