/**
 * Streaming histograms of tensor values: equal-width bins over a range
 * fixed up front (from a min/max pass), filled one chunk or one tensor at a
 * time, so a whole model's distribution costs a few hundred numbers.
 *
 * @module
 */

/** A filled histogram, plain data (JSON-safe). */
export interface HistogramData {
  /** Low edge of the first bin. */
  readonly low: number;
  /** High edge of the last bin. */
  readonly high: number;
  /** Count per bin; bin `i` covers `[low + i·w, low + (i+1)·w)`, the last one closed. */
  readonly counts: readonly number[];
  /** Finite values counted (the sum of `counts`). */
  readonly count: number;
  /** NaN and ±Infinity values seen; they are in no bin. */
  readonly nonFinite: number;
  /** Smallest finite value seen, or NaN when none. */
  readonly min: number;
  /** Largest finite value seen, or NaN when none. */
  readonly max: number;
  /** Mean of the finite values, or NaN when none. */
  readonly mean: number;
  /** Standard deviation (population) of the finite values, or NaN when none. */
  readonly std: number;
}

/** Range of the finite values in an array, as found by {@linkcode valueRange}. */
export interface ValueRange {
  /** Smallest finite value, or `Infinity` when there is none. */
  min: number;
  /** Largest finite value, or `-Infinity` when there is none. */
  max: number;
}

/**
 * Widen `range` to cover the finite values of `values` (NaN and ±Infinity
 * are skipped). Start from `{ min: Infinity, max: -Infinity }`; call once
 * per tensor for a whole model's range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { valueRange } from "./histogram.ts";
 * assert.deepEqual(valueRange(new Float32Array([3, -1, NaN, 2])), { min: -1, max: 3 });
 * ```
 */
export function valueRange(
  values: Float32Array,
  range: ValueRange = { min: Infinity, max: -Infinity },
): ValueRange {
  let min = range.min;
  let max = range.max;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    // x - x is NaN for NaN and ±Infinity, 0 for every finite x.
    if (x - x !== 0) continue;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  range.min = min;
  range.max = max;
  return range;
}

/**
 * Equal-width bins over a fixed range, filled by `add()` one array at a
 * time. Values outside the range land in the first or last bin, so the
 * counts always sum to the finite values added.
 *
 * @example Two passes over one tensor
 * ```ts
 * import assert from "node:assert/strict";
 * import { Histogram, valueRange } from "./histogram.ts";
 * const values = new Float32Array([0, 0.5, 1, 1, NaN]);
 * const { min, max } = valueRange(values);
 * const histogram = new Histogram(min, max, 2);
 * histogram.add(values);
 * assert.deepEqual(histogram.toJSON().counts, [1, 3]);
 * assert.equal(histogram.toJSON().nonFinite, 1);
 * ```
 */
export class Histogram {
  #low: number;
  #high: number;
  #scale: number;
  #counts: Float64Array;
  #count = 0;
  #nonFinite = 0;
  #min = Infinity;
  #max = -Infinity;
  #sum = 0;
  #sumSquares = 0;

  /**
   * Bins over `[min, max]`. An empty range (`min === max`) is widened to
   * `[min − 0.5, min + 0.5]`, and a range with no finite values to
   * `[−0.5, 0.5]`, so the one value still gets a visible bar.
   */
  constructor(min: number, max: number, bins: number) {
    if (!Number.isSafeInteger(bins) || bins < 1 || bins > 1_000_000) {
      throw new RangeError(`Cannot make a histogram of ${bins} bins: use 1 to 1000000`);
    }
    if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
      min = max = Number.isFinite(min) ? min : Number.isFinite(max) ? max : 0;
    }
    if (min === max) {
      min -= 0.5;
      max += 0.5;
    }
    this.#low = min;
    this.#high = max;
    this.#scale = bins / (max - min);
    this.#counts = new Float64Array(bins);
  }

  /** Add every value of `values` (NaN and ±Infinity are counted apart). */
  add(values: Float32Array): void {
    const counts = this.#counts;
    const last = counts.length - 1;
    const low = this.#low;
    const scale = this.#scale;
    let min = this.#min;
    let max = this.#max;
    let sum = 0;
    let sumSquares = 0;
    let nonFinite = 0;
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      if (x - x !== 0) {
        nonFinite++;
        continue;
      }
      let k = Math.floor((x - low) * scale);
      if (k < 0) k = 0;
      else if (k > last) k = last;
      counts[k]++;
      if (x < min) min = x;
      if (x > max) max = x;
      sum += x;
      sumSquares += x * x;
    }
    this.#min = min;
    this.#max = max;
    this.#sum += sum;
    this.#sumSquares += sumSquares;
    this.#nonFinite += nonFinite;
    this.#count += values.length - nonFinite;
  }

  /** The counts and summary statistics so far, as plain data. */
  toJSON(): HistogramData {
    const n = this.#count;
    const mean = n > 0 ? this.#sum / n : NaN;
    const variance = n > 0 ? Math.max(0, this.#sumSquares / n - mean * mean) : NaN;
    return {
      low: this.#low,
      high: this.#high,
      counts: Array.from(this.#counts),
      count: n,
      nonFinite: this.#nonFinite,
      min: n > 0 ? this.#min : NaN,
      max: n > 0 ? this.#max : NaN,
      mean,
      std: Math.sqrt(variance),
    };
  }

  /**
   * Histogram of one array in two passes: its range, then its bins.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Histogram } from "./histogram.ts";
   * assert.deepEqual(Histogram.of(new Float32Array([1, 2, 3, 4]), 4).counts, [1, 1, 1, 1]);
   * ```
   */
  static of(values: Float32Array, bins: number): HistogramData {
    const { min, max } = valueRange(values);
    const histogram = new Histogram(min, max, bins);
    histogram.add(values);
    return histogram.toJSON();
  }
}
