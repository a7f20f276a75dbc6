// Weight-only dynamic 8-bit quantization in QOperator form, as
// onnxruntime.quantization.quantize_dynamic writes it: MatMul with a constant
// weight becomes DynamicQuantizeLinear + MatMulInteger + Cast + two Muls, Conv
// becomes ConvInteger likewise, Gather of a float table gathers uint8 codes
// and dequantizes them. Nodes are visited in graph order and every value is
// quantized once, under onnxruntime's names.

import { elementCount } from "../../lib/dtype.ts";
import { type Int8Type, minMax, quantizeInto, scaleZeroPoint } from "./_quant_math.ts";
import {
  dropUnused,
  elementTypes,
  ensureOpset,
  FLOAT,
  FLOAT16,
  floatValues,
  INT64,
  INT8,
  intAttribute,
  node,
  subgraphs,
  UINT8,
} from "./_rewrite_util.ts";
import { newTensor, type TreeGraph, type TreeModel, type TreeNode, type TreeTensor } from "./_tree.ts";

/** Options of {@linkcode quantizeDynamic}. */
export interface DynamicOptions {
  /** Weight type: `int8` symmetric or `uint8` asymmetric. */
  weightType: Int8Type;
  /** One scale per output channel of MatMul weights. */
  perChannel: boolean;
  /**
   * Quantize inside If/Loop/Scan bodies too (onnxruntime's EnableSubgraph, which transformers.js sets):
   * weights and activations of an enclosing graph are quantized there, once.
   */
  subgraphs: boolean;
}

/** What a rewrite did, node by node. */
export interface RewriteReport {
  /** Nodes rewritten, as `op name`. */
  quantized: string[];
  /** Nodes left in float with the reason. */
  kept: { op: string; name: string; reason: string }[];
}

interface QuantizedValue {
  q: string;
  scale: string;
  zeroPoint: string;
  /** Produced by a node of the new graph (needs no DequantizeLinear before float consumers). */
  generated: boolean;
}

// Gemm with alpha or beta ≠ 1 or a transposed A is not rewritten to MatMul, so it stays too.
const NOT_SUPPORTED = new Set(["Gemm", "Attention", "LSTM", "EmbedLayerNormalization"]);

class DynamicQuantizer {
  readonly graph: TreeGraph;
  readonly options: DynamicOptions;
  readonly report: RewriteReport;
  readonly types: Map<string, number>;
  readonly inits: Map<string, TreeTensor>;
  readonly values = new Map<string, QuantizedValue>();
  readonly generated = new Set<string>();
  readonly out: TreeNode[] = [];
  readonly added: TreeTensor[] = [];
  /** The quantizer of the enclosing graph, for a subgraph. */
  readonly parent: DynamicQuantizer | undefined;
  /** Values this graph defines (inputs, initializers, node outputs); others come from enclosing graphs. */
  readonly own: Set<string>;

  constructor(graph: TreeGraph, options: DynamicOptions, report: RewriteReport, parent?: DynamicQuantizer) {
    this.graph = graph;
    this.options = options;
    this.report = report;
    this.parent = parent;
    this.types = elementTypes(graph, parent?.types);
    this.inits = new Map(graph.initializers.map((t) => [t.name, t]));
    this.own = new Set([
      ...graph.inputs.map((v) => v.name),
      ...graph.initializers.map((t) => t.name),
      ...graph.nodes.flatMap((n) => n.outputs),
    ]);
  }

  /** The initializer `name` of this graph or, when this graph does not define the name, of an enclosing one. */
  init(name: string): TreeTensor | undefined {
    return this.inits.get(name) ?? (this.own.has(name) ? undefined : this.parent?.init(name));
  }

  isFloatInit(name: string): boolean {
    const t = this.inits.get(name);
    if (t === undefined) {
      return !this.own.has(name) && this.parent !== undefined && this.parent.isFloatInit(name);
    }
    return t.code === FLOAT || t.code === FLOAT16;
  }

  isFloat(name: string): boolean {
    const t = this.types.get(name);
    return t === FLOAT || t === FLOAT16;
  }

