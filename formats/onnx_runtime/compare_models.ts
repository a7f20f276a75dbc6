/**
 * Run two ONNX models on the same inputs with onnxruntime-node and measure
 * how far their outputs differ: top-1 agreement, absolute differences of the
 * outputs and the largest change of a softmax probability.
 *
 * @module
 */

import { fileSource } from "../../lib/byte_source.ts";
import { byteLengthOf, type DType, elementCount } from "../../lib/dtype.ts";
import { UsageError } from "../../lib/errors.ts";
import { type OnnxGraph, readOnnxGraph } from "../onnx/graph.ts";
import {
  loadOrt,
  makeInput,
  ORT_TYPES,
  type OrtModule,
  type OrtSession,
  type OrtTensor,
  outputValues,
  runtimeCall,
  seededRandom,
} from "./_runtime.ts";

/** An input array to feed, e.g. read from an `.npz` file. */
export interface OnnxInputArray {
  /** Element type. */
  readonly dtype: DType;
  /** Shape; the first dimension may hold several samples. */
  readonly shape: readonly number[];
  /** Little-endian, row-major bytes. */
  readonly data: Uint8Array;
}

/** Options for {@linkcode compareOnnxModels}. */
export interface CompareOnnxOptions {
  /**
   * Inputs by input name (a single array may have any name when the model has
   * one input). When the model's first dimension is fixed and smaller than
   * the arrays', they are fed in slices of that size.
   * @default random inputs
   */
  inputs?: Record<string, OnnxInputArray>;
  /** Number of random samples when `inputs` is not given. @default 100 */
  random?: number;
  /** Seed for the random samples. @default 0 */
  seed?: number;
  /** Name of the output to compare (logits). @default the first output */
  output?: string;
}

/** What {@linkcode compareOnnxModels} measured; the keys are what `ckpt compare --json` prints. */
export interface OnnxComparison {
  /** Fraction of samples (rows of the output) whose arg-max is the same, 0–1. */
  readonly top1Agreement: number;
  /** Mean absolute difference over every output element. */
  readonly meanAbsDiff: number;
  /** Largest absolute difference of an output element. */
  readonly maxAbsDiff: number;
  /** Largest change of a class probability, after a softmax over the last axis. */
  readonly maxProbDelta: number;
  /** Cosine similarity of the two outputs, all samples together as one vector (1 when both are zero). */
  readonly cosine: number;
  /** Number of samples compared (rows of the output). */
  readonly inputs: number;
}

function softmax(row: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < row.length; i++) out[i] /= sum;
  return out;
}

function argmax(row: Float64Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

class Tally {
  rows = 0;
  agree = 0;
  elements = 0;
  absSum = 0;
  maxAbs = 0;
  maxProb = 0;
  dot = 0;
  normA = 0;
  normB = 0;

  add(a: OrtTensor, b: OrtTensor, name: string): void {
    if (a.dims.length !== b.dims.length || a.dims.some((d: number, i: number) => d !== b.dims[i])) {
      throw new UsageError(
        `Output '${name}' has shape [${a.dims.join(", ")}] in the first model and [${
          b.dims.join(", ")
        }] in the second`,
      );
    }
    const x = outputValues(a);
    const y = outputValues(b);
    const classes = a.dims.length === 0 ? 1 : Number(a.dims[a.dims.length - 1]);
    if (classes === 0) return;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      // NaN in one output and not the other is the largest difference there is.
      const diff = Number.isNaN(d) ? (Number.isNaN(x[i]) && Number.isNaN(y[i]) ? 0 : Infinity) : d;
      this.absSum += diff;
      if (Number.isFinite(x[i]) && Number.isFinite(y[i])) {
        this.dot += x[i] * y[i];
        this.normA += x[i] * x[i];
        this.normB += y[i] * y[i];
      }
      if (diff > this.maxAbs) this.maxAbs = diff;
    }
    this.elements += x.length;
    for (let r = 0; r * classes < x.length; r++) {
      const rx = x.subarray(r * classes, (r + 1) * classes);
      const ry = y.subarray(r * classes, (r + 1) * classes);
      if (argmax(rx) === argmax(ry)) this.agree++;
      const px = softmax(rx);
      const py = softmax(ry);
      for (let i = 0; i < classes; i++) {
        const d = Math.abs(px[i] - py[i]);
        if (d > this.maxProb || Number.isNaN(d)) this.maxProb = Number.isNaN(d) ? 1 : d;
      }
      this.rows++;
    }
  }

  result(): OnnxComparison {
    return {
      top1Agreement: this.rows ? this.agree / this.rows : 1,
      meanAbsDiff: this.elements ? this.absSum / this.elements : 0,
      maxAbsDiff: this.maxAbs,
      maxProbDelta: this.maxProb,
      cosine: this.normA === 0 && this.normB === 0
        ? 1
        : this.normA === 0 || this.normB === 0
        ? 0
        : this.dot / Math.sqrt(this.normA * this.normB),
      inputs: this.rows,
    };
  }
}

