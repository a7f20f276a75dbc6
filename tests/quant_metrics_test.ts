import assert from "node:assert/strict";
import { errorMetrics, MetricsAccumulator } from "../lib/metrics.ts";

Deno.test("errorMetrics() computes RMSE, max error, SQNR and cosine", () => {
  const m = errorMetrics([3, 4, 0, 0], [3, 4, 1, 0]);
  assert.equal(m.count, 4);
  assert.equal(m.rmse, 0.5);
  assert.equal(m.maxAbsError, 1);
  assert.equal(m.sqnrDb, 20 * Math.log10(5 / 1));
  assert.equal(m.cosine, 25 / (5 * Math.sqrt(26)));
});

Deno.test("MetricsAccumulator gives the same result in chunks as in one call", () => {
  const x = Array.from({ length: 1000 }, (_, i) => Math.sin(i));
  const y = x.map((v, i) => v + ((i % 7) - 3) * 1e-3);
  const acc = new MetricsAccumulator();
  for (let i = 0; i < 1000; i += 128) acc.add(x.slice(i, i + 128), y.slice(i, i + 128));
  const whole = errorMetrics(x, y);
  const chunked = acc.result();
  assert.equal(chunked.maxAbsError, whole.maxAbsError);
  assert.ok(Math.abs(chunked.rmse - whole.rmse) < 1e-15);
  assert.ok(Math.abs(chunked.sqnrDb - whole.sqnrDb) < 1e-9);
});

Deno.test("MetricsAccumulator skips non-finite pairs and handles exact reconstructions", async (t) => {
  await t.step("non-finite pairs are counted apart", () => {
    const m = errorMetrics([1, NaN, Infinity, 2], [1, 1, Infinity, 2]);
    assert.deepEqual([m.count, m.nonFinite, m.rmse, m.sqnrDb], [2, 2, 0, Infinity]);
  });
  await t.step("two zero tensors are perfectly similar", () => {
    assert.equal(errorMetrics([0, 0], [0, 0]).cosine, 1);
  });
  await t.step("different lengths are rejected", () => {
    assert.throws(
      () => errorMetrics([1], [1, 2]),
      (e: Error) => e instanceof RangeError && e.message === "Cannot compare 1 values with 2: lengths differ",
    );
  });
});
