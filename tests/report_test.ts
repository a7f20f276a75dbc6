import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { fileSink, withSink } from "../lib/byte_sink.ts";
import { elementCount } from "../lib/dtype.ts";
import { Histogram, valueRange } from "../lib/histogram.ts";
import { errorMetrics } from "../lib/metrics.ts";
import { cast, pipe } from "../lib/pipeline.ts";
import { renderReportHtml, type ReportData } from "../report/render_report_html.ts";
import { collectTensors, type TensorEntry, tensorFromBytes, type TensorStream } from "../lib/tensor.ts";
import { castBytes } from "../lib/cast.ts";
import { dequantize, quantize } from "../lib/quant/mod.ts";
import { writeGguf } from "../formats/gguf/write_gguf.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";
import { bytesOf, DATA, listDir, REPO, runCli, tempDir } from "./_helpers.ts";

const TINY = `${DATA}/report/tiny_model.safetensors`;
const CHROMIUM = "/usr/bin/chromium";

async function writeModel(path: string, stream: TensorStream): Promise<void> {
  await withSink(await fileSink(path), (sink) => writeSafetensors(stream, sink));
}

/** A float entry's values as float32. */
async function readValues(entry: TensorEntry): Promise<Float32Array> {
  const count = elementCount(entry.shape);
  const bytes = castBytes((await entry.read()).slice(), entry.dtype, "F32", count);
  return new Float32Array(bytes.buffer, bytes.byteOffset, count);
}

async function readF32(path: string, name: string): Promise<Float32Array> {
  const file = await openTensorFile(path);
  try {
    const entry = file.tensors.find((t) => t.name === name)!;
    const bytes = (await entry.read()).slice();
    const values = new Float32Array(elementCount(entry.shape));
    if (entry.dtype === "F32") values.set(new Float32Array(bytes.buffer));
    else values.set(new Float16Array(bytes.buffer));
    return values;
  } finally {
    await file.close();
  }
}

function escapeForHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------------------------------------------------------------------------
// lib/histogram.ts

Deno.test("Histogram counts every finite value once and NaN/Inf apart", async (t) => {
  const cases: { name: string; values: number[]; bins: number; counts: number[]; nonFinite: number }[] = [
    { name: "evenly spread values", values: [1, 2, 3, 4], bins: 4, counts: [1, 1, 1, 1], nonFinite: 0 },
    {
      name: "the maximum lands in the last bin",
      values: [0, 0.5, 1, 1],
      bins: 2,
      counts: [1, 3],
      nonFinite: 0,
    },
    {
      name: "NaN and ±Infinity are counted apart",
      values: [0, NaN, 1, Infinity, -Infinity],
      bins: 2,
      counts: [1, 1],
      nonFinite: 3,
    },
    {
      name: "a constant tensor fills one middle bin",
      values: [2, 2, 2],
      bins: 3,
      counts: [0, 3, 0],
      nonFinite: 0,
    },
    { name: "no finite values leaves every bin empty", values: [NaN], bins: 2, counts: [0, 0], nonFinite: 1 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const h = Histogram.of(new Float32Array(c.values), c.bins);
      assert.deepEqual(h.counts, c.counts);
      assert.equal(h.nonFinite, c.nonFinite);
      assert.equal(h.count + h.nonFinite, c.values.length);
    });
  }
});

Deno.test("Histogram filled chunk by chunk over a fixed range equals one pass over the whole", () => {
  const values = new Float32Array(10_000);
  let seed = 12345;
  for (let i = 0; i < values.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values[i] = Math.fround(seed / 2 ** 31 - 0.5) * 3;
  }
  const range = valueRange(values.subarray(0, 5000));
  valueRange(values.subarray(5000), range);
  assert.deepEqual(range, valueRange(values));
  const chunked = new Histogram(range.min, range.max, 37);
  chunked.add(values.subarray(0, 3000));
  chunked.add(values.subarray(3000));
  const whole = Histogram.of(values, 37);
  const { mean, std, ...exact } = chunked.toJSON();
  const { mean: wholeMean, std: wholeStd, ...wholeExact } = whole;
  assert.deepEqual(exact, wholeExact);
  // Sums added in another order may differ in the last bits.
  assert.ok(Math.abs(mean - wholeMean) < 1e-12 && Math.abs(std - wholeStd) < 1e-12);
  assert.equal(whole.counts.reduce((s, c) => s + c, 0), values.length);
  // Each value is in the bin whose edges hold it.
  const width = (whole.high - whole.low) / 37;
  const expected = new Array(37).fill(0);
  for (const x of values) expected[Math.min(36, Math.floor((x - whole.low) / width))]++;
  assert.deepEqual(whole.counts, expected);
});

