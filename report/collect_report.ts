/**
 * The data of a `ckpt report` page, gathered from tensor files.
 *
 * @module
 */

import { canCast, castBytes } from "../lib/cast.ts";
import { elementCount, isFloatDType } from "../lib/dtype.ts";
import { dequantizeEntry, ggmlTypeByName } from "../lib/ggml_blocks.ts";
import { Histogram, type ValueRange, valueRange } from "../lib/histogram.ts";
import { MetricsAccumulator } from "../lib/metrics.ts";
import { pipe } from "../lib/pipeline.ts";
import { dequantize, QUANTIZATION_METADATA_KEY } from "../lib/quant/mod.ts";
import { collectTensors, type TensorEntry, type TensorFile } from "../lib/tensor.ts";
import { VERSION } from "../lib/version.ts";
import type {
  ReportComparison,
  ReportData,
  ReportErrorRow,
  ReportFile,
  ReportTensorHistogram,
} from "./render_report_html.ts";

/** Ties in size go in natural name order: layers.2 before layers.10. */
const NATURAL = new Intl.Collator("en", { numeric: true });
/** Default tensors with a histogram of their own. */
export const DEFAULT_MAX_TENSORS = 16;
/** Default histogram bins. */
export const DEFAULT_BINS = 64;

function sumBytes(tensors: readonly TensorEntry[]): number {
  return tensors.reduce((s, t) => s + t.byteLength, 0);
}

/** Reusable buffers: one tensor's bytes and its values as float32. */
class Reader {
  #bytes = new Uint8Array(0);
  #values = new Float32Array(0);

  /** True when the entry's values can be read as float32. */
  static readable(entry: TensorEntry): boolean {
    if (entry.encoding !== undefined) return ggmlTypeByName(entry.encoding)?.dequantize !== undefined;
    return isFloatDType(entry.dtype) && canCast(entry.dtype, "F32");
  }

