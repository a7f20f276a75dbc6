import assert from "node:assert/strict";
import {
  createProgress,
  formatDuration,
  formatProgressLine,
  type ProgressStream,
  trackProgress,
} from "../cli/_progress.ts";
import { pipe } from "../lib/pipeline.ts";
import { tensorFromBytes } from "../lib/tensor.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A stand-in for stderr that records what was written. */
function fakeStream(terminal: boolean): ProgressStream & { writes: string[] } {
  const writes: string[] = [];
  const decoder = new TextDecoder();
  return {
    writes,
    isTerminal: () => terminal,
    writeSync(bytes: Uint8Array): number {
      writes.push(decoder.decode(bytes));
      return bytes.length;
    },
  };
}

/** A clock the test moves by hand. */
function fakeClock(): { now: () => number; tick(ms: number): void } {
  let t = 1000;
  return { now: () => t, tick: (ms) => void (t += ms) };
}

Deno.test("formatDuration() writes minutes and seconds, hours when needed", async (t) => {
  const cases: [number, string][] = [
    [0, "0:00"],
    [7, "0:07"],
    [6.2, "0:07"],
    [754, "12:34"],
    [3723, "1:02:03"],
    [Infinity, "--:--"],
    [NaN, "--:--"],
    [-1, "--:--"],
  ];
  for (const [seconds, text] of cases) {
    await t.step(`${seconds} s reads ${text}`, () => assert.equal(formatDuration(seconds), text));
  }
});

Deno.test("formatProgressLine() shows percent, bytes, rate and time left", async (t) => {
  await t.step("half of 1 GiB in 2 s is 256 MiB/s with 2 s left", () => {
    const line = formatProgressLine({
      done: GiB / 2,
      total: GiB,
      elapsedMs: 2000,
      label: "reading",
      columns: 120,
    });
    assert.match(line, /^reading \[/);
    assert.match(line, / 50% {2}512\.00 MiB \/ 1\.00 GiB {2}256\.00 MiB\/s {2}0:02 left$/);
    const bar = /\[(.*)\]/.exec(line)![1];
    assert.equal(bar.length, 30);
    assert.equal([...bar].filter((c) => c === "█").length, 15);
  });
  await t.step("nothing done yet shows no rate and no time left", () => {
    const line = formatProgressLine({ done: 0, total: GiB, elapsedMs: 0, columns: 120 });
    assert.match(line, /^\[ {30}\] {3}0% {2}0 B \/ 1\.00 GiB {2}—\/s$/);
  });
  await t.step("a finished job shows 100% and 0:00 left", () => {
    const line = formatProgressLine({ done: 3 * GiB, total: 3 * GiB, elapsedMs: 3000 });
    assert.match(line, /100% {2}3\.00 GiB \/ 3\.00 GiB {2}1\.00 GiB\/s {2}0:00 left$/);
  });
  await t.step("ten minutes of work at 1 MiB/s reads 10:00 left", () => {
    const line = formatProgressLine({ done: 60 * MiB, total: 660 * MiB, elapsedMs: 60_000 });
    assert.match(line, /1\.00 MiB\/s {2}10:00 left$/);
  });
  await t.step("an 80-column terminal shrinks the bar to fit", () => {
    const line = formatProgressLine({ done: GiB / 2, total: GiB, elapsedMs: 2000, label: "reading" });
    assert.ok(line.length < 80, line);
    assert.match(line, /^reading \[█+ +\] /);
  });
  await t.step("a narrow terminal drops the bar and fits the width", () => {
    const line = formatProgressLine({ done: GiB / 4, total: GiB, elapsedMs: 1000, columns: 40 });
    assert.ok(!line.includes("["));
    assert.ok(line.length < 40);
  });
});

Deno.test("createProgress() draws nothing unless stderr is a terminal and the job is large", async (t) => {
  const cases: { name: string; terminal: boolean; total: number; quiet?: boolean; threshold?: number }[] = [
    { name: "not a terminal", terminal: false, total: 4 * GiB },
    { name: "below the 256 MiB default threshold", terminal: true, total: 100 * MiB },
    { name: "quiet", terminal: true, total: 4 * GiB, quiet: true },
    { name: "below a custom threshold", terminal: true, total: 10 * MiB, threshold: 20 * MiB },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const stream = fakeStream(c.terminal);
      const progress = createProgress({ total: c.total, quiet: c.quiet, threshold: c.threshold, stream });
      progress.advance(c.total / 2);
      progress.advance(c.total / 2);
      progress.done();
      assert.deepEqual(stream.writes, []);
    });
  }
});

Deno.test("createProgress() redraws at most ten times a second and clears the line when done", () => {
  const stream = fakeStream(true);
  const clock = fakeClock();
  const progress = createProgress({ total: GiB, label: "writing", stream, now: clock.now, columns: 120 });
  progress.advance(MiB);
  for (let i = 0; i < 50; i++) progress.advance(MiB); // all in the same instant
  assert.equal(stream.writes.length, 1);
  clock.tick(99);
  progress.advance(MiB);
  assert.equal(stream.writes.length, 1);
  clock.tick(1);
  progress.advance(MiB);
  assert.equal(stream.writes.length, 2);
  assert.ok(stream.writes[1].startsWith("\rwriting ["));
  assert.ok(stream.writes[1].endsWith("\x1b[K"), "erases what a longer line left");
  assert.match(stream.writes[1], /\] {3}5% {2}53\.00 MiB \/ 1\.00 GiB /);
  // Reaching the total always draws, however soon.
  progress.advance(GiB);
  assert.equal(stream.writes.length, 3);
  assert.match(stream.writes[2], /100%/);
  progress.done();
  progress.done();
  assert.deepEqual(stream.writes.slice(3), ["\r\x1b[K"]);
  progress.advance(MiB);
  assert.equal(stream.writes.length, 4);
});

Deno.test("createProgress() clears its line when a using scope ends, even by an error", () => {
  const stream = fakeStream(true);
  assert.throws(() => {
    using progress = createProgress({ total: GiB, stream, columns: 120 });
    progress.advance(MiB);
    throw new Error("the write failed");
  }, { message: "the write failed" });
  assert.equal(stream.writes.length, 2);
  assert.equal(stream.writes[1], "\r\x1b[K");
});

Deno.test("trackProgress() advances by each tensor's bytes as it is read", async () => {
  const stream = fakeStream(true);
  const clock = fakeClock();
  const progress = createProgress({ total: 2 * GiB, stream, now: clock.now, threshold: 0, columns: 120 });
  const model = {
    metadata: {},
    tensors: [
      tensorFromBytes("a", "F32", [2], new Uint8Array(8)),
      tensorFromBytes("b", "U8", [4], new Uint8Array([1, 2, 3, 4])),
    ],
  };
  const lengths: number[] = [];
  for await (const entry of pipe(model, trackProgress(progress)).tensors) {
    assert.equal(stream.writes.length, lengths.length, "advances on read, not on iteration");
    lengths.push((await entry.read()).length);
    clock.tick(100);
  }
  assert.deepEqual(lengths, [8, 4]);
  assert.equal(stream.writes.length, 2);
  assert.match(stream.writes[0], / 8 B \/ 2\.00 GiB/);
  assert.match(stream.writes[1], / 12 B \/ 2\.00 GiB/);
});
