/**
 * Measure a model's intermediate values (activations): their names, types
 * and shapes, from declared value infos or by running the model once with
 * onnxruntime-node with every node output exposed.
 *
 * @module
 */

import { type ByteSource, fileSource } from "../../lib/byte_source.ts";
import { type DType, elementCount } from "../../lib/dtype.ts";
import { UsageError } from "../../lib/errors.ts";
import { addOnnxOutputs, type OnnxGraph, readOnnxGraph } from "../onnx/graph.ts";
import {
  dtypeOfOrt,
  loadOrt,
  makeInput,
  type OrtSession,
  type OrtTensor,
  runtimeCall,
  seededRandom,
} from "./_runtime.ts";

/** A value's type and shape. */
export interface OnnxValueShape {
  /** Value name. */
  readonly name: string;
  /** Element type. */
  readonly dtype: DType;
  /** Concrete shape. */
  readonly shape: readonly number[];
}

/** Options for {@linkcode measureOnnxActivations}. */
export interface MeasureActivationsOptions {
  /** Input shapes by name; required for inputs whose declared shape is not fully known. @default the declared shapes */
  inputs?: Record<string, readonly number[]>;
  /**
   * Batch size: replaces the first dimension of every input. Above 2 the
   * model is run at batch 1 and 2 and each value's size is extrapolated
   * linearly, so a large batch is estimated without being allocated.
   * @default the inputs' own first dimension
   */
  batch?: number;
  /**
   * `value-info` uses the shapes declared in the model (after ONNX shape
   * inference); `runtime` runs it; `auto` uses value infos when they cover
   * every value with static shapes and the inputs are as declared.
   * @default "auto"
   */
  method?: "auto" | "value-info" | "runtime";
  /** Seed for the random input values. @default 0 */
  seed?: number;
}

/** What {@linkcode measureOnnxActivations} found. */
export interface OnnxActivations {
  /** The inputs fed (or declared), with their final shapes. */
  readonly inputs: readonly OnnxValueShape[];
  /** Every node output that is not a graph input or initializer, graph outputs included. */
  readonly activations: readonly OnnxValueShape[];
  /** How the shapes were found. */
  readonly method: "value-info" | "runtime";
  /** The model's graph interface. */
  readonly graph: OnnxGraph;
}

function fixedBatch(graph: OnnxGraph): boolean {
  return graph.inputs.every((v) => v.dims !== undefined && typeof v.dims[0] === "number");
}

function resolveInputs(graph: OnnxGraph, options: MeasureActivationsOptions): OnnxValueShape[] {
  const given = options.inputs ?? {};
  for (const name of Object.keys(given)) {
    if (!graph.inputs.some((v) => v.name === name)) {
      throw new UsageError(
        `Model has no input '${name}'; its inputs: ${graph.inputs.map((v) => v.name).join(", ") || "(none)"}`,
      );
    }
  }
  return graph.inputs.map((v) => {
    const dtype = v.dtype;
    if (!dtype) throw new UsageError(`Input '${v.name}' has no tensor type ckpt can feed`);
    let shape: number[];
    if (given[v.name]) shape = [...given[v.name]];
    else if (v.dims && v.dims.every((d) => typeof d === "number")) shape = v.dims as number[];
    else if (v.dims && v.dims.length > 0 && v.dims.slice(1).every((d) => typeof d === "number")) {
      // Only the batch dimension is symbolic: measure at 1.
      shape = [1, ...(v.dims.slice(1) as number[])];
    } else {
      throw new UsageError(
        `Input '${v.name}' has shape [${
          (v.dims ?? []).map((d) => d ?? "?").join(", ")
        }] with unknown dimensions; give it with --input ${v.name}=1x…`,
      );
    }
    elementCount(shape);
    return { name: v.name, dtype, shape };
  });
}

function fromValueInfo(graph: OnnxGraph, inputs: OnnxValueShape[]): OnnxValueShape[] | undefined {
  for (const input of inputs) {
    const declared = graph.inputs.find((v) => v.name === input.name)!;
    if (!declared.dims || declared.dims.length !== input.shape.length) return undefined;
    if (declared.dims.some((d, i) => d !== input.shape[i])) return undefined;
  }
  const known = new Map([...graph.valueInfo, ...graph.outputs].map((v) => [v.name, v]));
  const out: OnnxValueShape[] = [];
  for (const name of activationNames(graph)) {
    const v = known.get(name);
    if (!v || !v.dtype || !v.dims || v.dims.some((d) => typeof d !== "number")) return undefined;
    out.push({ name, dtype: v.dtype, shape: v.dims as number[] });
  }
  return out;
}