Deno.test("Histogram rejects a bin count out of range", async (t) => {
  for (const bins of [0, -1, 1.5, 2_000_000]) {
    await t.step(`${bins} bins`, () => {
      assert.throws(() => new Histogram(0, 1, bins), {
        name: "RangeError",
        message: `Cannot make a histogram of ${bins} bins: use 1 to 1000000`,
      });
    });
  }
});

// ---------------------------------------------------------------------------
// report/render_report_html.ts

function sampleData(names: string[]): ReportData {
  const tensors = names.map((name, i) => ({ name, dtype: "F32", shape: [i + 1, 4], bytes: (i + 1) * 16 }));
  return {
    input: {
      path: "dir/<b>model</b>.safetensors",
      format: "safetensors",
      bytes: 1000,
      parameters: 40,
      tensorCount: 4,
    },
    tensors,
    histograms: [{
      name: names[0],
      dtype: "F32",
      shape: [1, 4],
      histogram: Histogram.of(new Float32Array([-1, 0, 0.5, 1]), 4),
    }],
    modelHistogram: Histogram.of(new Float32Array([-1, 0, 0.5, 1, 2]), 8),
    comparison: {
      file: { path: "q.safetensors", format: "safetensors", bytes: 500, parameters: 40, tensorCount: 4 },
      rows: names.map((name) => ({
        name,
        elements: 4,
        before: "F32",
        after: "F16",
        bitsBefore: 32,
        bitsAfter: 16,
        bytesBefore: 16,
        bytesAfter: 8,
        rmse: 1e-4,
        maxAbs: 2e-4,
        sqnr: 70,
        cosine: 0.9999,
      })),
      totals: {
        name: "All",
        elements: 16,
        before: "F32",
        after: "F16",
        bitsBefore: 32,
        bitsAfter: 16,
        bytesBefore: 64,
        bytesAfter: 32,
        rmse: 1e-4,
        maxAbs: 2e-4,
        sqnr: 70,
        cosine: 0.9999,
      },
      onlyInInput: [],
      onlyInAgainst: [`extra<img src=x onerror=alert(1)>`],
      skipped: [],
    },
  };
}

Deno.test("renderReportHtml() escapes every name taken from the files", () => {
  const hostile = ["<script>alert(1)</script>", `a"b'c&d`, "</td></tr><svg onload=alert(2)>", "plain.weight"];
  const html = renderReportHtml(sampleData(hostile));
  for (const name of hostile) {
    assert.ok(html.includes(escapeForHtml(name)), `escaped ${name}`);
  }
  assert.ok(!/<script/i.test(html), "no script element");
  assert.ok(!html.includes("<img"), "no injected element");
  assert.ok(!html.includes("<svg onload"), "no injected attribute");
  assert.ok(html.includes("dir/&#60;b&#62;model&#60;/b&#62;.safetensors"));
});

