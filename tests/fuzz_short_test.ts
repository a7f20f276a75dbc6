// CI's short fuzz round: a fixed seed and a bounded count per decoder, plus
// checks that the harness itself notices crashes, hangs and big allocations.

import assert from "node:assert/strict";
import { checkInput, FuzzExecutor, minimize, runFuzz } from "../fuzz/run_fuzz.ts";
import { mutate } from "../fuzz/mutate.ts";
import { Prng } from "../fuzz/_prng.ts";
import { FORMATS } from "../formats/registry.ts";

const SEED = 20240611;
const PER_TARGET = 1500;

Deno.test("the fuzz harness reports crashes, hangs and oversized allocations as findings", async (t) => {
  const executor = new FuzzExecutor();
  try {
    const cases = [
      {
        target: "selftest-crash",
        status: "crash",
        error: "TypeError",
        message: /Cannot read properties of undefined/,
      },
      { target: "selftest-hang", status: "hang", error: "Timeout", message: /took longer than \d+ ms/ },
      {
        target: "selftest-alloc",
        status: "alloc",
        error: "AllocationLimitError",
        message: /Allocation of 2107152 bytes exceeds 1049216/,
      },
    ];
    for (const c of cases) {
      await t.step(`${c.target} ends as ${c.status}`, async () => {
        const outcome = await checkInput(executor, c.target, new Uint8Array(10), 400);
        assert.equal(outcome.status, c.status);
        assert.equal(outcome.error, c.error);
        assert.match(outcome.message, c.message);
      });
    }
    await t.step("a decoder's typed error is a rejection, not a finding", async () => {
      const outcome = await checkInput(executor, "safetensors", new Uint8Array([1, 2, 3]), 2000);
      assert.equal(outcome.status, "rejected");
      assert.equal(outcome.error, "FormatError");
      assert.match(outcome.message, /^Cannot tell the format of <fuzz safetensors>/);
    });
  } finally {
    executor.stop();
  }
});

Deno.test("mutate() is deterministic for a seed and changes its input", () => {
  const seed = new Uint8Array(256).map((_, i) => i);
  const other = new Uint8Array(64).fill(7);
  const a = Array.from({ length: 50 }, (_, i) => mutate(new Prng(5, i), seed, other));
  const b = Array.from({ length: 50 }, (_, i) => mutate(new Prng(5, i), seed, other));
  assert.deepEqual(a.map((m) => m.ops), b.map((m) => m.ops));
  assert.deepEqual(a.map((m) => [...m.bytes]), b.map((m) => [...m.bytes]));
  const changed = a.filter((m) => m.bytes.length !== seed.length || m.bytes.some((v, i) => v !== seed[i]));
  assert.ok(changed.length >= 45, `only ${changed.length} of 50 mutants differ from the seed`);
});

Deno.test("minimize() keeps the failure while shrinking the input", async () => {
  const input = new Uint8Array(1000).map((_, i) => i & 0xff);
  input[700] = 0xee;
  const small = await minimize(input, (c) => Promise.resolve(c.includes(0xee)));
  assert.deepEqual([...small], [0xee]);
});

Deno.test(`a fixed-seed fuzz round (${PER_TARGET} inputs per decoder) finds nothing`, async (t) => {
  const report = await runFuzz({ seed: SEED, count: PER_TARGET, minimize: false, timeoutMs: 5000 });
  await t.step("every registered format has seeds", () => {
    const names = report.stats.map((s) => s.target);
    for (const format of FORMATS) assert.ok(names.includes(format.name), `no fuzz target for ${format.name}`);
    assert.deepEqual(report.skipped, []);
  });
  for (const stats of report.stats) {
    await t.step(
      `${stats.target}: ${PER_TARGET} inputs, each accepted or rejected with a typed error`,
      () => {
        assert.equal(stats.runs, PER_TARGET);
        assert.equal(stats.ok + stats.rejected, stats.runs);
        const found = report.findings.filter((f) => f.target === stats.target);
        assert.deepEqual(
          found.map((f) => `${f.signature}: ${f.outcome.message}\n${f.outcome.stack}`),
          [],
          `replay with: deno task fuzz --format ${stats.target} --seed ${SEED} --count ${PER_TARGET}`,
        );
      },
    );
  }
});