  /** Quantize an initializer: `<w>_quantized`, `<w>_scale`, `<w>_zero_point` (per channel along `axis`). */
  weight(name: string, type: Int8Type, axis?: number): QuantizedValue {
    const known = this.values.get(name);
    if (known) return known;
    // A weight of an enclosing graph is quantized there, where it lives.
    if (!this.inits.has(name)) return this.parent!.weight(name, type, axis);
    const t = this.inits.get(name)!;
    const code = type === "int8" ? INT8 : UINT8;
    const qName = `${name}_quantized`;
    const scaleName = `${name}_scale`;
    const zpName = `${name}_zero_point`;
    const count = elementCount(t.dims);
    const channels = axis === undefined ? 1 : t.dims[axis];
    // The codes are computed when written; scales are needed for their own tensors first.
    const computed = floatValues(t).then((values) => {
      const codes = new Uint8Array(count);
      const scales = new Float32Array(channels);
      const zps = new Uint8Array(channels);
      if (axis === undefined) {
        const [min, max] = minMax(values);
        const { scale, zeroPoint } = scaleZeroPoint(min, max, type);
        quantizeInto(values, scale, zeroPoint, type, codes);
        scales[0] = scale;
        zps[0] = zeroPoint & 0xff;
      } else {
        const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        const outer = count / (channels * inner);
        for (let c = 0; c < channels; c++) {
          // Gather channel c's values to compute its range, then quantize them in place.
          const idx: number[] = [];
          for (let o = 0; o < outer; o++) {
            for (let i = 0; i < inner; i++) idx.push((o * channels + c) * inner + i);
          }
          const slice = Float32Array.from(idx, (i) => values[i]);
          const [min, max] = minMax(slice);
          const { scale, zeroPoint } = scaleZeroPoint(min, max, type);
          const q = new Uint8Array(slice.length);
          quantizeInto(slice, scale, zeroPoint, type, q);
          idx.forEach((i, k) => (codes[i] = q[k]));
          scales[c] = scale;
          zps[c] = zeroPoint & 0xff;
        }
      }
      return { codes, scales, zps };
    });
    const dims = axis === undefined ? [] : [channels];
    this.added.push(
      newTensor(scaleName, FLOAT, dims, {
        length: channels * 4,
        read: async () => new Uint8Array((await computed).scales.buffer),
      }),
      newTensor(zpName, code, dims, { length: channels, read: async () => (await computed).zps }),
      newTensor(qName, code, [...t.dims], { length: count, read: async () => (await computed).codes }),
    );
    const value = { q: qName, scale: scaleName, zeroPoint: zpName, generated: false };
    this.values.set(name, value);
    return value;
  }

  /** Quantize an activation with DynamicQuantizeLinear (uint8), once per value. */
  activation(name: string): QuantizedValue {
    const known = this.values.get(name);
    if (known) return known;
    if (this.isFloatInit(name)) return this.weight(name, "uint8");
    // A value computed by an enclosing graph is quantized there, before the node that holds this graph.
    if (!this.own.has(name) && this.parent) return this.parent.activation(name);
    const value = {
      q: `${name}_quantized`,
      scale: `${name}_scale`,
      zeroPoint: `${name}_zero_point`,
      generated: true,
    };
    this.out.push(
      node(
        "DynamicQuantizeLinear",
        [name],
        [value.q, value.scale, value.zeroPoint],
        `${name}_QuantizeLinear`,
      ),
    );
    this.values.set(name, value);
    return value;
  }

  /** Cast to float and multiply by both scales: the tail of MatMulInteger and ConvInteger. */
  rescale(
    n: TreeNode,
    integerOut: string,
    integerName: string,
    a: QuantizedValue,
    b: QuantizedValue,
    output: string,
  ) {
    const castOut = `${integerOut}_cast_output`;
    const outType = this.types.get(n.outputs[0]) ?? FLOAT;
    this.out.push(node("Cast", [integerOut], [castOut], `${integerOut}_cast`, [intAttribute("to", outType)]));
    const mulName = integerName ? `${integerName}_scales_mul` : `${a.scale}_${b.scale}_mul`;
    let scalesMul = this.out.find((x) => x.name === mulName);
    if (!scalesMul) {
      scalesMul = node("Mul", [a.scale, b.scale], [`${mulName}:0`], mulName);
      this.out.push(scalesMul);
    }
    this.out.push(
      node(
        "Mul",
        [castOut, scalesMul.outputs[0]],
        [output],
        integerName ? `${integerName}_output_scale_mul` : "",
      ),
    );
  }

