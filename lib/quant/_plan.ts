// Plan construction shared by the schemes.

import type { DType } from "../dtype.ts";
import { elementCount } from "../dtype.ts";
import { UsageError } from "../errors.ts";
import type { CompanionSpec, QuantPlan, QuantSettings } from "./scheme.ts";

/** Default settings, frozen; callers merge their own over these. */
export const DEFAULT_SETTINGS: Readonly<QuantSettings> = Object.freeze({
  perChannel: false,
  axis: 0,
  affine: false,
  reduceRange: false,
  saturate: false,
  doubleQuant: false,
});

/** Channels and inner stride for a per-channel axis (or one channel). */
export function channelsOf(
  shape: readonly number[],
  settings: Readonly<QuantSettings>,
  perChannel: boolean,
): { channels: number; inner: number; axis: number } {
  const count = elementCount(shape);
  if (!perChannel || shape.length === 0) return { channels: 1, inner: count, axis: -1 };
  const axis = settings.axis < 0 ? settings.axis + shape.length : settings.axis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    throw new UsageError(`Axis ${settings.axis} is out of range for a tensor of rank ${shape.length}`);
  }
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { channels: shape[axis], inner, axis };
}

/** Assemble a plan. */
export function makePlan(
  scheme: string,
  shape: readonly number[],
  settings: Readonly<QuantSettings>,
  layout: {
    dtype: DType;
    outShape: readonly number[];
    byteLength: number;
    companions?: readonly CompanionSpec[];
    perChannel?: boolean;
  },
): QuantPlan {
  const { channels, inner, axis } = channelsOf(shape, settings, layout.perChannel ?? false);
  return {
    scheme,
    shape: [...shape],
    count: elementCount(shape),
    channels,
    inner,
    axis,
    settings: { ...settings },
    dtype: layout.dtype,
    outShape: [...layout.outShape],
    byteLength: layout.byteLength,
    companions: layout.companions ?? [],
  };
}
