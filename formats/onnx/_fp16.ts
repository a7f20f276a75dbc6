// float32 → float16, as onnxruntime's float16 converter does it
// (onnxruntime/transformers/float16.py, keep_io_types): float values,
// initializers, Constant tensors and subgraphs become float16; the graph's
// float inputs and outputs keep float32 behind Cast nodes; operators of the
// default block list run in float32 between casts; values are clamped to
// float16's range. Then casts that undo each other are removed.

import { elementCount } from "../../lib/dtype.ts";
import { toFloat16Clamped } from "./_quant_math.ts";
import type { RewriteReport } from "./_dynamic_quant.ts";
import { elementTypes, FLOAT, FLOAT16, floatValues, intAttribute, node } from "./_rewrite_util.ts";
import type { TreeGraph, TreeModel, TreeNode, TreeTensor } from "./_tree.ts";

/** Operators that stay float32 (onnxruntime's DEFAULT_OP_BLOCK_LIST). */
export const FP16_OP_BLOCK_LIST: readonly string[] = Object.freeze([
  "ArrayFeatureExtractor",
  "Binarizer",
  "CastMap",
  "CategoryMapper",
  "DictVectorizer",
  "FeatureVectorizer",
  "Imputer",
  "LabelEncoder",
  "LinearClassifier",
  "LinearRegressor",
  "Normalizer",
  "OneHotEncoder",
  "RandomUniformLike",
  "SVMClassifier",
  "SVMRegressor",
  "Scaler",
  "TreeEnsembleClassifier",
  "TreeEnsembleRegressor",
  "TreeEnsemble",
  "ZipMap",
  "NonMaxSuppression",
  "TopK",
  "RoiAlign",
  "Range",
  "CumSum",
  "Min",
  "Max",
  "Upsample",
]);

/** Inputs (by index) of operators that must stay float32 (scales of Resize, GroupNorm's gamma/beta). */
const ALWAYS_FLOAT_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Resize: [2],
  GroupNorm: [1, 2],
  SkipGroupNorm: [1, 2],
};

const DTYPE_OPS = new Set([
  "EyeLike",
  "Multinomial",
  "RandomNormal",
  "RandomNormalLike",
  "RandomUniform",
  "RandomUniformLike",
  "SequenceEmpty",
  "Bernoulli",
]);

/** A float32 tensor's float16 copy (values clamped), read when written. */
function toHalf(t: TreeTensor): TreeTensor {
  if (t.code !== FLOAT) return t;
  const source = t;
  return {
    ...t,
    code: FLOAT16,
    byteLength: elementCount(t.dims) * 2,
    sourceName: undefined,
    read: async () => new Uint8Array(toFloat16Clamped(await floatValues(source)).buffer),
  };
}

interface Tracker {
  graph: TreeGraph;
  index: number;
  fp16: boolean;
}

class Converter {
  readonly blockList: ReadonlySet<string>;
  readonly report: RewriteReport;
  /** Values whose type became float16 (they get casts around blocked nodes). */
  readonly halved = new Set<string>();
  readonly initializers = new Map<string, Tracker>();
  readonly blocked: { graph: TreeGraph; node: TreeNode }[] = [];
  readonly mixed: { graph: TreeGraph; node: TreeNode }[] = [];
  readonly skip = new Set<string>();
  readonly mapping = new Map<string, string>();
  readonly ioCasts = new Set<TreeNode>();

  constructor(blockList: readonly string[], report: RewriteReport) {
    this.blockList = new Set(blockList);
    this.report = report;
  }

  graph(g: TreeGraph, outerTypes: ReadonlyMap<string, number>): void {
    const types = elementTypes(g, outerTypes);
    g.initializers.forEach((t, index) => {
      if (t.code === FLOAT) this.initializers.set(t.name, { graph: g, index, fp16: false });
    });
    for (const n of g.nodes) {
      if (this.ioCasts.has(n)) continue;
      n.inputs = n.inputs.map((i) => this.mapping.get(i) ?? i);
      n.outputs = n.outputs.map((o) => this.mapping.get(o) ?? o);
      const isBlocked = this.blockList.has(n.opType);
      n.inputs.forEach((input, i) => {
        const tracker = this.initializers.get(input);
        if (tracker && !isBlocked && !(ALWAYS_FLOAT_INPUTS[n.opType] ?? []).includes(i)) tracker.fp16 = true;
      });
      if (isBlocked) {
        this.blocked.push({ graph: g, node: n });
        this.report.kept.push({ op: n.opType, name: n.name, reason: "runs in float32 (float16 block list)" });
      } else {
        if (n.opType === "Cast") {
          const to = n.attributes.find((a) => a.name === "to");
          if (to && to.i === BigInt(FLOAT)) to.i = BigInt(FLOAT16);
        }
        if (DTYPE_OPS.has(n.opType)) {
          const dtype = n.attributes.find((a) => a.name === "dtype");
          if (dtype?.i === BigInt(FLOAT)) dtype.i = BigInt(FLOAT16);
          else if (!dtype && ["RandomNormal", "RandomUniform", "SequenceEmpty"].includes(n.opType)) {
            n.attributes.push(intAttribute("dtype", FLOAT16));
          }
        }
        if (ALWAYS_FLOAT_INPUTS[n.opType]) this.mixed.push({ graph: g, node: n });
        else {
          for (const a of n.attributes) {
            if (a.t) a.t = toHalf(a.t);
            if (a.tensors) a.tensors = a.tensors.map(toHalf);
            for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) this.graph(sub, types);
          }
        }
      }
    }
    for (const [name, type] of types) {
      if (type === FLOAT && !this.skip.has(name) && !outerTypes.has(name)) this.halved.add(name);
    }
    for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) {
      if (v.elemType === FLOAT && !this.skip.has(v.name)) v.elemType = FLOAT16;
    }
  }

  /** Cast `input` of `n` (in `g`) to `to` just before it. */
  castInput(g: TreeGraph, n: TreeNode, i: number, to: number): void {
    const input = n.inputs[i];
    const out = `${input}_cast_to_fp32`;
    if (!g.nodes.some((x) => x.outputs[0] === out)) {
      g.nodes.splice(
        g.nodes.indexOf(n),
        0,
        node("Cast", [input], [out], `${input}_cast_to_fp32_node`, [intAttribute("to", to)]),
      );
    }
    n.inputs[i] = out;
  }

  finish(): void {
    for (const [name, t] of this.initializers) {
      if (!t.fp16) {
        this.halved.delete(name);
        continue;
      }
      t.graph.initializers[t.index] = toHalf(t.graph.initializers[t.index]);
    }
    for (const { graph, node: n } of this.mixed) {
      for (const i of ALWAYS_FLOAT_INPUTS[n.opType]) {
        if (i < n.inputs.length && this.halved.has(n.inputs[i])) this.castInput(graph, n, i, FLOAT);
      }
    }
    for (const { graph, node: n } of this.blocked) {
      n.inputs.forEach((input, i) => {
        if (this.halved.has(input)) this.castInput(graph, n, i, FLOAT);
      });
      n.outputs.forEach((output, i) => {
        if (!this.halved.has(output)) return;
        const renamed = `${output}_cast_to_fp16`;
        n.outputs[i] = renamed;
        graph.nodes.splice(
          graph.nodes.indexOf(n) + 1,
          0,
          node("Cast", [renamed], [output], `${output}_cast_to_fp16_node`, [intAttribute("to", FLOAT16)]),
        );
      });
    }
  }
}

