/**
 * Why a file is this size and what it needs to run: sizes grouped by role
 * (weights, optimizer state, buffers), memory estimates for inference and
 * training, value histograms, and the error metrics of a changed copy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMetrics } from "./mod.ts";
 * const m = errorMetrics(new Float32Array([1, 2, 3]), new Float32Array([1, 2, 3]));
 * assert.equal(m.maxAbsError, 0);
 * ```
 *
 * @module
 */

export * from "../lib/size_report.ts";
export * from "../lib/memory_estimate.ts";
export * from "../lib/metrics.ts";
export * from "../lib/histogram.ts";
export { formatBytes, formatCount, parseSize } from "../lib/units.ts";
