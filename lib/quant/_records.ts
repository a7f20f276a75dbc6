// The `ckpt.quantization` metadata entry: a JSON map from tensor name to the
// QuantRecord of how it was quantized, checked when read back.

import { isDType } from "../dtype.ts";
import { FormatError } from "../errors.ts";
import { isSchemeName } from "./schemes.ts";
import type { QuantRecord } from "./spec.ts";

/** Metadata key holding the JSON map from tensor name to {@linkcode QuantRecord}. */
export const QUANTIZATION_METADATA_KEY = "ckpt.quantization";

/** The records in `metadata`, validated (a bad entry is a `FormatError`); `{}` when there are none. */
export function parseQuantRecords(metadata: Readonly<Record<string, string>>): Record<string, QuantRecord> {
  const text = metadata[QUANTIZATION_METADATA_KEY];
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FormatError(`Cannot parse the ${QUANTIZATION_METADATA_KEY} metadata: invalid JSON`, {
      cause: error,
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FormatError(`Cannot parse the ${QUANTIZATION_METADATA_KEY} metadata: expected a JSON object`);
  }
  const records = parsed as Record<string, QuantRecord>;
  for (const [name, r] of Object.entries(records)) {
    const ok = typeof r === "object" && r !== null && typeof r.scheme === "string" && isDType(r.dtype) &&
      Array.isArray(r.shape) && r.shape.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!ok) throw new FormatError(`Cannot parse the ${QUANTIZATION_METADATA_KEY} entry for '${name}'`);
    if (!isSchemeName(r.scheme)) {
      throw new FormatError(`Tensor '${name}' was quantized with an unknown scheme '${r.scheme}'`);
    }
  }
  return records;
}
