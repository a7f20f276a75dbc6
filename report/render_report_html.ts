/**
 * Render a model report — sizes, weight histograms and, against a quantized
 * copy, per-tensor error — as one self-contained HTML page: inline CSS and
 * SVG, no scripts, no network, readable on screen and on paper.
 *
 * @module
 */

import type { HistogramData } from "../lib/histogram.ts";
import { formatBytes, formatCount } from "../lib/units.ts";

/** One input file, as the report's header describes it. */
export interface ReportFile {
  /** Path or URL as given. */
  path: string;
  /** Format name, e.g. `safetensors`. */
  format: string;
  /** Size of the file(s) in bytes. */
  bytes: number;
  /** Number of elements over all tensors. */
  parameters: number;
  /** Number of tensors. */
  tensorCount: number;
}

/** One tensor's header, for the size bars. */
export interface ReportTensor {
  /** Tensor name (untrusted: escaped when rendered). */
  name: string;
  /** Dtype, or the block encoding (e.g. `Q4_0`) when there is one. */
  dtype: string;
  /** Dimensions. */
  shape: readonly number[];
  /** Bytes stored. */
  bytes: number;
}

/** A tensor's value histogram. */
export interface ReportTensorHistogram {
  /** Tensor name. */
  name: string;
  /** Dtype or encoding. */
  dtype: string;
  /** Dimensions. */
  shape: readonly number[];
  /** The counts. */
  histogram: HistogramData;
}

/** Error of one tensor (or of all of them) against its quantized version. */
export interface ReportErrorRow {
  /** Tensor name. */
  name: string;
  /** Elements compared. */
  elements: number;
  /** Dtype of the reference tensor. */
  before: string;
  /** Dtype or quantization scheme of the compared tensor. */
  after: string;
  /** Bits per weight of the reference. */
  bitsBefore: number;
  /** Bits per weight of the compared tensor, companions (scales, zero points) included. */
  bitsAfter: number;
  /** Bytes of the reference. */
  bytesBefore: number;
  /** Bytes of the compared tensor, companions included. */
  bytesAfter: number;
  /** Root mean square error. */
  rmse: number;
  /** Largest absolute error. */
  maxAbs: number;
  /** Signal-to-quantization-noise ratio in dB (`Infinity` when identical). */
  sqnr: number;
  /** Cosine similarity. */
  cosine: number;
  /** Value pairs left out of the measures because either side was NaN or infinite. @default 0 */
  nonFinite?: number;
}

/** The comparison half of a report. */
export interface ReportComparison {
  /** The quantized or compressed file. */
  file: ReportFile;
  /** One row per tensor compared, in the reference file's order. */
  rows: ReportErrorRow[];
  /** The same measures over every compared tensor together. */
  totals: ReportErrorRow;
  /** Tensors of the reference with no namesake in the compared file. */
  onlyInInput: string[];
  /** Tensors of the compared file with no namesake in the reference. */
  onlyInAgainst: string[];
  /** Tensors present in both but not compared, with why. */
  skipped: { name: string; reason: string }[];
}

/** Everything a report shows. */
export interface ReportData {
  /** The file reported on. */
  input: ReportFile;
  /** Every tensor's header, in file order. */
  tensors: ReportTensor[];
  /** Histograms of the largest tensors. */
  histograms: ReportTensorHistogram[];
  /** Histogram of every floating-point value in the file. */
  modelHistogram?: HistogramData;
  /** Present when compared against a quantized version. */
  comparison?: ReportComparison;
  /** Program name and version for the footer, e.g. `ckpt 0.1.0`. */
  generator?: string;
  /** When the report was made (ISO 8601), for the footer. */
  createdAt?: string;
}

/** Options for {@linkcode renderReportHtml}. */
export interface ReportHtmlOptions {
  /** Tensors drawn one by one in the size and error charts; the rest are summarized. @default 20 */
  maxTensors?: number;
  /** Page title. @default "ckpt report: " and the input's file name */
  title?: string;
}