  async values(stored: TensorEntry): Promise<Float32Array> {
    // Block-encoded entries (GGUF's quantized tensors) decode to F32 on read.
    const entry = dequantizeEntry(stored);
    const count = elementCount(entry.shape);
    if (this.#bytes.length < entry.byteLength) this.#bytes = new Uint8Array(entry.byteLength);
    const bytes = await entry.read(this.#bytes.subarray(0, entry.byteLength));
    if (entry.dtype === "F32" && bytes.byteOffset % 4 === 0) {
      return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    }
    if (this.#values.length < count) this.#values = new Float32Array(count);
    const out = this.#values.subarray(0, count);
    castBytes(bytes, entry.dtype, "F32", count, {
      out: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
    });
    return out;
  }
}

/** A file for the header; parameters count the logical tensors (companions are not weights). */
function describe(path: string, file: TensorFile, logical: readonly TensorEntry[]): ReportFile {
  return {
    path,
    format: file.format,
    bytes: file.fileBytes ?? sumBytes(file.tensors),
    parameters: logical.reduce((s, t) => s + elementCount(t.shape), 0),
    tensorCount: file.tensors.length,
  };
}

/** Options for {@linkcode collectReport}. */
export interface CollectReportOptions {
  /** How the input is named in the report (its path). @default "input" */
  inputName?: string;
  /** How the compared file is named. @default "compared" */
  againstName?: string;
  /** Histogram bins. @default 64 */
  bins?: number;
  /** Tensors that get their own histogram (the largest). @default 16 */
  maxTensors?: number;
  /** Called with the bytes of each tensor read (twice per tensor of the input, once per compared one). @default none */
  onProgress?: (bytes: number) => void;
}

/**
 * Gather a report's data from a tensor file, one tensor at a time in two
 * passes: where the bytes are, the model's and the largest tensors' value
 * histograms and, against a quantized (or otherwise changed) copy, every
 * tensor's error. Render it with {@linkcode renderReportHtml}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectReport } from "./collect_report.ts";
 * import { tensorFile, tensorFromBytes } from "../lib/tensor.ts";
 * const w = new Float32Array(64).map((_, i) => Math.sin(i));
 * const file = tensorFile({ format: "memory", metadata: {}, tensors: [tensorFromBytes("w", "F32", [64], new Uint8Array(w.buffer))] });
 * const data = await collectReport(file, undefined, { bins: 8 });
 * assert.equal(data.input.parameters, 64);
 * assert.equal(data.histograms[0].name, "w");
 * ```
 */
export async function collectReport(
  input: TensorFile,
  against: TensorFile | undefined,
  options: CollectReportOptions = {},
): Promise<ReportData> {
  const bins = options.bins ?? DEFAULT_BINS;
  const maxTensors = options.maxTensors ?? DEFAULT_MAX_TENSORS;
  const progress = { advance: options.onProgress ?? (() => {}) };
  const reader = new Reader();
  // Values come from the logical tensors (a quantized input is dequantized);
  // sizes from what is stored.
  const view = await logicalView(input);
  const floats = view.tensors.filter(Reader.readable);
  // Pass 1: the whole model's range, so its histogram has fixed bins.
  const range: ValueRange = { min: Infinity, max: -Infinity };
  for (const entry of floats) {
    valueRange(await reader.values(entry), range);
    progress.advance(view.stored(entry).bytes);
  }
  const model = new Histogram(range.min, range.max, bins);
  const largestFirst = [...floats]
    .sort((a, b) => view.stored(b).bytes - view.stored(a).bytes || NATURAL.compare(a.name, b.name))
    .slice(0, maxTensors);
  const largest = new Set(largestFirst);
  const histograms = new Map<TensorEntry, ReportTensorHistogram>();
  const comparer = against ? new Comparer(await logicalView(against)) : undefined;
  // Pass 2: histograms, and the error against the compared file.
  for (const entry of view.tensors) {
    const stored = view.stored(entry);
    if (Reader.readable(entry)) {
      const values = await reader.values(entry);
      model.add(values);
      if (largest.has(entry)) {
        histograms.set(entry, {
          name: entry.name,
          dtype: stored.label,
          shape: entry.shape,
          histogram: Histogram.of(values, bins),
        });
      }
      await comparer?.compare(entry, stored, values, progress);
    } else {
      comparer?.skip(entry, stored);
    }
    progress.advance(stored.bytes);
  }
  return {
    input: describe(options.inputName ?? "input", input, view.tensors),
    tensors: input.tensors.map((t) => ({
      name: t.name,
      dtype: t.encoding ?? t.dtype,
      shape: t.shape,
      bytes: t.byteLength,
    })),
    // Largest first, as the size bars.
    histograms: largestFirst.map((entry) => histograms.get(entry)!),
    modelHistogram: floats.length > 0 ? model.toJSON() : undefined,
    comparison: comparer && against
      ? comparer.result(describe(options.againstName ?? "compared", against, comparer.tensors), view.tensors)
      : undefined,
    generator: `ckpt ${VERSION}`,
    createdAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
}

/** How a file stores a tensor: its dtype or scheme and its bytes, companions included. */
interface StoredAs {
  /** Dtype or scheme, e.g. `F16`, `Q4_0`, `int8 per channel`. */
  label: string;
  /** Bytes on disk. */
  bytes: number;
}

/** A file's tensors as they mean (dequantized), with how each is stored. */
interface LogicalView {
  /** The tensors after `dequantize()`: companions folded in, ggml blocks decoded. */
  tensors: TensorEntry[];
  /** How one of `tensors` is stored in the file. */
  stored(entry: TensorEntry): StoredAs;
}

/**
 * A file's tensors as `dequantize()` rebuilds them: recorded code tensors
 * with their companions (`.scale`, …) become one float tensor, ggml blocks
 * are decoded. Plain files pass through unchanged.
 */
async function logicalView(file: TensorFile): Promise<LogicalView> {
  const tensors = await collectTensors(pipe(file, dequantize()));
  const kept = new Set(tensors.map((t) => t.name));
  const raw = new Map(file.tensors.map((t) => [t.name, t]));
  const records = quantRecords(file.metadata);
  // Companions are the stored tensors dequantize() folded into another; each
  // belongs to the longest recorded name it extends (`w.absmax_scale` → `w`).
  const companionBytes = new Map<string, number>();
  for (const t of file.tensors) {
    if (kept.has(t.name)) continue;
    for (let cut = t.name.lastIndexOf("."); cut > 0; cut = t.name.lastIndexOf(".", cut - 1)) {
      const owner = t.name.slice(0, cut);
      if (Object.hasOwn(records, owner)) {
        companionBytes.set(owner, (companionBytes.get(owner) ?? 0) + t.byteLength);
        break;
      }
    }
  }
  return {
    tensors,
    stored(entry: TensorEntry): StoredAs {
      const stored = raw.get(entry.name);
      const record = Object.hasOwn(records, entry.name) ? records[entry.name] : undefined;
      const label = record
        ? `${record.scheme}${record.perChannel ? " per channel" : ""}`
        : stored?.encoding ?? stored?.dtype ?? entry.dtype;
      return {
        label,
        bytes: (stored?.byteLength ?? entry.byteLength) + (companionBytes.get(entry.name) ?? 0),
      };
    },
  };
}

/** Scheme records of a quantized file (already validated by `dequantize()`). */
function quantRecords(
  metadata: Record<string, string>,
): Record<string, { scheme: string; perChannel?: boolean }> {
  const text = metadata[QUANTIZATION_METADATA_KEY];
  if (text === undefined) return {};
  const parsed = JSON.parse(text);
  return typeof parsed === "object" && parsed !== null ? parsed : {};
}

/** Matches the compared file's tensors by name and measures each pair. */
class Comparer {
  #byName = new Map<string, TensorEntry>();
  #view: LogicalView;
  #reader = new Reader();
  #rows: ReportErrorRow[] = [];
  #skipped: { name: string; reason: string }[] = [];
  #totals = new MetricsAccumulator();
  #elements = 0;
  #bytesBefore = 0;
  #bytesAfter = 0;

  /** The compared file's logical tensors. */
  get tensors(): TensorEntry[] {
    return this.#view.tensors;
  }

  constructor(view: LogicalView) {
    for (const entry of view.tensors) this.#byName.set(entry.name, entry);
    this.#view = view;
  }

  skip(entry: TensorEntry, before: StoredAs): void {
    if (!this.#byName.has(entry.name)) return;
    this.#skipped.push({ name: entry.name, reason: `${before.label} values are not compared` });
  }

  async compare(
    entry: TensorEntry,
    before: StoredAs,
    x: Float32Array,
    progress: { advance(bytes: number): void },
  ): Promise<void> {
    const other = this.#byName.get(entry.name);
    if (!other) return;
    const stored = this.#view.stored(other);
    if (!Reader.readable(other)) {
      this.#skipped.push({
        name: entry.name,
        reason: `${stored.label} in the compared file cannot be read as numbers`,
      });
      return;
    }
    if (elementCount(other.shape) !== x.length) {
      this.#skipped.push({
        name: entry.name,
        reason: `shapes differ: [${entry.shape.join(", ")}] vs [${other.shape.join(", ")}]`,
      });
      return;
    }
    const y = await this.#reader.values(other);
    progress.advance(stored.bytes);
    const metrics = new MetricsAccumulator();
    metrics.add(x, y);
    this.#totals.add(x, y);
    this.#elements += x.length;
    this.#bytesBefore += before.bytes;
    this.#bytesAfter += stored.bytes;
    this.#rows.push(
      row(entry.name, x.length, before.label, stored.label, before.bytes, stored.bytes, metrics),
    );
  }