Deno.test("renderReportHtml() makes a self-contained page: no scripts, no external resources", () => {
  const html = renderReportHtml(sampleData(["a", "b"]));
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(!/<[^>]*\s(src|href)\s*=/i.test(html), "no src or href attributes");
  assert.ok(!/https?:\/\//i.test(html), "no URLs");
  assert.ok(!/@import|url\(/i.test(html), "no CSS imports");
  assert.match(html, /http-equiv="Content-Security-Policy"\s+content="default-src 'none'/);
});

Deno.test("renderReportHtml() draws size bars to scale and summarizes the rest", () => {
  const names = ["t0", "t1", "t2", "t3", "t4", "t5"];
  const data = sampleData(names);
  data.tensors = names.map((name, i) => ({
    name,
    dtype: "F32",
    shape: [i + 1],
    bytes: [4000, 1000, 3000, 250, 7, 5][i],
  }));
  const html = renderReportHtml(data, { maxTensors: 4 });
  const bars = [
    ...html.matchAll(/<svg class="size-bar"[^>]*data-value="(\d+)"[^>]*>\s*<rect[^>]*width="([\d.]+)"/g),
  ]
    .map((m) => ({ bytes: Number(m[1]), width: Number(m[2]) }));
  assert.deepEqual(bars.map((b) => b.bytes), [4000, 3000, 1000, 250], "the four largest, largest first");
  for (const bar of bars) {
    assert.ok(Math.abs(bar.width - (bar.bytes / 4000) * 300) < 0.01, `bar of ${bar.bytes}`);
  }
  assert.match(html, /2 smaller tensors/);
  assert.match(html, /<svg class="rest-bar"[^>]*data-value="12"/);
  // The full list still names every tensor.
  for (const name of names) assert.ok(html.includes(`<td class="name">${name}</td>`), name);
});

Deno.test("renderReportHtml() draws one histogram bar per bin with its count", () => {
  const data = sampleData(["w"]);
  const html = renderReportHtml(data);
  const counts = [...html.matchAll(/data-count="(\d+)"/g)].map((m) => Number(m[1]));
  const expected = [...data.modelHistogram!.counts, ...data.histograms[0].histogram.counts];
  assert.deepEqual(counts, expected);
});

// ---------------------------------------------------------------------------
// ckpt report, end to end

interface Row {
  name: string;
  before: string;
  after: string;
  bitsBefore: number;
  bitsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  rmse: number;
  maxAbs: number;
  sqnr: number | null;
  cosine: number;
}

function close(actual: number | null, expected: number, what: string): void {
  // JSON writes Infinity as null.
  if (!Number.isFinite(expected)) return assert.equal(actual, null, what);
  assert.equal(actual, expected, what);
}

Deno.test("ckpt report compares an F32 model with its F16 cast, tensor by tensor", async () => {
  await using dir = await tempDir();
  const f16 = `${dir.path}/tiny-f16.safetensors`;
  const model = await openTensorFile(TINY);
  await writeModel(f16, pipe(model, cast("F16")));
  const names = model.tensors.map((t) => t.name);
  const sizes = new Map(model.tensors.map((t) => [t.name, elementCount(t.shape)]));
  await model.close();

  const out = `${dir.path}/report.html`;
  const result = await runCli(["report", TINY, "--against", f16, "-o", out, "--json", "--bins", "32"]);
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout);
  const html = await Deno.readTextFile(out);

  // Every tensor is named, and compared.
  for (const name of names) assert.ok(html.includes(name), name);
  const rows: Row[] = summary.comparison.rows;
  assert.deepEqual(rows.map((r) => r.name).sort(), [...names].sort());

  // Each row's measures equal those computed directly from the two files.
  for (const row of rows) {
    const x = await readF32(TINY, row.name);
    const y = await readF32(f16, row.name);
    const want = errorMetrics(x, y);
    close(row.rmse, want.rmse, `${row.name} rmse`);
    close(row.maxAbs, want.maxAbsError, `${row.name} max abs`);
    close(row.sqnr, want.sqnrDb, `${row.name} sqnr`);
    close(row.cosine, want.cosine, `${row.name} cosine`);
    // F16 keeps 11 significant bits: about 6 dB each, so ~66–75 dB for
    // values in its normal range (exact zeros and ones give ∞).
    if (row.sqnr !== null) assert.ok(row.sqnr > 60 && row.sqnr < 80, `${row.name} SQNR ${row.sqnr}`);
    assert.deepEqual([row.before, row.after, row.bitsBefore, row.bitsAfter], ["F32", "F16", 32, 16]);
    assert.equal(row.bytesBefore, 2 * row.bytesAfter);
    // The table shows the same SQNR the data holds.
    if (row.sqnr !== null) {
      assert.ok(html.includes(`>${row.sqnr.toFixed(1)}<`), `${row.name} SQNR in the table`);
    }
  }
  assert.equal(summary.comparison.totals.bytesBefore, 2 * summary.comparison.totals.bytesAfter);
  assert.deepEqual(summary.comparison.onlyInInput, []);

  // Histogram counts add up to the elements they describe.
  const total = [...sizes.values()].reduce((s, n) => s + n, 0);
  const model32 = summary.modelHistogram;
  assert.equal(model32.counts.length, 32);
  assert.equal(model32.counts.reduce((s: number, c: number) => s + c, 0) + model32.nonFinite, total);
  assert.equal(summary.input.parameters, total);
  for (const h of summary.histograms) {
    assert.equal(h.histogram.counts.reduce((s: number, c: number) => s + c, 0), sizes.get(h.name), h.name);
  }
  assert.equal(await listDir(dir.path).then((l) => l.join(",")), "report.html,tiny-f16.safetensors");
});

Deno.test("ckpt report dequantizes the compared file and counts its companions as its size", async (t) => {
  await using dir = await tempDir();
  const cases = [
    {
      scheme: "int8" as const,
      perChannel: true,
      path: `${dir.path}/q-int8.safetensors`,
      write: writeSafetensors,
    },
    {
      scheme: "NF4" as const,
      perChannel: false,
      path: `${dir.path}/q-nf4.safetensors`,
      write: writeSafetensors,
    },
    { scheme: "Q4_0" as const, perChannel: false, path: `${dir.path}/q-q4_0.gguf`, write: writeGguf },
  ];
  for (const c of cases) {
    await t.step(c.scheme, async () => {
      const model = await openTensorFile(TINY);
      await withSink(
        await fileSink(c.path),
        (sink) =>
          c.write(
            pipe(model, quantize({ scheme: c.scheme, perChannel: c.perChannel }, { device: "cpu" })),
            sink,
          ),
      );
      await model.close();
      const result = await runCli([
        "report",
        TINY,
        "--against",
        c.path,
        "-o",
        `${dir.path}/r.html`,
        "--json",
      ]);
      assert.equal(result.code, 0, result.stderr);
      const { comparison } = JSON.parse(result.stdout);
      const quantized = await openTensorFile(c.path);
      const stored = new Map(quantized.tensors.map((e) => [e.name, e]));
      const rebuilt = new Map(
        (await collectTensors(pipe(quantized, dequantize()))).map((e) => [e.name, e]),
      );
      const reference = await openTensorFile(TINY);
      try {
        assert.deepEqual(comparison.onlyInAgainst, [], "companions are not tensors of their own");
        assert.equal(comparison.rows.length, reference.tensors.length);
        let changed = 0;
        for (const row of comparison.rows as Row[]) {
          const x = await readValues(reference.tensors.find((e) => e.name === row.name)!);
          const y = await readValues(rebuilt.get(row.name)!);
          const want = errorMetrics(x, y);
          close(row.rmse, want.rmse, `${row.name} rmse`);
          close(row.sqnr, want.sqnrDb, `${row.name} sqnr`);
          close(row.cosine, want.cosine, `${row.name} cosine`);
          // Stored size: the code tensor and every `<name>.<suffix>` companion.
          const companions = quantized.tensors.filter((e) =>
            e.name.startsWith(`${row.name}.`) && !rebuilt.has(e.name)
          );
          const bytes = stored.get(row.name)!.byteLength + companions.reduce((s, e) => s + e.byteLength, 0);
          assert.equal(row.bytesAfter, bytes, `${row.name} bytes after`);
          assert.equal(row.bitsAfter, (bytes * 8) / x.length);
          if (row.after !== "F32") {
            changed++;
            assert.match(row.after, new RegExp(`^${c.scheme}`));
            assert.ok(row.sqnr !== null && row.sqnr > 10 && row.sqnr < 60, `${row.name} SQNR ${row.sqnr}`);
          }
        }
        assert.ok(changed > 0, "some tensors were quantized");
        if (c.scheme === "Q4_0") {
          // ggml Q4_0: blocks of 32 values in 18 bytes.
          const q = (comparison.rows as Row[]).find((r) => r.after === "Q4_0")!;
          assert.equal(q.bitsAfter, (18 * 8) / 32);
        }
      } finally {
        await reference.close();
        await quantized.close();
      }
    });
  }
});

Deno.test("ckpt report escapes hostile tensor names from the file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/hostile.safetensors`;
  const names = ["<script>alert('x')</script>", `w" onmouseover="alert(1)`, "a&b<c>"];
  await writeModel(path, {
    metadata: {},
    tensors: names.map((name, i) => tensorFromBytes(name, "F32", [2], bytesOf(new Float32Array([i, -i])))),
  });
  const out = `${dir.path}/report.html`;
  const result = await runCli(["report", path, "-o", out, "--quiet"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "");
  const html = await Deno.readTextFile(out);
  for (const name of names) assert.ok(html.includes(escapeForHtml(name)), name);
  assert.ok(!/<script/i.test(html));
  assert.ok(!html.includes(`" onmouseover="`));
});

Deno.test("ckpt report rejects bad input with exit 2, one line, and no output file", async (t) => {
  await using dir = await tempDir();
  const garbage = `${dir.path}/garbage.bin`;
  await Deno.writeFile(garbage, new TextEncoder().encode("this is not a tensor file at all"));
  const truncated = `${dir.path}/truncated.safetensors`;
  await Deno.writeFile(truncated, (await Deno.readFile(TINY)).subarray(0, 5000));
  const badRecord = `${dir.path}/bad-record.safetensors`;
  await writeModel(badRecord, {
    metadata: { "ckpt.quantization": "{not json" },
    tensors: [tensorFromBytes("w", "F32", [1], new Uint8Array(4))],
  });
  const out = `${dir.path}/report.html`;
  const cases: { name: string; args: string[]; message: RegExp }[] = [
    {
      name: "a compared file with a malformed quantization record",
      args: [TINY, "--against", badRecord, "-o", out],
      message: /^ckpt report: Cannot parse the ckpt\.quantization metadata: invalid JSON$/,
    },
    { name: "a missing input", args: [`${dir.path}/nope.safetensors`, "-o", out], message: /No such file/ },
    {
      name: "bytes of no known format",
      args: [garbage, "-o", out],
      message: /Cannot tell the format of .*garbage\.bin/,
    },
    { name: "a truncated file", args: [truncated, "-o", out], message: /truncated\.safetensors/ },
    {
      name: "a bad file to compare against",
      args: [TINY, "--against", garbage, "-o", out],
      message: /Cannot tell the format/,
    },
    {
      name: "no output path",
      args: [TINY],
      message: /^ckpt report: Missing -o\/--output: name the HTML file to write$/,
    },
    {
      name: "two inputs",
      args: [TINY, TINY, "-o", out],
      message: /^ckpt report: Unexpected argument '.*tiny_model\.safetensors' \(see --help\)$/,
    },
    {
      name: "a bad bin count",
      args: [TINY, "-o", out, "--bins", "0"],
      message: /^ckpt report: Invalid --bins '0': use a whole number from 1 to 1000$/,
    },
    {
      name: "a bad tensor count",
      args: [TINY, "-o", out, "--max-tensors", "x"],
      message: /^ckpt report: Invalid --max-tensors 'x'/,
    },
    {
      name: "no input",
      args: ["-o", out],
      message: /^ckpt report: Missing IN \(see --help\)$/,
    },
    {
      name: "an option without its value",
      args: [TINY, "-o"],
      message: /^ckpt report: Option '--output' needs a value$/,
    },
    {
      name: "an unknown option",
      args: [TINY, "-o", out, "--colour"],
      message: /^ckpt report: Unknown option '--colour' \(see --help\)$/,
    },
    {
      name: "the input as output",
      args: [TINY, "-o", TINY],
      message: /^ckpt report: Refusing to write .*: it is also an input/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const result = await runCli(["report", ...c.args]);
      assert.equal(result.code, 2, result.stderr);
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], c.message);
      assert.equal(result.stdout, "");
      assert.deepEqual(await listDir(dir.path), [
        "bad-record.safetensors",
        "garbage.bin",
        "truncated.safetensors",
      ]);
    });
  }
});

