/**
 * Every quantization scheme by name, the same names in the API and on the CLI.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { BF16_SCHEME, F16_SCHEME, F8_E4M3_SCHEME, F8_E5M2_SCHEME } from "./float_cast.ts";
import { FP4_SCHEME } from "./fp4.ts";
import { INT8_SCHEME } from "./int8.ts";
import { MINMAX_SCHEMES } from "./minmax.ts";
import { NF4_SCHEME } from "./nf4.ts";
import { Q4_0_SCHEME } from "./q4_0.ts";
import { Q4_1_SCHEME } from "./q4_1.ts";
import { Q5_0_SCHEME } from "./q5_0.ts";
import { Q5_1_SCHEME } from "./q5_1.ts";
import { Q8_0_SCHEME } from "./q8_0.ts";
import { Q2_K_SCHEME } from "./q2_k.ts";
import { Q3_K_SCHEME } from "./q3_k.ts";
import { Q4_K_SCHEME } from "./q4_k.ts";
import { Q5_K_SCHEME } from "./q5_k.ts";
import { Q6_K_SCHEME } from "./q6_k.ts";
import type { QuantScheme } from "./scheme.ts";

/** Every scheme, in the order help texts list them. */
export const SCHEMES: readonly QuantScheme[] = [
  F16_SCHEME,
  BF16_SCHEME,
  F8_E4M3_SCHEME,
  F8_E5M2_SCHEME,
  INT8_SCHEME,
  ...MINMAX_SCHEMES,
  Q8_0_SCHEME,
  Q4_0_SCHEME,
  Q4_1_SCHEME,
  Q5_0_SCHEME,
  Q5_1_SCHEME,
  Q2_K_SCHEME,
  Q3_K_SCHEME,
  Q4_K_SCHEME,
  Q5_K_SCHEME,
  Q6_K_SCHEME,
  NF4_SCHEME,
  FP4_SCHEME,
];

/** Every scheme name, the same in the API, on the CLI and in the metadata records. */
export const SCHEME_NAMES = [
  "F16",
  "BF16",
  "F8_E4M3",
  "F8_E5M2",
  "int8",
  "minmax1",
  "minmax2",
  "minmax3",
  "minmax4",
  "minmax5",
  "minmax6",
  "minmax7",
  "minmax8",
  "Q8_0",
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q2_K",
  "Q3_K",
  "Q4_K",
  "Q5_K",
  "Q6_K",
  "NF4",
  "FP4",
] as const;

/** A scheme's name. */
export type SchemeName = typeof SCHEME_NAMES[number];

// The list above is the union type's source; it must name the table's schemes, in order.
if (SCHEMES.map((s) => s.name).join() !== SCHEME_NAMES.join()) {
  throw new Error("SCHEME_NAMES does not list the SCHEMES table in order");
}

/**
 * True when `name` is a scheme name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSchemeName } from "./schemes.ts";
 * assert.equal(isSchemeName("Q8_0"), true);
 * assert.equal(isSchemeName("Q3"), false);
 * ```
 */
export function isSchemeName(name: string): name is SchemeName {
  return (SCHEME_NAMES as readonly string[]).includes(name);
}

/**
 * The scheme called `name`; an unknown name is a `UsageError` listing the known ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schemeByName } from "./schemes.ts";
 * assert.equal(schemeByName("Q8_0").storage, "ggml");
 * assert.throws(() => schemeByName("Q3"), /known schemes: F16, BF16/);
 * ```
 */
export function schemeByName(name: string): QuantScheme {
  const scheme = SCHEMES.find((s) => s.name === name);
  if (!scheme || !isSchemeName(name)) {
    throw new UsageError(`Unknown scheme '${name}'; known schemes: ${SCHEME_NAMES.join(", ")}`);
  }
  return scheme;
}