  result(file: ReportFile, input: readonly TensorEntry[]): ReportComparison {
    const inputNames = new Set(input.map((t) => t.name));
    const only = (values: string[]) => (new Set(values).size === 1 ? values[0] : "mixed");
    const totals = row(
      `All ${this.#rows.length} compared tensors`,
      this.#elements,
      only(this.#rows.map((r) => r.before)),
      only(this.#rows.map((r) => r.after)),
      this.#bytesBefore,
      this.#bytesAfter,
      this.#totals,
    );
    return {
      file,
      rows: this.#rows,
      totals,
      onlyInInput: input.map((t) => t.name).filter((n) => !this.#byName.has(n)),
      onlyInAgainst: [...this.#byName.keys()].filter((n) => !inputNames.has(n)),
      skipped: this.#skipped,
    };
  }
}

function row(
  name: string,
  elements: number,
  before: string,
  after: string,
  bytesBefore: number,
  bytesAfter: number,
  accumulator: MetricsAccumulator,
): ReportErrorRow {
  const m = accumulator.result();
  return {
    name,
    elements,
    before,
    after,
    bitsBefore: elements > 0 ? (bytesBefore * 8) / elements : NaN,
    bitsAfter: elements > 0 ? (bytesAfter * 8) / elements : NaN,
    bytesBefore,
    bytesAfter,
    rmse: m.rmse,
    maxAbs: m.maxAbsError,
    sqnr: m.sqnrDb,
    cosine: m.cosine,
    nonFinite: m.nonFinite,
  };
}