Deno.test("ckpt report --help names the usage, an example and the permissions", async () => {
  const result = await runCli(["report", "--help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /Usage: ckpt report IN -o report\.html/);
  assert.match(result.stdout, /Example:\n {2}ckpt report /);
  assert.match(result.stdout, /Permissions: --allow-read .* --allow-write/);
});

// ---------------------------------------------------------------------------
// The page in a real browser

interface Png {
  width: number;
  height: number;
  pixels: Uint8Array;
  channels: number;
}

/** Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes). */
function decodePng(bytes: Uint8Array): Png {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  let offset = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  while (offset < bytes.length) {
    const length = view.getUint32(offset);
    const type = new TextDecoder().decode(bytes.subarray(offset + 4, offset + 8));
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      assert.equal(body[8], 8, "8-bit samples");
      channels = ({ 2: 3, 6: 4 } as Record<number, number>)[body[9]];
      assert.ok(channels, `colour type ${body[9]}`);
      assert.equal(body[12], 0, "not interlaced");
    } else if (type === "IDAT") {
      idat.push(body);
    }
    offset += 12 + length;
  }
  const joined = new Uint8Array(idat.reduce((s, c) => s + c.length, 0));
  idat.reduce((at, chunk) => (joined.set(chunk, at), at + chunk.length), 0);
  const data = new Uint8Array(inflateSync(joined));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = data[y * (stride + 1)];
    const line = data.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels] : 0;
      const b = up[i];
      const c = i >= channels ? up[i - channels] : 0;
      let p = line[i];
      if (filter === 1) p += a;
      else if (filter === 2) p += b;
      else if (filter === 3) p += (a + b) >> 1;
      else if (filter === 4) {
        const e = a + b - c;
        const pa = Math.abs(e - a), pb = Math.abs(e - b), pc = Math.abs(e - c);
        p += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[i] = p & 0xff;
    }
  }
  return { width, height, pixels, channels };
}

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "ckpt report renders in headless Chromium as a page with text and charts",
  ignore: !hasChromium() && (console.warn(`skipping: ${CHROMIUM} is not installed`), true),
  async fn() {
    await using dir = await tempDir();
    const f16 = `${dir.path}/tiny-f16.safetensors`;
    const model = await openTensorFile(TINY);
    await writeModel(f16, pipe(model, cast("F16")));
    await model.close();
    const html = `${dir.path}/report.html`;
    const result = await runCli(["report", TINY, "--against", f16, "-o", html, "--quiet"]);
    assert.equal(result.code, 0, result.stderr);

    await Deno.mkdir(`${REPO}/tests/out`, { recursive: true });
    const png = `${REPO}/tests/out/report.png`;
    await Deno.remove(png).catch(() => {});
    const profile = await Deno.makeTempDir({ prefix: "ckpt-chromium-" });
    try {
      const run = await new Deno.Command(CHROMIUM, {
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          `--user-data-dir=${profile}`,
          `--screenshot=${png}`,
          "--window-size=1200,2000",
          `file://${html}`,
        ],
        stdout: "piped",
        stderr: "piped",
        // A browser that hangs must not hang the suite.
        signal: AbortSignal.timeout(120_000),
      }).output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
    } finally {
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }

    const bytes = await Deno.readFile(png);
    assert.ok(bytes.length > 20_000, `a screenshot of ${bytes.length} bytes is too small to show a report`);
    const image = decodePng(bytes);
    assert.deepEqual([image.width, image.height], [1200, 2000]);
    // Mostly white paper, with real ink: dark text and the blue of the bars.
    let white = 0, dark = 0, blue = 0;
    const colours = new Set<number>();
    for (let i = 0; i < image.pixels.length; i += image.channels) {
      const [r, g, b] = [image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]];
      colours.add((r << 16) | (g << 8) | b);
      if (r > 245 && g > 245 && b > 245) white++;
      else if (r < 80 && g < 80 && b < 80) dark++;
      else if (b > 150 && r < 110 && b - r > 80) blue++;
    }
    const n = image.width * image.height;
    assert.ok(colours.size > 50, `${colours.size} colours`);
    assert.ok(white / n > 0.5, `white ${white / n}`);
    assert.ok(dark / n > 0.005, `dark ${dark / n}`);
    assert.ok(blue / n > 0.005, `blue ${blue / n}`);
  },
});