/**
 * Render report data as one self-contained HTML page (no scripts, no
 * external resources). Every name from the files is escaped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderReportHtml } from "./render_report_html.ts";
 * const html = renderReportHtml({
 *   input: { path: "tiny.safetensors", format: "safetensors", bytes: 96, parameters: 16, tensorCount: 1 },
 *   tensors: [{ name: "w", dtype: "F32", shape: [4, 4], bytes: 64 }],
 *   histograms: [],
 * });
 * assert.ok(html.startsWith("<!doctype html>"));
 * assert.match(html, /tiny\.safetensors/);
 * ```
 */
export function renderReportHtml(data: ReportData, options: ReportHtmlOptions = {}): string {
  const maxTensors = Math.max(1, Math.floor(options.maxTensors ?? 20));
  const title = options.title ?? `ckpt report: ${baseName(data.input.path)}`;
  const body = [
    header(data),
    sizeSection(data, maxTensors),
    histogramSection(data),
    data.comparison ? comparisonSection(data.comparison, maxTensors) : raw(""),
    tensorListSection(data),
    markup`<footer>${data.generator ?? "ckpt"}${data.createdAt ? ` · ${data.createdAt}` : ""}</footer>`,
  ];
  return `<!doctype html>\n${
    markup`
      <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <meta http-equiv="Content-Security-Policy"
            content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
          <title>${title}</title>
          <style>${raw(CSS)}</style>
        </head>
        <body>
          <main>
      ${body}
          </main>
        </body>
      </html>
    `.value
  }`;
}

// ---------------------------------------------------------------------------
// Escaping: every interpolation is escaped unless it is already markup.

class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | Part[];

function raw(markup: string): Html {
  return new Html(markup);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(part: Part): string {
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join("");
  return escapeHtml(String(part));
}

function markup(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0];
  for (let i = 0; i < parts.length; i++) out += render(parts[i]) + strings[i + 1];
  return new Html(out);
}

// ---------------------------------------------------------------------------
// Number formatting

