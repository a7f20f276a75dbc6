/**
 * The shipped formats, in the order they are tried when sniffing a file's
 * first bytes, and lookup by name or output extension.
 *
 * @module
 */

import type { TensorFormat } from "../lib/format.ts";
import { UsageError } from "../lib/errors.ts";
import { safetensorsFormat } from "./safetensors/format.ts";
import { torchFormat } from "./torch/format.ts";
import { onnxFormat } from "./onnx/format.ts";
import { ggufFormat } from "./gguf/format.ts";
import { npzFormat, numpyFormat } from "./numpy/format.ts";
import { tensorflowFormat } from "./tensorflow/format.ts";
import { kerasFormat, kerasH5Format } from "./keras/format.ts";

/** Every shipped format. Sniffing tries them in this order. */
export const FORMATS: readonly TensorFormat[] = [
  safetensorsFormat,
  torchFormat,
  onnxFormat,
  ggufFormat,
  numpyFormat,
  npzFormat,
  tensorflowFormat,
  kerasFormat,
  kerasH5Format,
];

/**
 * The format registered under `name`.
 *
 * @example
 * ```ts
 * import { formatByName } from "./registry.ts";
 * console.log(formatByName("safetensors").extensions);
 * ```
 */
export function formatByName(name: string): TensorFormat {
  const format = FORMATS.find((f) => f.name === name);
  if (!format) {
    throw new UsageError(`Unknown format '${name}'; known formats: ${FORMATS.map((f) => f.name).join(", ")}`);
  }
  return format;
}

/**
 * The format an output path asks for, by its extension (the longest match
 * wins, so `.index.json` beats `.json`).
 *
 * @example
 * ```ts
 * import { formatForPath } from "./registry.ts";
 * console.log(formatForPath("out/model.safetensors").name); // safetensors
 * ```
 */
export function formatForPath(path: string): TensorFormat {
  const lower = path.toLowerCase();
  let best: TensorFormat | undefined;
  let bestLength = 0;
  for (const format of FORMATS) {
    if (!format.write && !format.writePath) continue;
    for (const ext of format.extensions) {
      if (lower.endsWith(ext) && ext.length > bestLength) {
        best = format;
        bestLength = ext.length;
      }
    }
  }
  if (!best) {
    const known = FORMATS.filter((f) => f.write || f.writePath).flatMap((f) => f.extensions);
    throw new UsageError(`Cannot tell the output format of '${path}'; use one of: ${known.join(", ")}`);
  }
  return best;
}
