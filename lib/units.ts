/**
 * Human sizes: parse `5GB`/`500MiB`, print bytes and parameter counts.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

/**
 * Parse a size such as `5GB` (decimal, as Hugging Face's `max_shard_size`),
 * `500MiB` (binary) or `1048576`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSize } from "./units.ts";
 * assert.equal(parseSize("5GB"), 5_000_000_000);
 * assert.equal(parseSize("1MiB"), 1_048_576);
 * assert.throws(() => parseSize("5 parsecs"), {
 *   name: "UsageError",
 *   message: "Cannot parse size '5 parsecs': use a number with B, KB, MB, GB, KiB, MiB or GiB",
 * });
 * ```
 */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match?.[2].toUpperCase();
  if (!match || unit === undefined || !(unit in UNITS)) {
    throw new UsageError(`Cannot parse size '${text}': use a number with B, KB, MB, GB, KiB, MiB or GiB`);
  }
  const bytes = Math.floor(Number(match[1]) * UNITS[unit]);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`Size '${text}' is out of range`);
  return bytes;
}

/**
 * Format a byte count with binary units: `512 B`, `1.5 KiB`, `3.20 GiB`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./units.ts";
 * assert.equal(formatBytes(1536), "1.50 KiB");
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/**
 * Format a parameter count the way model cards do: `11.7M`, `7.24B`, `950`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCount } from "./units.ts";
 * assert.equal(formatCount(11689512), "11.7M");
 * ```
 */
export function formatCount(count: number): string {
  const steps: [number, string][] = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [size, suffix] of steps) {
    if (Math.abs(count) >= size) {
      const value = count / size;
      return `${
        value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)
      }${suffix}`;
    }
  }
  return String(count);
}
