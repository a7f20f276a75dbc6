/**
 * The one description of a quantization: which scheme, with which settings,
 * on which tensors. Plain data (JSON-safe), so the same object is what the
 * API takes, what the CLI flags build, what a Worker receives and what the
 * `ckpt.quantization` metadata records (each tensor's record keeps only the
 * settings its scheme reads).
 *
 * @module
 */

import type { DType } from "../dtype.ts";
import { UsageError } from "../errors.ts";
import { DEFAULT_SETTINGS } from "./_plan.ts";
import type { QuantPlan, QuantScheme, QuantSettings } from "./scheme.ts";
import { schemeByName, type SchemeName } from "./schemes.ts";

/** What to quantize and how: serialisable, the same for the API, the CLI and Workers. */
export interface QuantizeSpec extends Partial<QuantSettings> {
  /** The scheme. */
  scheme: SchemeName;
  /** Only quantize tensors whose name matches this regular expression (its source). @default every tensor */
  include?: string;
  /** Never quantize tensors whose name matches this regular expression (its source). @default none */
  exclude?: string;
  /** Keep tensors of rank below 2 (biases, norms) as they are. @default true */
  keep1d?: boolean;
}

/** How one tensor was quantized, as recorded in the `ckpt.quantization` metadata. */
export interface QuantRecord extends Partial<QuantSettings> {
  /** Scheme name. */
  scheme: SchemeName;
  /** The tensor's dtype before quantization. */
  dtype: DType;
  /** The tensor's shape before quantization. */
  shape: number[];
}

/**
 * A spec's settings merged over the defaults.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { settingsOf } from "./spec.ts";
 * assert.equal(settingsOf({ perChannel: true }).perChannel, true);
 * assert.equal(settingsOf({}).axis, 0);
 * ```
 */
export function settingsOf(spec: Partial<QuantSettings>): QuantSettings {
  return {
    perChannel: spec.perChannel ?? DEFAULT_SETTINGS.perChannel,
    axis: spec.axis ?? DEFAULT_SETTINGS.axis,
    affine: spec.affine ?? DEFAULT_SETTINGS.affine,
    reduceRange: spec.reduceRange ?? DEFAULT_SETTINGS.reduceRange,
    saturate: spec.saturate ?? DEFAULT_SETTINGS.saturate,
    doubleQuant: spec.doubleQuant ?? DEFAULT_SETTINGS.doubleQuant,
  };
}

/**
 * The record of one tensor quantized under `plan`: its scheme, its original
 * dtype and shape, and the settings the scheme reads that differ from the
 * defaults (a per-channel plan records its normalised axis).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantRecord, settingsOf } from "./spec.ts";
 * import { schemeByName } from "./schemes.ts";
 * const int8 = schemeByName("int8");
 * const plan = int8.plan([4, 8], settingsOf({ perChannel: true, axis: -2, saturate: true }));
 * assert.deepEqual(quantRecord(int8, plan, "F32"), {
 *   scheme: "int8", dtype: "F32", shape: [4, 8], perChannel: true, axis: 0,
 * });
 * ```
 */
export function quantRecord(scheme: QuantScheme, plan: QuantPlan, dtype: DType): QuantRecord {
  const record: QuantRecord = { scheme: scheme.name as SchemeName, dtype, shape: [...plan.shape] };
  for (const key of scheme.settingKeys) {
    if (key === "axis") continue;
    if (key === "perChannel") {
      if (plan.axis >= 0) {
        record.perChannel = true;
        record.axis = plan.axis;
      }
    } else if (plan.settings[key] !== DEFAULT_SETTINGS[key]) {
      (record as unknown as Record<string, unknown>)[key] = plan.settings[key];
    }
  }
  return record;
}

/**
 * A regular expression from an `include`/`exclude` source; a bad pattern is
 * a `UsageError` that names the option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { patternOf } from "./spec.ts";
 * assert.equal(patternOf("--include", "\\.weight$").test("fc.weight"), true);
 * assert.throws(() => patternOf("--include", "("), /Invalid --include pattern/);
 * ```
 */
export function patternOf(option: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (error) {
    throw new UsageError(`Invalid ${option} pattern '${source}': ${(error as Error).message}`);
  }
}

/** A spec checked and resolved: its scheme, merged settings and compiled patterns. */
export interface ResolvedQuantizeSpec {
  /** The scheme. */
  readonly scheme: QuantScheme;
  /** Settings merged over the defaults. */
  readonly settings: Readonly<QuantSettings>;
  /** Compiled `include`, when given. */
  readonly include?: RegExp;
  /** Compiled `exclude`, when given. */
  readonly exclude?: RegExp;
  /** Keep tensors of rank below 2. */
  readonly keep1d: boolean;
}

/**
 * Check a spec and resolve it: an unknown scheme, a non-integer axis or a
 * bad pattern is a `UsageError`, raised before any tensor is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveQuantizeSpec } from "./spec.ts";
 * const resolved = resolveQuantizeSpec({ scheme: "int8", include: "weight" });
 * assert.equal(resolved.scheme.name, "int8");
 * assert.equal(resolved.keep1d, true);
 * ```
 */
export function resolveQuantizeSpec(spec: QuantizeSpec): ResolvedQuantizeSpec {
  if (typeof spec !== "object" || spec === null || typeof spec.scheme !== "string") {
    throw new UsageError("A quantize spec needs a scheme name");
  }
  const scheme = schemeByName(spec.scheme);
  const settings = settingsOf(spec);
  if (!Number.isInteger(settings.axis)) {
    throw new UsageError(`Invalid axis ${settings.axis}: expected an integer`);
  }
  return {
    scheme,
    settings,
    ...(spec.include !== undefined ? { include: patternOf("--include", spec.include) } : {}),
    ...(spec.exclude !== undefined ? { exclude: patternOf("--exclude", spec.exclude) } : {}),
    keep1d: spec.keep1d ?? true,
  };
}
