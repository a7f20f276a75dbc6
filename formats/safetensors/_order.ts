// The reference writer's tensor order: dtypes in descending order of the Rust
// `Dtype` enum (its declaration order), then names compared as UTF-8 bytes.

import type { DType } from "../../lib/dtype.ts";
import type { TensorEntry } from "../../lib/tensor.ts";

const DTYPE_RANK: Readonly<Record<DType, number>> = Object.freeze(
  Object.fromEntries(
    ([
      "BOOL",
      "F4",
      "F6_E2M3",
      "F6_E3M2",
      "U8",
      "I8",
      "F8_E5M2",
      "F8_E4M3",
      "F8_E8M0",
      "F8_E4M3FNUZ",
      "F8_E5M2FNUZ",
      "I16",
      "U16",
      "F16",
      "BF16",
      "I32",
      "U32",
      "F32",
      "C64",
      "F64",
      "I64",
      "U64",
    ] as const).map((name, rank) => [name, rank]),
  ) as Record<DType, number>,
);

/** Compare strings by code point, which is the order of their UTF-8 bytes. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800–0xDFFF) encode code points above 0xFFFF, which sort
    // after 0xE000–0xFFFF in UTF-8 though their code units are smaller.
    return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}

function fixup(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit;
}

/** Sort entries as the reference writer does (a new array). */
export function writerOrder<T extends Pick<TensorEntry, "name" | "dtype">>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) =>
    DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareUtf8(a.name, b.name)
  );
}
