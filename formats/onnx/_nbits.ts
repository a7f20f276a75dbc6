// 4-bit weights as onnxruntime's MatMulNBitsQuantizer writes them: each MatMul
// whose B is a constant float32 [K, N] matrix becomes a com.microsoft
// MatMulNBits node with B quantized in blocks along K (`<B>_Q4`,
// `<B>_scales`, `<B>_zero_points` when asymmetric), in every graph.

import { quantizeBnb4, quantizeNBits } from "./_quant_math.ts";
import type { RewriteReport } from "./_dynamic_quant.ts";
import {
  dropUnused,
  ensureOpset,
  FLOAT,
  floatValues,
  intAttribute,
  node,
  subgraphs,
  UINT8,
} from "./_rewrite_util.ts";
import { newTensor, type TreeGraph, type TreeModel, type TreeNode, type TreeTensor } from "./_tree.ts";

/** Options of {@linkcode quantizeNBitsGraph}. */
export interface NBitsOptions {
  /** MatMulNBits (4-bit integers) or MatMulBnb4 (NF4). */
  kind: "nbits" | "bnb4";
  /** Elements quantized together: a power of two, at least 16. */
  blockSize: number;
  /** Zero points per block (`--asymmetric`) instead of the fixed 8. */
  asymmetric: boolean;
}

function process(
  graph: TreeGraph,
  stack: TreeGraph[],
  options: NBitsOptions,
  report: RewriteReport,
  done: Map<string, string[]>,
) {
  const here = [...stack, graph];
  const out: TreeNode[] = [];
  for (const n of graph.nodes) {
    for (const a of n.attributes) {
      for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) process(g, here, options, report, done);
    }
    if (n.opType !== "MatMul" || (n.domain !== "" && n.domain !== "ai.onnx")) {
      out.push(n);
      continue;
    }
    const bName = n.inputs[1];
    let owner: TreeGraph | undefined;
    let b: TreeTensor | undefined;
    for (let i = here.length - 1; i >= 0 && !b; i--) {
      b = here[i].initializers.find((t) => t.name === bName);
      owner = b ? here[i] : undefined;
    }
    if (!b || !owner) {
      report.kept.push({ op: n.opType, name: n.name, reason: "its weight is not an initializer" });
      out.push(n);
      continue;
    }
    if (b.code !== FLOAT || b.dims.length !== 2) {
      report.kept.push({ op: n.opType, name: n.name, reason: "its weight is not a 2-D float32 matrix" });
      out.push(n);
      continue;
    }
    const [K, N] = b.dims;
    let inputs = done.get(bName);
    if (options.kind === "bnb4") {
      if (!inputs) {
        const weight = b;
        const blocks = Math.ceil((K * N) / options.blockSize);
        const computed = floatValues(weight).then((v) => quantizeBnb4(v, K, N, options.blockSize));
        const q = newTensor(`${bName}_Bnb4`, UINT8, [Math.ceil((K * N) / 2)], {
          length: Math.ceil((K * N) / 2),
          read: async () => (await computed).packed,
        });
        const absmax = newTensor(`${bName}_absmax`, FLOAT, [blocks], {
          length: blocks * 4,
          read: async () => new Uint8Array((await computed).absmax.buffer),
        });
        owner.inputs = owner.inputs.filter((v) => v.name !== bName);
        owner.initializers.push(q, absmax);
        inputs = [q.name, absmax.name];
        done.set(bName, inputs);
      }
      out.push(node("MatMulBnb4", [n.inputs[0], ...inputs], [n.outputs[0]], n.name ? `${n.name}_Bnb4` : "", [
        intAttribute("K", K),
        intAttribute("N", N),
        intAttribute("block_size", options.blockSize),
        intAttribute("quant_type", 1),
      ], "com.microsoft"));
      report.quantized.push(`MatMul ${n.name}`.trim());
      continue;
    }
    if (!inputs) {
      const weight = b;
      const kBlocks = Math.ceil(K / options.blockSize);
      const computed = floatValues(weight).then((v) =>
        quantizeNBits(v, K, N, options.blockSize, !options.asymmetric)
      );
      const q = newTensor(`${bName}_Q4`, UINT8, [N, kBlocks, options.blockSize / 2], {
        length: N * kBlocks * (options.blockSize / 2),
        read: async () => (await computed).packed,
      });
      const scales = newTensor(`${bName}_scales`, FLOAT, [N, kBlocks], {
        length: N * kBlocks * 4,
        read: async () => new Uint8Array((await computed).scales.buffer),
      });
      owner.inputs = owner.inputs.filter((v) => v.name !== bName);
      owner.initializers.push(q, scales);
      inputs = [q.name, scales.name];
      if (options.asymmetric) {
        const zpRow = Math.ceil(kBlocks / 2);
        owner.initializers.push(newTensor(`${bName}_zero_points`, UINT8, [N, zpRow], {
          length: N * zpRow,
          read: async () => (await computed).zeroPoints!,
        }));
        inputs.push(`${bName}_zero_points`);
      }
      done.set(bName, inputs);
    }
    out.push(node("MatMulNBits", [n.inputs[0], ...inputs], [n.outputs[0]], n.name ? `${n.name}_Q4` : "", [
      intAttribute("K", K),
      intAttribute("N", N),
      intAttribute("bits", 4),
      intAttribute("block_size", options.blockSize),
    ], "com.microsoft"));
    report.quantized.push(`MatMul ${n.name}`.trim());
  }
  graph.nodes = out;
}

/** Rewrite every graph of `model` in place. */
export function quantizeNBitsGraph(model: TreeModel, options: NBitsOptions): RewriteReport {
  const report: RewriteReport = { quantized: [], kept: [] };
  process(model.graph, [], options, report, new Map());
  dropUnused(model.graph);
  for (const g of subgraphs(model.graph)) dropUnused(g);
  ensureOpset(model.opsets, "com.microsoft", 1);
  return report;
}
