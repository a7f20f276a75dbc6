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

/** The scheme names. */
export const SCHEME_NAMES: readonly string[] = SCHEMES.map((s) => s.name);

/**
 * The scheme called `name`; an unknown name is a `UsageError` listing the known ones.
 *
 * @example
 * ```ts
 * import { schemeByName } from "./schemes.ts";
 * console.log(schemeByName("Q8_0").storage); // ggml
 * ```
 */
export function schemeByName(name: string): QuantScheme {
  const scheme = SCHEMES.find((s) => s.name === name);
  if (!scheme) throw new UsageError(`Unknown scheme '${name}'; known schemes: ${SCHEME_NAMES.join(", ")}`);
  return scheme;
}
