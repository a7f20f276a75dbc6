/**
 * The interface of an ONNX graph — inputs, outputs, declared value infos and
 * node outputs — and a copy of a model with more graph outputs.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import { type DType, elementCount } from "../../lib/dtype.ts";
import { scanModel } from "./_model.ts";
import { GRAPH, MAX_PROTOBUF_BYTES, MODEL, ONNX_DTYPES, VALUE_INFO } from "./_schema.ts";
import { BinaryWriter, lengthPrefix, WireType } from "./_wire.ts";
import { LimitError } from "../../lib/errors.ts";

/** A named value of the graph with its declared type, where known. */
export interface OnnxValue {
  /** Value name. */
  readonly name: string;
  /** Element type, when declared and representable. */
  readonly dtype: DType | undefined;
  /** Dimensions: sizes, symbolic names (`"batch"`), or `undefined` for unknown; `undefined` when no shape. */
  readonly dims: readonly (number | string | undefined)[] | undefined;
}

/** One node: its operator and output names. */
export interface OnnxNode {
  /** Operator type, e.g. `Conv`. */
  readonly opType: string;
  /** Names of the values it produces. */
  readonly outputs: readonly string[];
}

/** What {@linkcode readOnnxGraph} returns. */
export interface OnnxGraph {
  /** Graph inputs that are not initializers (what a caller feeds). */
  readonly inputs: readonly OnnxValue[];
  /** Graph outputs. */
  readonly outputs: readonly OnnxValue[];
  /** Declared types of intermediate values (present after shape inference). */
  readonly valueInfo: readonly OnnxValue[];
  /** Nodes in graph order. */
  readonly nodes: readonly OnnxNode[];
  /**
   * Every tensor of the model (initializers of every graph, Constant values, sparse initializers):
   * unique name (its graph path), the value name the graph uses, dtype, shape and whether its data is in
   * an external file.
   */
  readonly initializers: readonly {
    name: string;
    valueName: string;
    dtype: DType | undefined;
    shape: readonly number[];
    external: boolean;
  }[];
}

/**
 * Read a model's graph interface: inputs (without initializers), outputs,
 * value infos and node outputs. Tensor data is not read.
 *
 * @example
 * ```ts ignore
 * import { readOnnxGraph } from "./graph.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * const graph = await readOnnxGraph(await fileSource("model.onnx"));
 * console.log(graph.inputs.map((v) => `${v.name} ${v.dims}`));
 * ```
 */
export async function readOnnxGraph(source: ByteSource): Promise<OnnxGraph> {
  const layout = await scanModel(source, { graph: true });
  const info = layout.graphInfo!;
  const initNames = new Set(
    layout.initializers.filter((i) => i.role === "initializer" && i.ancestors.length === 1).map((i) =>
      i.protoName
    ),
  );
  const value = (
    v: { name: string; elemType: number | undefined; dims: (number | string | undefined)[] | undefined },
  ) => ({
    name: v.name,
    dtype: v.elemType === undefined ? undefined : ONNX_DTYPES.get(v.elemType),
    dims: v.dims,
  });
  return {
    inputs: info.inputs.filter((v) => !initNames.has(v.name)).map(value),
    outputs: info.outputs.map(value),
    valueInfo: info.valueInfo.map(value),
    nodes: info.nodes.map((n) => ({ opType: n.opType, outputs: n.outputs.filter((o) => o !== "") })),
    initializers: layout.initializers.map((i) => ({
      name: i.name,
      valueName: i.protoName,
      dtype: i.dtype,
      shape: i.dims,
      external: i.data.kind === "external",
    })),
  };
}

/**
 * A copy of the model with `names` added as graph outputs (untyped, so the
 * runtime infers them), for reading intermediate values. The rest of the
 * model is kept byte for byte; the whole copy is returned in memory.
 *
 * @example
 * ```ts ignore
 * import { addOnnxOutputs } from "./graph.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * const bytes = await addOnnxOutputs(await fileSource("model.onnx"), ["/layer1/Relu_output_0"]);
 * ```
 */
export async function addOnnxOutputs(source: ByteSource, names: readonly string[]): Promise<Uint8Array> {
  const layout = await scanModel(source);
  const extra = new BinaryWriter();
  for (const name of names) {
    extra.tag(GRAPH.output, WireType.LengthDelimited).fork();
    extra.tag(VALUE_INFO.name, WireType.LengthDelimited).string(name);
    extra.join();
  }
  const added = extra.finish();
  const { graph } = layout;
  const graphLength = graph.end - graph.valueStart + added.length;
  const prefix = lengthPrefix(MODEL.graph, graphLength);
  const total = graph.start + prefix.length + graphLength + (layout.size - graph.end);
  if (total > MAX_PROTOBUF_BYTES) {
    throw new LimitError(
      `Cannot add outputs: the model would be ${total} bytes, over protobuf's 2 GiB limit`,
      {
        limit: MAX_PROTOBUF_BYTES,
        actual: total,
      },
    );
  }
  const out = new Uint8Array(total);
  let pos = 0;
  const put = (bytes: Uint8Array) => {
    out.set(bytes, pos);
    pos += bytes.length;
  };
  put(await source.read(0, graph.start));
  put(prefix);
  put(await source.read(graph.valueStart, graph.end - graph.valueStart));
  put(added);
  put(await source.read(graph.end, layout.size - graph.end));
  return out;
}

/** Elements of a fully known shape, or undefined when a dimension is symbolic or unknown. */
export function staticElements(
  dims: readonly (number | string | undefined)[] | undefined,
): number | undefined {
  if (!dims || dims.some((d) => typeof d !== "number")) return undefined;
  return elementCount(dims as number[]);
}
