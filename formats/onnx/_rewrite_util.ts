// Small pieces every graph rewrite uses: node and attribute builders, value
// type inference good enough to tell float values from others, tensor values
// as float32, and removing initializers no node uses any more.

import { castBytes } from "../../lib/cast.ts";
import { elementCount } from "../../lib/dtype.ts";
import { ATTRIBUTE_TYPE } from "./_schema.ts";
import { dtypeOf, type TreeAttribute, type TreeGraph, type TreeNode, type TreeTensor } from "./_tree.ts";

export const FLOAT = 1;
export const UINT8 = 2;
export const INT8 = 3;
export const INT32 = 6;
export const INT64 = 7;
export const BOOL = 9;
export const FLOAT16 = 10;

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: TreeAttribute[] = [],
  domain = "",
): TreeNode {
  return { opType, inputs, outputs, name, attributes, domain, rest: [] };
}

export function intAttribute(name: string, value: number | bigint): TreeAttribute {
  return { name, type: ATTRIBUTE_TYPE.INT, i: BigInt(value), rest: [] };
}

export function intsAttribute(name: string, values: readonly (number | bigint)[]): TreeAttribute {
  return { name, type: ATTRIBUTE_TYPE.INTS, ints: values.map((v) => BigInt(v)), rest: [] };
}

/** A tensor's values as float32 (from float32, float16 or bfloat16). */
export async function floatValues(t: TreeTensor): Promise<Float32Array> {
  const bytes = await t.read();
  const dtype = dtypeOf(t.code)!;
  const count = elementCount(t.dims);
  if (dtype === "F32" && bytes.byteOffset % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  }
  const f32 = dtype === "F32" ? bytes.slice() : castBytes(bytes, dtype, "F32", count);
  return new Float32Array(f32.buffer, f32.byteOffset, count);
}

const BOOL_OPS = new Set([
  "Equal",
  "Less",
  "Greater",
  "LessOrEqual",
  "GreaterOrEqual",
  "Not",
  "And",
  "Or",
  "Xor",
  "IsNaN",
  "IsInf",
]);
const INT64_OPS = new Set(["Shape", "Size", "NonZero", "ArgMax", "ArgMin", "NonMaxSuppression"]);

/**
 * Element types of the values of `graph` (and, through `outer`, of the graphs
 * around it): declared ones first, then a forward pass with the rules of the
 * common operators. Values it cannot tell are absent.
 */
export function elementTypes(graph: TreeGraph, outer?: ReadonlyMap<string, number>): Map<string, number> {
  const types = new Map<string, number>(outer ?? []);
  for (const t of graph.initializers) types.set(t.name, t.code);
  for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) {
    if (v.elemType) types.set(v.name, v.elemType);
  }
  for (const n of graph.nodes) {
    const first = n.inputs.map((i) => types.get(i)).find((t) => t !== undefined);
    n.outputs.forEach((o, k) => {
      if (o === "" || types.has(o)) return;
      let t: number | undefined;
      const attr = (name: string) => n.attributes.find((a) => a.name === name);
      if (n.domain !== "" && n.domain !== "ai.onnx" && n.domain !== "com.microsoft") t = undefined;
      else if (n.opType === "Cast") t = attr("to")?.i === undefined ? undefined : Number(attr("to")!.i);
      else if (n.opType === "CastLike") t = types.get(n.inputs[1]);
      else if (n.opType === "Constant") {
        const a = n.attributes[0];
        t = a?.t
          ? a.t.code
          : a?.name.startsWith("value_float")
          ? FLOAT
          : a?.name.startsWith("value_int")
          ? INT64
          : undefined;
      } else if (n.opType === "ConstantOfShape") t = attr("value")?.t?.code ?? FLOAT;
      else if (BOOL_OPS.has(n.opType)) t = BOOL;
      else if (INT64_OPS.has(n.opType) || (n.opType === "TopK" && k === 1)) t = INT64;
      else if (n.opType === "Where") t = types.get(n.inputs[1]) ?? types.get(n.inputs[2]);
      else if (n.opType === "DynamicQuantizeLinear") t = k === 1 ? FLOAT : UINT8;
      else if (n.opType === "MatMulInteger" || n.opType === "ConvInteger") t = INT32;
      else if (n.opType === "DequantizeLinear") t = types.get(n.inputs[1]);
      else if (n.opType === "QuantizeLinear") t = types.get(n.inputs[2]) ?? UINT8;
      else if (n.opType === "If" || n.opType === "Loop" || n.opType === "Scan") {
        const body = n.attributes.find((a) => a.g)?.g;
        const out = body?.outputs[n.opType === "Loop" ? k + 1 : k];
        t = out?.elemType || undefined;
      } else t = first;
      if (t !== undefined) types.set(o, t);
    });
  }
  return types;
}

/** Names every node of `graph` (and of its subgraphs) reads, with the graph's outputs. */
export function usedNames(graph: TreeGraph, into: Set<string> = new Set()): Set<string> {
  for (const n of graph.nodes) {
    for (const i of n.inputs) into.add(i);
    for (const a of n.attributes) {
      for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) usedNames(g, into);
    }
  }
  for (const o of graph.outputs) into.add(o.name);
  return into;
}

/** Drop initializers (and their graph-input entries) that nothing reads any more. */
export function dropUnused(graph: TreeGraph): void {
  const used = usedNames(graph);
  const dropped = new Set(graph.initializers.filter((t) => !used.has(t.name)).map((t) => t.name));
  graph.initializers = graph.initializers.filter((t) => !dropped.has(t.name));
  graph.inputs = graph.inputs.filter((v) => !dropped.has(v.name));
}

/** Every graph of the model: the main one and the bodies of If/Loop/Scan nodes, recursively. */
export function* subgraphs(graph: TreeGraph): Generator<TreeGraph> {
  for (const n of graph.nodes) {
    for (const a of n.attributes) {
      for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
        yield g;
        yield* subgraphs(g);
      }
    }
  }
}

/** Set (or add) an opset import. */
export function ensureOpset(
  opsets: { domain: string; version: number }[],
  domain: string,
  version: number,
): void {
  const found = opsets.find((o) => o.domain === domain || (domain === "" && o.domain === "ai.onnx"));
  if (!found) opsets.push({ domain, version });
  else if (found.version < version) found.version = version;
}