function activationNames(graph: OnnxGraph): string[] {
  const skip = new Set([...graph.inputs.map((v) => v.name), ...graph.initializers.map((i) => i.valueName)]);
  const names: string[] = [];
  const seen = new Set<string>();
  for (const node of graph.nodes) {
    for (const name of node.outputs) {
      if (!skip.has(name) && !seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
  }
  return names;
}

async function runOnce(
  model: Uint8Array | string,
  inputs: OnnxValueShape[],
  names: string[],
  seed: number,
): Promise<Map<string, OnnxValueShape>> {
  const ort = await loadOrt();
  const session: OrtSession = await runtimeCall(
    "load",
    () => ort.InferenceSession.create(model as Uint8Array),
  );
  try {
    const random = seededRandom(seed);
    const feeds: Record<string, OrtTensor> = {};
    for (const input of inputs) {
      feeds[input.name] = makeInput(ort, input.name, input.dtype, input.shape, random);
    }
    const results: Record<string, OrtTensor> = await runtimeCall("run", () => session.run(feeds, names));
    const out = new Map<string, OnnxValueShape>();
    for (const name of names) {
      const t = results[name];
      if (!t) continue;
      const dtype = dtypeOfOrt(t.type);
      if (dtype) out.set(name, { name, dtype, shape: [...t.dims] });
      t.dispose?.();
    }
    return out;
  } finally {
    await session.release();
  }
}

/**
 * Find the type and shape of every intermediate value of an ONNX model.
 * With `method: "runtime"` (or when value infos are incomplete) the model is
 * copied with every node output added as a graph output and run once on
 * seeded random inputs with onnxruntime-node (needs `--allow-ffi --allow-env`;
 * models with external data get a temporary copy beside them, needing
 * `--allow-write`).
 *
 * @example
 * ```ts ignore
 * import { measureOnnxActivations } from "./activations.ts";
 * const { activations } = await measureOnnxActivations("resnet18.onnx", { inputs: { input: [1, 3, 224, 224] } });
 * console.log(activations.length);
 * ```
 */
export async function measureOnnxActivations(
  path: string,
  options: MeasureActivationsOptions = {},
): Promise<OnnxActivations> {
  const batch = options.batch;
  if (batch !== undefined && (!Number.isSafeInteger(batch) || batch < 1)) {
    throw new UsageError(`Batch size must be a positive integer, got ${batch}`);
  }
  const source: ByteSource = await fileSource(path);
  try {
    const graph = await readOnnxGraph(source);
    const inputs = resolveInputs(graph, options);
    const method = options.method ?? "auto";
    if (method !== "runtime" && batch === undefined) {
      const declared = fromValueInfo(graph, inputs);
      if (declared) return { inputs, activations: declared, method: "value-info", graph };
      if (method === "value-info") {
        throw new UsageError(
          `Cannot take activation shapes from ${path}: its value_info does not give a static shape for every value`,
        );
      }
    }
    const names = activationNames(graph);
    const copy = await addOnnxOutputs(source, names.filter((n) => !graph.outputs.some((o) => o.name === n)));
    const hasExternal = graph.initializers.some((i) => i.external);
    let model: Uint8Array | string = copy;
    let temp: string | undefined;
    if (hasExternal) {
      // External data is found relative to the model file, so the copy sits beside it.
      const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
      temp = `${dir}/.${crypto.randomUUID().slice(0, 8)}.activations.onnx`;
      await Deno.writeFile(temp, copy);
      model = temp;
    }
    try {
      const seed = options.seed ?? 0;
      let shapes: Map<string, OnnxValueShape>;
      const withBatches = (n: number) => inputs.map((v) => ({ ...v, shape: withBatch(v.shape, n) }));
      if (batch === undefined) {
        shapes = await runOnce(model, inputs, names, seed);
      } else if (fixedBatch(graph)) {
        // The graph was exported for one batch size: run at it and scale the values that carry it.
        const base = inputs[0]?.shape[0] ?? 1;
        const measured = await runOnce(model, inputs, names, seed);
        shapes = new Map();
        for (const [name, v] of measured) {
          shapes.set(
            name,
            v.shape[0] === base ? { ...v, shape: [batch * (v.shape[0] / base), ...v.shape.slice(1)] } : v,
          );
        }
      } else if (batch <= 2) {
        shapes = await runOnce(model, withBatches(batch), names, seed);
      } else {
        const one = await runOnce(model, withBatches(1), names, seed);
        const two = await runOnce(model, withBatches(2), names, seed);
        shapes = new Map();
        for (const [name, a] of one) {
          const b = two.get(name);
          shapes.set(name, b ? extrapolate(a, b, batch) : a);
        }
      }
      const activations = names.flatMap((n) => shapes.get(n) ?? []);
      return {
        inputs: batch === undefined ? inputs : withBatches(batch),
        activations,
        method: "runtime",
        graph,
      };
    } finally {
      if (temp) await Deno.remove(temp).catch(() => {});
    }
  } finally {
    await source.close();
  }
}

function withBatch(shape: readonly number[], batch: number): number[] {
  return shape.length === 0 ? [] : [batch, ...shape.slice(1)];
}

/** The shape at `batch` of a value seen at batch 1 (`a`) and 2 (`b`): the dimension that grew scales. */
function extrapolate(a: OnnxValueShape, b: OnnxValueShape, batch: number): OnnxValueShape {
  if (a.shape.length !== b.shape.length) return b;
  const shape = a.shape.map((d, i) => (b.shape[i] === d ? d : d + (batch - 1) * (b.shape[i] - d)));
  return { ...a, shape };
}
