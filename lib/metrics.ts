/**
 * Error metrics between a tensor and its reconstruction, accumulated in
 * float64 over chunks so a caller can stream a large tensor through them.
 *
 * @module
 */

/** The error of a reconstruction. */
export interface ErrorMetrics {
  /** Elements compared (both values finite). */
  readonly count: number;
  /** Elements skipped because either value was NaN or infinite. */
  readonly nonFinite: number;
  /** Root mean squared error. */
  readonly rmse: number;
  /** Largest absolute error. */
  readonly maxAbsError: number;
  /** Signal-to-quantization-noise ratio, 20·log10(‖x‖/‖x − y‖), in dB (Infinity when exact). */
  readonly sqnrDb: number;
  /** Cosine similarity of x and y (1 when both are zero). */
  readonly cosine: number;
}

/**
 * Streaming accumulator of {@linkcode ErrorMetrics}: `add` chunks of
 * reference and reconstructed values, then `result()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetricsAccumulator } from "./metrics.ts";
 * const acc = new MetricsAccumulator();
 * acc.add(new Float32Array([1, 2, 3]), new Float32Array([1, 2, 3.5]));
 * assert.equal(acc.result().maxAbsError, 0.5);
 * ```
 */
export class MetricsAccumulator {
  #count = 0;
  #nonFinite = 0;
  #signal = 0;
  #noise = 0;
  #dot = 0;
  #approx = 0;
  #maxAbs = 0;

  /** Accumulate one chunk; `reference` and `approx` have the same length. */
  add(reference: ArrayLike<number>, approx: ArrayLike<number>): void {
    const n = reference.length;
    if (approx.length !== n) {
      throw new RangeError(`Cannot compare ${n} values with ${approx.length}: lengths differ`);
    }
    let signal = 0, noise = 0, dot = 0, sq = 0, maxAbs = this.#maxAbs, skipped = 0;
    for (let i = 0; i < n; i++) {
      const x = reference[i];
      const y = approx[i];
      const e = x - y;
      if (!Number.isFinite(e) || !Number.isFinite(x) || !Number.isFinite(y)) {
        skipped++;
        continue;
      }
      signal += x * x;
      noise += e * e;
      dot += x * y;
      sq += y * y;
      const a = e < 0 ? -e : e;
      if (a > maxAbs) maxAbs = a;
    }
    this.#count += n - skipped;
    this.#nonFinite += skipped;
    this.#signal += signal;
    this.#noise += noise;
    this.#dot += dot;
    this.#approx += sq;
    this.#maxAbs = maxAbs;
  }

  /** The metrics of everything added so far. */
  result(): ErrorMetrics {
    const n = this.#count;
    const norms = Math.sqrt(this.#signal) * Math.sqrt(this.#approx);
    return {
      count: n,
      nonFinite: this.#nonFinite,
      rmse: n ? Math.sqrt(this.#noise / n) : 0,
      maxAbsError: this.#maxAbs,
      sqnrDb: this.#noise === 0 ? Infinity : 10 * Math.log10(this.#signal / this.#noise),
      cosine: norms === 0 ? (this.#signal === this.#approx ? 1 : 0) : this.#dot / norms,
    };
  }
}

/**
 * Metrics of one reconstruction in a single call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMetrics } from "./metrics.ts";
 * assert.equal(errorMetrics(new Float32Array([3, 4]), new Float32Array([3, 4])).sqnrDb, Infinity);
 * ```
 */
export function errorMetrics(reference: ArrayLike<number>, approx: ArrayLike<number>): ErrorMetrics {
  const acc = new MetricsAccumulator();
  acc.add(reference, approx);
  return acc.result();
}