async function graphOf(path: string): Promise<OnnxGraph> {
  const source = await fileSource(path);
  try {
    return await readOnnxGraph(source);
  } finally {
    await source.close();
  }
}

function arrayTensor(
  ort: OrtModule,
  name: string,
  array: OnnxInputArray,
  start: number,
  rows: number,
): OrtTensor {
  const type = ORT_TYPES[array.dtype];
  if (!type) {
    throw new UsageError(`Cannot feed input '${name}': onnxruntime does not take ${array.dtype} inputs`);
  }
  const shape = array.shape.length === 0 ? [] : [rows, ...array.shape.slice(1)];
  const rowBytes = array.shape.length === 0
    ? array.data.length
    : byteLengthOf(array.dtype, array.shape.slice(1));
  const bytes = array.data.slice(start * rowBytes, start * rowBytes + rows * rowBytes);
  const buffer = bytes.buffer;
  const count = elementCount(shape);
  switch (type) {
    case "float32":
      return new ort.Tensor(type, new Float32Array(buffer, 0, count), shape);
    case "float64":
      return new ort.Tensor(type, new Float64Array(buffer, 0, count), shape);
    case "float16":
    case "uint16":
      return new ort.Tensor(type, new Uint16Array(buffer, 0, count), shape);
    case "int16":
      return new ort.Tensor(type, new Int16Array(buffer, 0, count), shape);
    case "int32":
      return new ort.Tensor(type, new Int32Array(buffer, 0, count), shape);
    case "uint32":
      return new ort.Tensor(type, new Uint32Array(buffer, 0, count), shape);
    case "int64":
      return new ort.Tensor(type, new BigInt64Array(buffer, 0, count), shape);
    case "uint64":
      return new ort.Tensor(type, new BigUint64Array(buffer, 0, count), shape);
    case "int8":
      return new ort.Tensor(type, new Int8Array(buffer, 0, count), shape);
    default:
      return new ort.Tensor(type as "uint8", new Uint8Array(buffer, 0, count), shape);
  }
}