  matmul(n: TreeNode): boolean {
    const [a, b] = n.inputs;
    if (!this.isFloatInit(b)) return this.keep(n, "its weight is not a float initializer");
    const rank = this.init(b)!.dims.length;
    const qa = this.activation(a);
    const qb = this.weight(b, this.options.weightType, this.options.perChannel ? rank - 1 : undefined);
    const out = `${n.outputs[0]}_output_quantized`;
    const name = n.name ? `${n.name}_quant` : "";
    this.out.push(node("MatMulInteger", [qa.q, qb.q, qa.zeroPoint, qb.zeroPoint], [out], name));
    this.rescale(n, out, name, qa, qb, n.outputs[0]);
    return true;
  }

  conv(n: TreeNode): boolean {
    const [x, w, bias] = n.inputs;
    if (!this.isFloatInit(w)) return this.keep(n, "its weight is not a float initializer");
    if (!this.isFloat(x) && !this.isFloatInit(x)) return this.keep(n, "its input is not known to be float");
    const qx = this.activation(x);
    const qw = this.weight(w, this.options.weightType);
    const out = `${n.outputs[0]}_output_quantized`;
    const name = n.name ? `${n.name}_quant` : "";
    this.out.push(node("ConvInteger", [qx.q, qw.q, qx.zeroPoint, qw.zeroPoint], [out], name, n.attributes));
    const hasBias = n.inputs.length === 3;
    const scaled = hasBias ? `${n.outputs[0]}quant_scaled_output` : n.outputs[0];
    this.rescale(n, out, name, qx, qw, scaled);
    if (hasBias) {
      const output = n.outputs[0];
      const shapeName = `${output}_bias_reshape_shape`;
      const rank = this.init(w)!.dims.length;
      const shape = new BigInt64Array(rank).fill(1n);
      shape[1] = -1n;
      this.added.push(newTensor(shapeName, INT64, [rank], new Uint8Array(shape.buffer)));
      this.out.push(node("Reshape", [bias, shapeName], [`${output}_bias_reshape_output`], ""));
      this.out.push(node("Add", [scaled, `${output}_bias_reshape_output`], [output], `${output}_bias_add`));
    }
    return true;
  }

  gather(n: TreeNode): boolean {
    // Gathers of computed values (shapes, indices) are not weights: nothing to report.
    if (!this.isFloatInit(n.inputs[0])) return false;
    const q = this.activation(n.inputs[0]);
    const output = n.outputs[0];
    const quantized = `${output}_quantized`;
    this.values.set(output, { q: quantized, scale: q.scale, zeroPoint: q.zeroPoint, generated: false });
    this.out.push({ ...n, inputs: [q.q, ...n.inputs.slice(1)], outputs: [quantized, ...n.outputs.slice(1)] });
    return true;
  }

  keep(n: TreeNode, reason: string): false {
    this.report.kept.push({ op: n.opType, name: n.name, reason });
    return false;
  }

  /** Float consumers of a quantized value that no node computes get a DequantizeLinear. */
  dequantize(name: string): void {
    const v = this.values.get(name);
    if (!v || v.generated || this.generated.has(name)) return;
    const dqName = `${name}_DequantizeLinear`;
    if (this.out.some((x) => x.name === dqName)) return;
    this.out.push(node("DequantizeLinear", [v.q, v.scale, v.zeroPoint], [name], dqName));
  }