function baseName(path: string): string {
  const clean = path.replace(/[?#].*$/, "").replace(/\/+$/, "");
  return clean.slice(clean.lastIndexOf("/") + 1) || path;
}

function shapeText(shape: readonly number[]): string {
  return shape.length === 0 ? "scalar" : shape.join(" × ");
}

function sci(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "—" : x > 0 ? "∞" : "−∞";
  if (x === 0) return "0";
  const a = Math.abs(x);
  const text = a >= 0.01 && a < 1000 ? x.toPrecision(3) : x.toExponential(2).replace("e+", "e");
  // A true minus sign: the hyphen is too short beside tabular digits.
  return text.replaceAll("-", "\u2212");
}

function decibels(x: number): string {
  if (x === Infinity) return "∞";
  if (!Number.isFinite(x)) return "—";
  return x.toFixed(1);
}

function withDb(x: number): string {
  return Number.isNaN(x) ? "—" : `${decibels(x)} dB`;
}

function sizeChange(ratio: number): string {
  if (!Number.isFinite(ratio) || ratio <= 0) return "";
  if (Math.abs(ratio - 1) < 0.005) return "the same size";
  return ratio > 1 ? `${ratio.toFixed(2)}× smaller` : `${(1 / ratio).toFixed(2)}× larger`;
}

function cosineText(x: number): string {
  if (!Number.isFinite(x)) return "—";
  return x >= 0.9999995 && x < 1 ? "0.999999+" : x.toFixed(6);
}

function bitsText(x: number): string {
  if (!Number.isFinite(x)) return "—";
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

function percent(part: number, whole: number): string {
  if (whole <= 0) return "—";
  const p = (100 * part) / whole;
  return p > 0 && p < 0.1 ? "<0.1%" : `${p.toFixed(1)}%`;
}

/** SVG coordinates: two decimals are plenty and keep the file small. */
function px(x: number): string {
  return String(Math.round(x * 100) / 100);
}

// ---------------------------------------------------------------------------
// Sections

function header(data: ReportData): Html {
  const { input, comparison } = data;
  const dtypes = dtypeShares(data.tensors);
  const cards: [string, string][] = [
    ["Format", input.format],
    ["Parameters", formatCount(input.parameters)],
    ["Size", formatBytes(input.bytes)],
    ["Tensors", String(input.tensorCount)],
    [
      "Stored as",
      dtypes.length === 0
        ? "—"
        : dtypes.slice(0, 3).map(([d]) => d).join(", ") + (dtypes.length > 3 ? ", …" : ""),
    ],
  ];
  let against = raw("");
  if (comparison) {
    const t = comparison.totals;
    const ratio = comparison.file.bytes > 0 ? input.bytes / comparison.file.bytes : NaN;
    against = markup`
      <section class="against">
        <p class="label">Compared with</p>
        <p class="path">${comparison.file.path}</p>
        <div class="cards">
          ${card("Format", comparison.file.format)}${
      card(
        "Size",
        `${formatBytes(comparison.file.bytes)}`,
        sizeChange(ratio),
      )
    }${
      card(
        "Bits / weight",
        `${bitsText(t.bitsBefore)} → ${bitsText(t.bitsAfter)}`,
        "compared tensors",
      )
    }${card("SQNR", withDb(t.sqnr), qualityWord(t.sqnr))}${
      card(
        "Cosine",
        cosineText(t.cosine),
        `RMSE ${sci(t.rmse)}`,
      )
    }
        </div>
      </section>
    `;
  }
  return markup`<header>
  <p class="label">ckpt report</p>
  <h1>${baseName(input.path)}</h1>
  <p class="path">${input.path}</p>
  <div class="cards">${cards.map(([k, v]) => card(k, v))}</div>
  ${dtypeBar(dtypes)}
</header>${against}`;
}

function card(key: string, value: string, note = ""): Html {
  return markup`<div class="card"><div class="k">${key}</div><div class="v">${value}</div>${
    note ? markup`<div class="n">${note}</div>` : raw("")
  }</div>`;
}

function dtypeShares(tensors: readonly ReportTensor[]): [string, number][] {
  const bytes = new Map<string, number>();
  for (const t of tensors) bytes.set(t.dtype, (bytes.get(t.dtype) ?? 0) + t.bytes);
  return [...bytes].sort((a, b) => b[1] - a[1]);
}

const NATURAL = new Intl.Collator("en", { numeric: true });

const PALETTE = ["#3b6fd8", "#e08a2e", "#3a9e6d", "#9b5bd0", "#c9485b", "#2aa3b5", "#8a8f99"];

function dtypeBar(shares: [string, number][]): Html {
  const sum = shares.reduce((s, [, b]) => s + b, 0);
  if (sum <= 0 || shares.length < 2) return raw("");
  let x = 0;
  const rects: Html[] = [];
  const legend: Html[] = [];
  shares.forEach(([dtype, bytes], i) => {
    const w = (bytes / sum) * 1000;
    const color = PALETTE[Math.min(i, PALETTE.length - 1)];
    rects.push(markup`
      <rect x="${px(x)}" y="0" width="${px(w)}" height="10" fill="${color}">
        <title>${dtype}: ${formatBytes(bytes)}</title>
      </rect>
    `);
    legend.push(markup`<span><i style="background:${color}"></i>${dtype} ${percent(bytes, sum)}</span>`);
    x += w;
  });
  return markup`
    <div class="dtypes">
      <svg viewBox="0 0 1000 10" preserveAspectRatio="none" role="img"
        aria-label="Bytes by dtype">${rects}</svg>
      <div class="legend">${legend}</div>
    </div>
  `;
}

function sizeSection(data: ReportData, maxTensors: number): Html {
  // Equal sizes in natural name order: layers.2 before layers.10.
  const sorted = [...data.tensors].sort((a, b) => b.bytes - a.bytes || NATURAL.compare(a.name, b.name));
  const shown = sorted.slice(0, maxTensors);
  const rest = sorted.slice(maxTensors);
  const total = data.tensors.reduce((s, t) => s + t.bytes, 0);
  const largest = shown[0]?.bytes ?? 0;
  const rows = shown.map((t) =>
    markup`
      <tr>
        <td class="name">${t.name}</td>
        <td>${t.dtype}</td>
        <td class="shape">${shapeText(t.shape)}</td>
        <td class="bar">${
      barSvg(
        "size-bar",
        largest > 0 ? t.bytes / largest : 0,
        "var(--accent)",
        t.bytes,
      )
    }</td>
        <td class="num">${formatBytes(t.bytes)}</td>
        <td class="num muted">${percent(t.bytes, total)}</td>
      </tr>
    `
  );
  const restBytes = rest.reduce((s, t) => s + t.bytes, 0);
  const restRow = rest.length > 0
    ? markup`
      <tr class="rest">
        <td class="name" colspan="3">${rest.length} smaller tensor${rest.length === 1 ? "" : "s"}</td>
        <td class="bar">${
      barSvg(
        "rest-bar",
        largest > 0 ? Math.min(1, restBytes / largest) : 0,
        "var(--muted-bar)",
        restBytes,
      )
    }</td>
        <td class="num">${formatBytes(restBytes)}</td>
        <td class="num muted">${percent(restBytes, total)}</td>
      </tr>
    `
    : raw("");
  const top = shown.reduce((s, t) => s + t.bytes, 0);
  return markup`
    <section>
      <h2>Where the bytes are</h2>
      <p class="lede">${sizeLede(shown, data.tensors.length, top, total)}</p>
      ${
    shown.length === 0 ? "" : markup`<table class="sizes">
        <thead>
          <tr>
            <th>Tensor</th>
            <th>Dtype</th>
            <th>Shape</th>
            <th class="barhead"></th>
            <th class="num">Size</th>
            <th class="num">Share</th>
          </tr>
        </thead>
        <tbody>${rows}${restRow}</tbody>
      </table>`
  }
    </section>
  `;
}

function sizeLede(shown: readonly ReportTensor[], count: number, top: number, total: number): string {
  if (count === 0) return "The file holds no tensors.";
  const scale = "Bars are to scale with the largest tensor.";
  if (shown.length === count) {
    return `${count} tensor${count === 1 ? "" : "s"}, ${formatBytes(total)} of tensor data. ${scale}`;
  }
  return `The ${shown.length} largest of ${count} tensors hold ${percent(top, total)} of the ${
    formatBytes(total)
  } of tensor data. ${scale}`;
}

function barSvg(cls: string, fraction: number, color: string, value: number): Html {
  const w = Math.max(0, Math.min(1, fraction)) * 300;
  return markup`
    <svg class="${cls}" viewBox="0 0 300 12" preserveAspectRatio="none" data-value="${value}">
      <rect x="0" y="1" width="${px(w)}" height="10" rx="1.5" fill="${color}" />
    </svg>
  `;
}

function histogramSection(data: ReportData): Html {
  if (!data.modelHistogram && data.histograms.length === 0) return raw("");
  const model = data.modelHistogram;
  // The whole model on a log scale: its tails (outliers that quantization
  // must cover) are invisible on a linear one.
  const whole = model && model.count + model.nonFinite > 0
    ? markup`
      <figure
        class="wide"><div class="fig-title"><span>All values · counts on a log scale</span></div>${
      histogramSvg(
        model,
        960,
        180,
        true,
      )
    }<figcaption>${statsLine(model, true)}</figcaption></figure>
    `
    : raw("");
  const small = data.histograms.map((h) =>
    markup`<figure><div class="fig-title"><span class="name">${h.name}</span><span class="muted">${h.dtype} · ${
      shapeText(h.shape)
    }</span></div>${histogramSvg(h.histogram, 300, 110, false)}<figcaption>${
      statsLine(h.histogram, false)
    }</figcaption></figure>`
  );
  return markup`<section>
<h2>Weight distributions</h2>
<p class="lede">Every floating-point value in the file${
    data.histograms.length > 0
      ? data.histograms.length === 1
        ? ", then the largest tensor (linear counts)"
        : markup`, then the ${data.histograms.length} largest tensors one by one (linear counts)`
      : ""
  }. The dashed line marks zero; the axis ends are the smallest and largest values.</p>
${whole}
<div class="grid">${small}</div>
</section>`;
}

function statsLine(h: HistogramData, withRange: boolean): Html {
  const parts = [`n ${formatCount(h.count)}`, `mean ${sci(h.mean)}`, `std ${sci(h.std)}`];
  if (withRange) parts.push(`min ${sci(h.min)}`, `max ${sci(h.max)}`);
  if (h.nonFinite > 0) parts.push(`${formatCount(h.nonFinite)} NaN/Inf`);
  return markup`${parts.join(" · ")}`;
}

function histogramSvg(h: HistogramData, width: number, height: number, log: boolean): Html {
  const padBottom = 16;
  const plotH = height - padBottom;
  const bins = h.counts.length;
  const scale = (c: number) => (log ? Math.log1p(c) : c);
  const peak = Math.max(1, ...h.counts.map(scale));
  const bw = width / bins;
  const binWidth = (h.high - h.low) / bins;
  const bars = h.counts.map((c, i) => {
    const bh = c > 0 ? Math.max(1, (scale(c) / peak) * (plotH - 4)) : 0;
    const lo = h.low + i * binWidth;
    return markup`
      <rect x="${px(i * bw)}" y="${px(plotH - bh)}" width="${px(Math.max(0.5, bw - 0.6))}" height="${
      px(
        bh,
      )
    }" data-count="${c}">
        <title>[${sci(lo)}, ${sci(lo + binWidth)}): ${c}</title>
      </rect>
    `;
  });
  const zero = h.low < 0 && h.high > 0 ? ((0 - h.low) / (h.high - h.low)) * width : -1;
  const zeroLine = zero >= 0
    ? markup`
      <line class="zero" x1="${px(zero)}" x2="${px(zero)}" y1="0" y2="${px(plotH)}" />
    `
    : raw("");
  const zeroLabel = zero > 40 && zero < width - 40
    ? markup`<text x="${px(zero)}" y="${height - 3}" text-anchor="middle">0</text>`
    : raw("");
  return markup`
    <svg class="hist" viewBox="0 0 ${width} ${height}" role="img"
      aria-label="Histogram">${bars}${zeroLine}<line class="axis" x1="0" x2="${width}" y1="${
    px(
      plotH,
    )
  }" y2="${px(plotH)}"/><text x="0" y="${height - 3}">${
    sci(
      h.low,
    )
  }</text>${zeroLabel}<text x="${width}" y="${height - 3}" text-anchor="end">${sci(h.high)}</text></svg>
  `;
}

/** SQNR bands: ~6 dB a bit, so 30 dB is about 5 good bits and 15 dB about 2.5. */
function qualityClass(sqnr: number): string {
  return sqnr >= 30 ? "good" : sqnr >= 15 ? "fair" : "poor";
}

function qualityWord(sqnr: number): string {
  if (sqnr === Infinity) return "identical";
  if (!Number.isFinite(sqnr)) return "";
  return sqnr >= 30 ? "close" : sqnr >= 15 ? "noticeable error" : "large error";
}

function comparisonSection(c: ReportComparison, maxTensors: number): Html {
  const worst = [...c.rows].sort((a, b) => ascending(a.sqnr, b.sqnr)).slice(0, maxTensors);
  const finite = c.rows.map((r) => r.sqnr).filter((x) => Number.isFinite(x));
  const scale = Math.max(10, Math.ceil(Math.max(0, ...finite) / 10) * 10);
  const bars = worst.map((r) => {
    const fraction = r.sqnr === Infinity ? 1 : Number.isFinite(r.sqnr) ? Math.max(0, r.sqnr) / scale : 0;
    return markup`
      <tr>
        <td class="name">${r.name}</td>
        <td>${conversion(r)}</td>
        <td class="bar">${barSvg(`sqnr-bar ${qualityClass(r.sqnr)}`, fraction, "currentColor", r.sqnr)}</td>
        <td class="num">${withDb(r.sqnr)}</td>
      </tr>
    `;
  });
  const restCount = c.rows.length - worst.length;
  const restLine = restCount > 0
    ? markup`
      <tr class="rest">
        <td class="name"
          colspan="4">${restCount} more tensor${
      restCount === 1 ? "" : "s"
    } with higher SQNR (all in the table below)</td>
      </tr>
    `
    : raw("");
  const row = (r: ReportErrorRow, cls = "") =>
    markup`
      <tr class="${cls}">
        <td class="name">${r.name}</td>
        <td>${conversion(r)}</td>
        <td class="num">${bitsText(r.bitsBefore)} → ${bitsText(r.bitsAfter)}</td>
        <td class="num">${formatBytes(r.bytesBefore)}</td>
        <td class="num">${formatBytes(r.bytesAfter)}</td>
        <td class="num">${sci(r.rmse)}</td>
        <td class="num">${sci(r.maxAbs)}</td>
        <td class="num ${qualityClass(r.sqnr)}">${decibels(r.sqnr)}</td>
        <td class="num">${cosineText(r.cosine)}</td>
      </tr>
    `;
  const notes: Html[] = [];
  const list = (label: string, names: string[]) =>
    names.length > 0
      ? notes.push(
        markup`<p class="note"><b>${label} (${names.length}):</b> ${names.slice(0, 50).join(", ")}${
          names.length > 50 ? ` and ${names.length - 50} more` : ""
        }</p>`,
      )
      : 0;
  list("Only in the reference", c.onlyInInput);
  list("Only in the compared file", c.onlyInAgainst);
  list("Not compared", c.skipped.map((s) => `${s.name} (${s.reason})`));
  list(
    "NaN or infinite values left out of the measures",
    c.rows.filter((r) => (r.nonFinite ?? 0) > 0).map((r) => `${r.name} (${formatCount(r.nonFinite ?? 0)})`),
  );
  return markup`<section class="comparison">
<h2>What quantization changed</h2>
<p class="lede">Signal-to-quantization-noise ratio per tensor, worst first: 20·log₁₀(‖x‖ / ‖x − y‖). Each 6 dB is about one bit of precision. <span class="key"><i class="good"></i>≥ 30 dB <i class="fair"></i>15–30 dB <i class="poor"></i>&lt; 15 dB</span></p>
<table class="errors">
<thead><tr><th>Tensor</th><th>Dtype</th><th class="barhead">SQNR <span class="unit">(bar: 0–${scale} dB)</span></th><th class="num">SQNR</th></tr></thead>
<tbody>${bars}${restLine}</tbody>
</table>
<h3>Bits, size and error</h3>
<table class="metrics">
<thead><tr><th>Tensor</th><th>Dtype</th><th class="num">Bits/weight</th><th class="num">Before</th><th class="num">After</th><th class="num">RMSE</th><th class="num">Max abs</th><th class="num">SQNR dB</th><th class="num">Cosine</th></tr></thead>
<tbody>${c.rows.map((r) => row(r))}</tbody>
<tfoot>${row(c.totals, "total")}</tfoot>
</table>
${notes}
</section>`;
}

function conversion(r: ReportErrorRow): string {
  return r.before || r.after ? `${r.before || "mixed"} → ${r.after || "mixed"}` : "";
}

function ascending(a: number, b: number): number {
  // NaN sorts first: an unmeasurable tensor deserves a look.
  const x = Number.isNaN(a) ? -Infinity : a;
  const y = Number.isNaN(b) ? -Infinity : b;
  return x === y ? 0 : x < y ? -1 : 1;
}

function tensorListSection(data: ReportData): Html {
  if (data.tensors.length === 0) return raw("");
  const rows = data.tensors.map((t) =>
    markup`
      <tr>
        <td class="name">${t.name}</td>
        <td>${t.dtype}</td>
        <td class="shape">${shapeText(t.shape)}</td>
        <td class="num">${formatBytes(t.bytes)}</td>
      </tr>
    `
  );
  return markup`
    <section class="all">
      <details>
        <summary>All ${data.tensors.length} tensors, in file order</summary>
        <table>
          <thead>
            <tr>
              <th>Tensor</th>
              <th>Dtype</th>
              <th>Shape</th>
              <th class="num">Size</th>
            </tr>
          </thead>
          <tbody>${rows}</tbody>
        </table>
      </details>
    </section>
  `;
}

const CSS = `
:root{--ink:#1c2230;--muted:#5d6677;--rule:#e2e5eb;--panel:#f5f6f8;--accent:#3b6fd8;--muted-bar:#b8bfcc;
--good:#2f8f5b;--fair:#c98800;--poor:#c63c3c}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;background:#fff;color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:36px 32px 56px}
h1{font-size:28px;line-height:1.2;margin:2px 0 2px;font-weight:650;letter-spacing:-.01em;overflow-wrap:anywhere}
h2{font-size:19px;margin:44px 0 6px;padding-bottom:6px;border-bottom:2px solid var(--ink);font-weight:650}
h3{font-size:15px;margin:28px 0 8px;font-weight:650}
.label{margin:0;font-size:11px;font-weight:600;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
.path{margin:0;color:var(--muted);font:12px/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
.lede{color:var(--muted);margin:0 0 14px;max-width:76ch}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:18px 0 14px}
.card{border:1px solid var(--rule);border-radius:8px;padding:9px 13px;background:var(--panel)}
.card .k{font-size:11px;letter-spacing:.06em;text-transform:uppercase;color:var(--muted)}
.card .v{font-size:19px;font-weight:620;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.card .n{font-size:12px;color:var(--muted)}
.against{margin-top:22px;padding-top:16px;border-top:1px solid var(--rule)}
.dtypes svg{display:block;width:100%;height:10px;border-radius:3px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin-top:6px;font-size:12px;color:var(--muted)}
.legend i,.key i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 5px -1px 0}
.key{white-space:nowrap;margin-left:6px}.key i{margin-left:10px}
.key i.good{background:var(--good)}.key i.fair{background:var(--fair)}.key i.poor{background:var(--poor)}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th .unit{text-transform:none}
th{text-align:left;font-size:11px;font-weight:600;letter-spacing:.05em;text-transform:uppercase;color:var(--muted);padding:4px 8px;border-bottom:1.5px solid var(--ink);white-space:nowrap}
td{padding:3px 8px;border-bottom:1px solid var(--rule);vertical-align:middle}
tr{break-inside:avoid}
.num{text-align:right;white-space:nowrap}
td.name{font:12px/1.35 ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere;max-width:380px}
td.shape{white-space:nowrap;color:var(--muted)}
.muted{color:var(--muted)}
td.bar,th.barhead{width:30%}
td.bar svg{display:block;width:100%;height:12px}
tr.rest td{color:var(--muted);font-style:italic}
tfoot td{border-top:1.5px solid var(--ink);border-bottom:none;font-weight:620}
table.metrics{font-size:13px}
td.good{color:var(--good)}td.fair{color:var(--fair)}td.poor{color:var(--poor)}
svg.good{color:var(--good)}svg.fair{color:var(--fair)}svg.poor{color:var(--poor)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:18px 22px;margin-top:18px}
figure{margin:0;break-inside:avoid}
figure.wide{margin-top:6px}
.fig-title{display:flex;flex-direction:column;margin-bottom:4px;font-size:12px}
.fig-title .name{font:12px/1.35 ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
svg.hist{display:block;width:100%;height:auto;overflow:visible}
svg.hist rect{fill:var(--accent)}
svg.hist .axis{stroke:var(--ink);stroke-width:1}
svg.hist .zero{stroke:var(--ink);stroke-width:1;stroke-dasharray:3 3;opacity:.55}
svg.hist text{font-size:10px;fill:var(--muted);font-family:system-ui,sans-serif}
figure.wide svg.hist text{font-size:12px}
figcaption{font-size:11.5px;color:var(--muted);margin-top:3px;font-variant-numeric:tabular-nums}
.note{font-size:12.5px;color:var(--muted);overflow-wrap:anywhere}
details{margin-top:40px}
summary{cursor:pointer;font-weight:600}
details table{margin-top:8px;font-size:13px}
footer{margin-top:40px;padding-top:10px;border-top:1px solid var(--rule);font-size:12px;color:var(--muted)}
@media print{
  main{max-width:none;padding:0}
  h2{break-after:avoid}
  section{break-inside:auto}
  .card{background:none}
}
`;