/** Batches of feeds: slices of the given arrays, or seeded random samples. */
function* feedsFor(
  ort: OrtModule,
  graph: OnnxGraph,
  options: CompareOnnxOptions,
): Generator<Record<string, OrtTensor>> {
  if (options.inputs) {
    const given = { ...options.inputs };
    const keys = Object.keys(given);
    if (graph.inputs.length === 1 && keys.length === 1 && keys[0] !== graph.inputs[0].name) {
      given[graph.inputs[0].name] = given[keys[0]];
      delete given[keys[0]];
    }
    for (const v of graph.inputs) {
      if (!given[v.name]) {
        throw new UsageError(
          `No array for model input '${v.name}'; arrays given: ${keys.join(", ") || "none"}`,
        );
      }
    }
    const first = graph.inputs[0];
    const total = given[first.name].shape[0] ?? 1;
    const fixed = first.dims && typeof first.dims[0] === "number" ? first.dims[0] as number : undefined;
    const step = fixed !== undefined && fixed > 0 && fixed < total && total % fixed === 0 ? fixed : total;
    for (let start = 0; start < total; start += step) {
      const feeds: Record<string, OrtTensor> = {};
      for (const v of graph.inputs) {
        const array = given[v.name];
        if (array.data.length !== byteLengthOf(array.dtype, array.shape)) {
          throw new UsageError(
            `Array for input '${v.name}' has ${array.data.length} bytes for shape [${array.shape}]`,
          );
        }
        if ((array.shape[0] ?? 1) !== total) {
          throw new UsageError(`Arrays for the model's inputs disagree on the number of samples`);
        }
        feeds[v.name] = arrayTensor(ort, v.name, array, start, step);
      }
      yield feeds;
    }
    return;
  }
  const samples = options.random ?? 100;
  if (!Number.isSafeInteger(samples) || samples < 1) {
    throw new UsageError(`The number of random samples must be a positive integer, got ${samples}`);
  }
  const random = seededRandom(options.seed ?? 0);
  for (let s = 0; s < samples; s++) {
    const feeds: Record<string, OrtTensor> = {};
    for (const v of graph.inputs) {
      if (!v.dtype) throw new UsageError(`Input '${v.name}' has no tensor type ckpt can feed`);
      // Symbolic dimensions (batch, sequence) are measured at 1.
      const shape = (v.dims ?? []).map((d) => (typeof d === "number" ? d : 1));
      feeds[v.name] = makeInput(ort, v.name, v.dtype, shape, random);
    }
    yield feeds;
  }
}

/**
 * Run models `a` and `b` (paths) on the same inputs and compare one output
 * (by default the first, taken as logits over its last axis). Needs
 * `--allow-read --allow-ffi --allow-env`.
 *
 * @example
 * ```ts ignore
 * import { compareOnnxModels } from "./compare_models.ts";
 * const r = await compareOnnxModels("model.onnx", "model-int8.onnx", { random: 100, seed: 1 });
 * console.log(`top-1 agreement ${(r.top1Agreement * 100).toFixed(1)}%`);
 * ```
 */
export async function compareOnnxModels(
  a: string,
  b: string,
  options: CompareOnnxOptions = {},
): Promise<OnnxComparison> {
  const [graphA, graphB] = await Promise.all([graphOf(a), graphOf(b)]);
  const namesA = graphA.inputs.map((v) => v.name).join(", ");
  const namesB = graphB.inputs.map((v) => v.name).join(", ");
  if (namesA !== namesB) {
    throw new UsageError(`The models take different inputs: ${namesA || "none"} and ${namesB || "none"}`);
  }
  const output = options.output ?? graphA.outputs[0]?.name;
  if (output === undefined) throw new UsageError(`Model ${a} has no outputs`);
  for (const [path, graph] of [[a, graphA], [b, graphB]] as const) {
    if (!graph.outputs.some((o) => o.name === output)) {
      throw new UsageError(`Model ${path} has no output '${output}'`);
    }
  }
  const ort = await loadOrt();
  const sessions: OrtSession[] = [];
  try {
    for (const path of [a, b]) {
      sessions.push(await runtimeCall("load", () => ort.InferenceSession.create(path)));
    }
    const tally = new Tally();
    for (const feeds of feedsFor(ort, graphA, options)) {
      const ra: Record<string, OrtTensor> = await runtimeCall("run", () => sessions[0].run(feeds, [output]));
      const rb: Record<string, OrtTensor> = await runtimeCall("run", () => sessions[1].run(feeds, [output]));
      tally.add(ra[output], rb[output], output);
    }
    return tally.result();
  } finally {
    for (const s of sessions) await s.release();
  }
}