/**
 * Remove the casts that undo each other: a float32 value cast to float16 and straight back to float32
 * (between two block-listed nodes) is read as the float32 value itself, and a float16 value cast to
 * float32 and back likewise. The first cast goes too when nothing else reads it. Returns the casts removed.
 */
function removeCastPairs(g: TreeGraph, types: Map<string, number>): number {
  let removed = 0;
  const outputs = new Set(g.outputs.map((o) => o.name));
  const to = (n: TreeNode) => Number(n.attributes.find((a) => a.name === "to")?.i ?? -1);
  for (;;) {
    const producer = new Map<string, TreeNode>();
    for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
    const origin = (n: TreeNode) =>
      types.get(n.inputs[0]) ?? (producer.get(n.inputs[0])?.opType === "Cast" ? -1 : -2);
    const second = g.nodes.find((n) => {
      if (n.opType !== "Cast" || outputs.has(n.outputs[0])) return false;
      const first = producer.get(n.inputs[0]);
      if (first?.opType !== "Cast") return false;
      const pair = [to(first), to(n)];
      return ((pair[0] === FLOAT16 && pair[1] === FLOAT) || (pair[0] === FLOAT && pair[1] === FLOAT16)) &&
        origin(first) === pair[1];
    });
    if (!second) return removed;
    const first = producer.get(second.inputs[0])!;
    const rename = (name: string) => (name === second.outputs[0] ? first.inputs[0] : name);
    g.nodes = g.nodes.filter((n) => n !== second);
    for (const n of g.nodes) n.inputs = n.inputs.map(rename);
    removed++;
    if (!outputs.has(first.outputs[0]) && !g.nodes.some((n) => n.inputs.includes(first.outputs[0]))) {
      g.nodes = g.nodes.filter((n) => n !== first);
      removed++;
    }
  }
}

/** Convert `model` in place; its float32 inputs and outputs stay float32. */
export function convertToFloat16(
  model: TreeModel,
  blockList: readonly string[] = FP16_OP_BLOCK_LIST,
): RewriteReport {
  const report: RewriteReport = { quantized: [], kept: [] };
  const c = new Converter(blockList, report);
  const g = model.graph;
  const inputCasts: TreeNode[] = [];
  const outputCasts: TreeNode[] = [];
  g.inputs.forEach((v, i) => {
    if (v.elemType !== FLOAT || g.initializers.some((t) => t.name === v.name)) return;
    const name = `graph_input_cast_${i}`;
    c.mapping.set(v.name, name);
    c.skip.add(v.name);
    inputCasts.push(node("Cast", [v.name], [name], `graph_input_cast${i}`, [intAttribute("to", FLOAT16)]));
  });
  g.outputs.forEach((v, i) => {
    if (v.elemType !== FLOAT) return;
    const name = `graph_output_cast_${i}`;
    c.mapping.set(v.name, name);
    c.skip.add(v.name);
    outputCasts.push(node("Cast", [name], [v.name], `graph_output_cast${i}`, [intAttribute("to", FLOAT)]));
  });
  for (const n of [...inputCasts, ...outputCasts]) c.ioCasts.add(n);
  g.nodes = [...inputCasts, ...g.nodes, ...outputCasts];
  const declared = new Map<string, number>();
  for (const n of inputCasts) declared.set(n.outputs[0], FLOAT16);
  for (const n of outputCasts) declared.set(n.inputs[0], FLOAT);
  c.graph(g, new Map());
  for (const n of inputCasts) c.halved.add(n.outputs[0]);
  for (const n of outputCasts) c.halved.add(n.inputs[0]);
  c.finish();
  const types = elementTypes(g);
  for (const [name, t] of declared) if (t === FLOAT16) types.set(name, t);
  const removed = removeCastPairs(g, types);
  if (removed > 0) report.quantized.push(`removed ${removed} redundant Cast nodes`);
  report.quantized.unshift(`${c.halved.size} float values to float16`);
  return report;
}
