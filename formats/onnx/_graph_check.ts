// Checks a graph rewrite needs before it may trust a model's names: every
// value is defined once (single static assignment, outer scopes included), is
// defined before it is used (no cycles), and every use names a value.

import { FormatError } from "../../lib/errors.ts";
import type { TreeGraph, TreeModel } from "./_tree.ts";

function fail(message: string): never {
  throw new FormatError(`Cannot rewrite ONNX model: ${message}`, { format: "onnx" });
}

function checkGraph(graph: TreeGraph, outer: ReadonlySet<string>, path: string): void {
  const defined = new Set<string>(outer);
  const define = (name: string, what: string) => {
    if (name === "") return;
    if (outer.has(name)) fail(`${what} '${name}' in ${path} shadows a value of an enclosing graph`);
    if (defined.has(name)) fail(`${what} '${name}' in ${path} is defined twice`);
    defined.add(name);
  };
  for (const v of graph.inputs) {
    // Models of IR version < 4 list initializers among the inputs too.
    if (!graph.initializers.some((t) => t.name === v.name) && !graph.sparseNames.includes(v.name)) {
      define(v.name, "input");
    }
  }
  for (const t of graph.initializers) define(t.name, "initializer");
  for (const name of graph.sparseNames) define(name, "sparse initializer");
  const later = new Set<string>();
  for (const n of graph.nodes) for (const o of n.outputs) later.add(o);
  graph.nodes.forEach((node, index) => {
    const label = node.name || `${node.opType} node ${index}`;
    for (const input of node.inputs) {
      if (input === "" || defined.has(input)) continue;
      if (later.has(input)) {
        fail(`${label} in ${path} uses '${input}' before it is computed (a cycle, or nodes out of order)`);
      }
      fail(`${label} in ${path} uses '${input}', which no input, initializer or node defines`);
    }
    for (const a of node.attributes) {
      const subs = [...(a.g ? [a.g] : []), ...(a.graphs ?? [])];
      subs.forEach((g, i) => checkGraph(g, defined, `${path}/${label}/${a.name}${a.graphs ? `[${i}]` : ""}`));
    }
    for (const o of node.outputs) define(o, `output of ${label}`);
  });
  for (const v of graph.outputs) {
    if (!defined.has(v.name)) fail(`graph output '${v.name}' of ${path} is never computed`);
  }
}

/** Throw a FormatError naming the value and graph when the model's names are inconsistent. */
export function checkTree(model: TreeModel): void {
  checkGraph(model.graph, new Set(), model.graph.name || "the main graph");
}