  run(): void {
    for (const n of this.graph.nodes) {
      const before = this.out.length;
      if (this.options.subgraphs) {
        for (const a of n.attributes) {
          for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
            new DynamicQuantizer(g, this.options, this.report, this).run();
          }
        }
      }
      let done = false;
      if (n.domain === "" || n.domain === "ai.onnx") {
        if (n.opType === "MatMul") done = this.matmul(n);
        else if (n.opType === "Conv") done = this.conv(n);
        else if (n.opType === "Gather") done = this.gather(n);
        else if (NOT_SUPPORTED.has(n.opType)) this.keep(n, "no dynamic-quantized form in ckpt");
      }
      if (done) this.report.quantized.push(`${n.opType} ${n.name}`.trim());
      else {
        for (const i of n.inputs) this.dequantize(i);
        this.out.push(n);
      }
      for (let k = before; k < this.out.length; k++) {
        for (const o of this.out[k].outputs) this.generated.add(o);
      }
    }
    for (const o of this.graph.outputs) this.dequantize(o.name);
    this.graph.nodes = this.out;
    this.graph.initializers.push(...this.added);
    // Enclosing graphs drop what their subgraphs no longer read once all of them are done.
    if (!this.parent) {
      dropUnused(this.graph);
      for (const g of subgraphs(this.graph)) dropUnused(g);
    }
  }
}

/** A `[K, N]` float32 copy of a `[N, K]` weight, computed when read. */
function transposed(t: TreeTensor): TreeTensor {
  const [rows, cols] = t.dims;
  return newTensor(t.name, t.code, [cols, rows], {
    length: t.byteLength,
    read: async () => {
      const v = await floatValues(t);
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c];
      return new Uint8Array(out.buffer);
    },
  });
}

/**
 * Gemm as MatMul (+ Add for the bias), as onnxruntime does before dynamic quantization: only when
 * alpha = beta = 1 and A is not transposed; a transposed constant B is stored transposed, any other
 * transposed B gets a Transpose node.
 */
function gemmToMatMul(graph: TreeGraph, stack: TreeGraph[]): void {
  const here = [...stack, graph];
  const out: TreeNode[] = [];
  for (const n of graph.nodes) {
    for (const a of n.attributes) {
      for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) gemmToMatMul(g, here);
    }
    const attr = (name: string) => n.attributes.find((a) => a.name === name);
    const isGemm = n.opType === "Gemm" && (n.domain === "" || n.domain === "ai.onnx");
    if (
      !isGemm || (attr("alpha")?.f ?? 1) !== 1 || (attr("beta")?.f ?? 1) !== 1 ||
      (attr("transA")?.i ?? 0n) !== 0n
    ) {
      out.push(n);
      continue;
    }
    let b = n.inputs[1];
    if ((attr("transB")?.i ?? 0n) === 1n) {
      let owner: TreeGraph | undefined;
      let index = -1;
      for (let i = here.length - 1; i >= 0 && index < 0; i--) {
        index = here[i].initializers.findIndex((t) => t.name === b);
        if (index >= 0) owner = here[i];
      }
      if (owner && owner.initializers[index].dims.length === 2 && owner.initializers[index].code === FLOAT) {
        owner.initializers[index] = transposed(owner.initializers[index]);
        owner.inputs = owner.inputs.filter((v) => v.name !== b);
      } else {
        out.push(node("Transpose", [b], [`${b}_Transposed`], n.name ? `${n.name}_Transpose` : ""));
        b = `${b}_Transposed`;
      }
    }
    const bias = n.inputs.length > 2 && n.inputs[2] !== "";
    const mm = bias ? `${n.outputs[0]}_MatMul` : n.outputs[0];
    out.push(node("MatMul", [n.inputs[0], b], [mm], n.name ? `${n.name}_MatMul` : ""));
    if (bias) out.push(node("Add", [mm, n.inputs[2]], [n.outputs[0]], n.name ? `${n.name}_Add` : ""));
  }
  graph.nodes = out;
}

/** Rewrite the main graph of `model` in place: MatMul, Conv and Gather with constant float weights. */
export function quantizeDynamic(model: TreeModel, options: DynamicOptions): RewriteReport {
  const report: RewriteReport = { quantized: [], kept: [] };
  gemmToMatMul(model.graph, []);
  new DynamicQuantizer(model.graph, options, report).run();
  // DynamicQuantizeLinear needs opset 11.
  ensureOpset(model.opsets, "", 11);
  return report;
}
