// What the ggml block schemes (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) share: blocks
// of 32 along the innermost dimension, entries stored with `encoding`, and a
// WGSL frame that assembles whole blocks in private memory before storing
// them as u32 words (a block is 18 to 34 bytes, not always word-aligned, so
// an invocation handles one or two blocks to end on a word).

import { elementCount } from "../dtype.ts";
import { ggmlTypeByName } from "../ggml_blocks.ts";
import { makePlan } from "./_plan.ts";
import { ggmlSimd, type GgmlSimdKind } from "../simd/kernels.ts";
import { WGSL_ENTRY, WGSL_PRELUDE } from "./_wgsl.ts";
import type { QuantPlan, QuantResult, QuantScheme } from "./scheme.ts";

/** Elements in one ggml block of these types. */
export const QK = 32;

/** C's `(int8_t)` conversion of a float as the references define it (non-finite → 0). */
export function toI8(v: number): number {
  return Number.isFinite(v) ? (Math.trunc(v) << 24) >> 24 : 0;
}

/**
 * Define a ggml block scheme from its row quantizer and WGSL block function;
 * dequantization is the ggml type table's (lib/ggml_blocks.ts), which also
 * decodes these blocks when they are read from GGUF files.
 */
export function ggmlScheme(spec: {
  name: string;
  description: string;
  blockBytes: number;
  /** Elements per block: 32, or 256 for the K-quants' super-blocks. @default 32 */
  blockElems?: number;
  quantizeRow(x: Float32Array, out: Uint8Array): void;
  /** The WebAssembly SIMD kernel that writes the same bytes (lib/simd/kernels.wat), when there is one. */
  simd?: GgmlSimdKind;
  /** WGSL `fn block(blk: u32, off: u32)` writing one block at byte `off` of the unit with put8/put16. */
  wgslBlock: string;
}): QuantScheme {
  const dequantizeBlocks = ggmlTypeByName(spec.name)?.dequantize;
  if (!dequantizeBlocks) throw new Error(`The ggml type table has no decoder for ${spec.name}`);
  const qk = spec.blockElems ?? QK;
  const blocksPerUnit = spec.blockBytes % 4 === 0 ? 1 : 2;
  const unitWords = (spec.blockBytes * blocksPerUnit) / 4;
  const wgsl = `${WGSL_PRELUDE}
var<private> w: array<u32, ${unitWords}>;
fn put8(off: u32, v: u32) { w[off >> 2u] = w[off >> 2u] | ((v & 0xffu) << ((off & 3u) * 8u)); }
fn put16(off: u32, v: u32) { put8(off, v); put8(off + 1u, v >> 8u); }
fn gt(a: f32, b: f32) -> bool { return !is_nan(a) && !is_nan(b) && a > b; }
${spec.wgslBlock}
fn quantize_unit(unit: u32) {
  for (var k = 0u; k < ${unitWords}u; k = k + 1u) { w[k] = 0u; }
  for (var b = 0u; b < ${blocksPerUnit}u; b = b + 1u) { block(unit * ${blocksPerUnit}u + b, b * ${spec.blockBytes}u); }
  for (var k = 0u; k < ${unitWords}u; k = k + 1u) { dst[unit * ${unitWords}u + k] = w[k]; }
}
${WGSL_ENTRY}`;
  return {
    name: spec.name,
    storage: "ggml",
    description: spec.description,
    settingKeys: [],
    unsupported(shape) {
      if (shape.length === 0) return `a scalar has no rows of ${qk}`;
      const last = shape[shape.length - 1];
      if (last % qk !== 0) return `its innermost dimension ${last} is not a multiple of ${qk}`;
      return undefined;
    },
    plan(shape, settings): QuantPlan {
      const count = elementCount(shape);
      return makePlan(spec.name, shape, settings, {
        dtype: "F32",
        outShape: shape,
        byteLength: (count / qk) * spec.blockBytes,
      });
    },
    quantize(plan, values): QuantResult {
      const out = new Uint8Array(plan.byteLength);
      const x = values.subarray(0, plan.count);
      if (!spec.simd || !ggmlSimd(spec.simd, x, out, spec.blockBytes, spec.quantizeRow)) {
        spec.quantizeRow(x, out);
      }
      return { data: out, companions: [] };
    },
    dequantize(plan, result, out) {
      const target = out ?? new Float32Array(plan.count);
      dequantizeBlocks(result.data, plan.count, target);
      return target;
    },
    gpu: {
      kind: "units",
      kernel: { wgsl, unitElems: qk * blocksPerUnit, unitWords, auxPerUnit: 0 },
      finish: (_plan, data) => ({ data, companions: [] }),
    },
  };
}
