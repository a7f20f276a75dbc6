// The quantize flags, and the one QuantizeSpec they build (the serial path,
// the shard workers and the metadata records all take that spec).

import { UsageError } from "../lib/errors.ts";
import { type QuantizeSpec, resolveQuantizeSpec } from "../lib/quant/spec.ts";
import type { OptionSpecs } from "./_output.ts";

/** The flags that describe a quantization, as `parseCommandArgs` takes them. */
export const QUANTIZE_FLAGS: OptionSpecs = {
  scheme: { type: "string" },
  "per-channel": { type: "boolean" },
  axis: { type: "string" },
  affine: { type: "boolean" },
  "reduce-range": { type: "boolean" },
  saturate: { type: "boolean" },
  "double-quant": { type: "boolean" },
  all: { type: "boolean" },
  include: { type: "string" },
  exclude: { type: "string" },
};

/** The spec the parsed flags describe; a missing scheme, a bad axis or pattern is a `UsageError`. */
export function quantizeSpecFromFlags(values: Record<string, unknown>): QuantizeSpec {
  const text = (key: string) => (typeof values[key] === "string" ? values[key] as string : undefined);
  const scheme = text("scheme");
  if (scheme === undefined) throw new UsageError("Missing --scheme (see --help)");
  let axis: number | undefined;
  const axisText = text("axis");
  if (axisText !== undefined) {
    axis = Number(axisText);
    if (!Number.isInteger(axis)) throw new UsageError(`Invalid --axis '${axisText}': expected an integer`);
  }
  const spec: QuantizeSpec = {
    scheme: scheme as QuantizeSpec["scheme"],
    ...(values["per-channel"] === true ? { perChannel: true } : {}),
    ...(axis !== undefined ? { axis } : {}),
    ...(values.affine === true ? { affine: true } : {}),
    ...(values["reduce-range"] === true ? { reduceRange: true } : {}),
    ...(values.saturate === true ? { saturate: true } : {}),
    ...(values["double-quant"] === true ? { doubleQuant: true } : {}),
    ...(values.all === true ? { keep1d: false } : {}),
    ...(text("include") !== undefined ? { include: text("include") } : {}),
    ...(text("exclude") !== undefined ? { exclude: text("exclude") } : {}),
  };
  resolveQuantizeSpec(spec);
  return spec;
}
