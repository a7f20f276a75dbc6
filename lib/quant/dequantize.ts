/**
 * The `dequantize` pipeline transform: the inverse of `quantize` for the
 * tensors it recorded, and the decoder of ggml block-encoded entries.
 *
 * @module
 */

import { castBytes } from "../cast.ts";
import { byteLengthOf, type DType, elementCount, isFloatDType } from "../dtype.ts";
import { dequantizeBlocks, ggmlByteLength } from "../ggml_blocks.ts";
import { FormatError, UsageError } from "../errors.ts";
import type { Transform } from "../pipeline.ts";
import {
  computedEntry,
  derivedStream,
  finalMetadata,
  type TensorEntry,
  type TensorStream,
} from "../tensor.ts";
import { parseQuantRecords, QUANTIZATION_METADATA_KEY } from "./_records.ts";
import { schemeByName } from "./schemes.ts";
import type { QuantPlan, QuantScheme } from "./scheme.ts";
import { type QuantRecord, settingsOf } from "./spec.ts";

/** Options for {@linkcode dequantize}. */
export interface DequantizeOptions {
  /** Output dtype for dequantized tensors. @default the dtype recorded before quantization (F32 for ggml blocks) */
  dtype?: DType;
}

/**
 * True when a stream holds tensors `dequantize()` would change: recorded
 * quantized tensors or block-encoded entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasQuantizedTensors } from "./dequantize.ts";
 * assert.equal(hasQuantizedTensors({ metadata: {}, tensors: [] }), false);
 * ```
 */
export function hasQuantizedTensors(
  file: { metadata: Readonly<Record<string, string>>; tensors: unknown },
): boolean {
  if (QUANTIZATION_METADATA_KEY in file.metadata) return true;
  return Array.isArray(file.tensors) && file.tensors.some((t: TensorEntry) => t.encoding !== undefined);
}

function requireLength(entry: TensorEntry, expected: number, what: string): void {
  if (entry.byteLength !== expected) {
    throw new FormatError(
      `Cannot dequantize '${entry.name}': ${what} holds ${entry.byteLength} bytes, expected ${expected}`,
    );
  }
}

function finalize(values: Float32Array, dtype: DType, out?: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === "F32") {
    if (!out) return bytes;
    const view = out.subarray(0, bytes.byteLength);
    view.set(bytes);
    return view;
  }
  return castBytes(bytes, "F32", dtype, values.length, { out });
}

/**
 * Reverse `quantize`: tensors recorded in `ckpt.quantization` are rebuilt
 * from their codes and companions (which are dropped), and ggml
 * block-encoded entries are decoded (by the ggml block table, K-quants
 * included). Other tensors pass through.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dequantize } from "./dequantize.ts";
 * import { quantize } from "./quantize.ts";
 * import { pipe } from "../pipeline.ts";
 * import { collectTensors, tensorFromBytes } from "../tensor.ts";
 * const w = tensorFromBytes("w", "F32", [2, 32], new Uint8Array(new Float32Array(64).fill(1).buffer));
 * const q = pipe({ metadata: {}, tensors: [w] }, quantize({ scheme: "NF4" }, { device: "cpu" }), dequantize());
 * const [back] = await collectTensors(q);
 * assert.deepEqual([back.name, back.dtype], ["w", "F32"]);
 * assert.deepEqual(new Float32Array((await back.read()).slice().buffer), new Float32Array(64).fill(1));
 * ```
 */
export function dequantize(options: DequantizeOptions = {}): Transform {
  if (options.dtype && !isFloatDType(options.dtype)) {
    throw new UsageError(`Cannot dequantize to ${options.dtype}: only floating-point dtypes are allowed`);
  }
  // Metadata without records is passed on as it is: the same object keeps what
  // formats attach to it (GGUF's typed values).
  const withoutRecords = (metadata: Readonly<Record<string, string>>) => {
    if (!(QUANTIZATION_METADATA_KEY in metadata)) return metadata;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) if (k !== QUANTIZATION_METADATA_KEY) out[k] = v;
    return out;
  };
  return (input: TensorStream): TensorStream =>
    derivedStream(input, {
      metadata: withoutRecords(input.metadata),
      metadataAfter: () => withoutRecords(finalMetadata(input)),
      async *entries() {
        const entries: TensorEntry[] = [];
        for await (const e of input.tensors) entries.push(e);
        const records = parseQuantRecords(finalMetadata(input));
        const byName = new Map(entries.map((e) => [e.name, e]));
        const companions = new Set<string>();
        const plans = new Map<string, { scheme: QuantScheme; plan: QuantPlan; record: QuantRecord }>();
        for (const [name, record] of Object.entries(records)) {
          const entry = byName.get(name);
          if (!entry) continue;
          const scheme = schemeByName(record.scheme);
          const plan = scheme.plan(record.shape, settingsOf(record));
          requireLength(entry, plan.byteLength, "its code tensor");
          for (const c of plan.companions) {
            const comp = byName.get(name + c.suffix);
            if (!comp) {
              throw new FormatError(
                `Cannot dequantize '${name}': its companion '${name + c.suffix}' is missing`,
              );
            }
            requireLength(comp, byteLengthOf(c.dtype, c.shape), `its companion '${name + c.suffix}'`);
            companions.add(name + c.suffix);
          }
          plans.set(name, { scheme, plan, record });
        }
        for (const entry of entries) {
          if (companions.has(entry.name)) continue;
          const found = plans.get(entry.name);
          if (found) {
            const { scheme, plan, record } = found;
            const dtype = options.dtype ?? record.dtype;
            yield computedEntry(entry.name, dtype, record.shape, async (out?: Uint8Array) => {
              const data = await entry.read();
              const parts: Uint8Array[] = [];
              for (const c of plan.companions) parts.push(await byName.get(entry.name + c.suffix)!.read());
              return finalize(scheme.dequantize(plan, { data, companions: parts }), dtype, out);
            });
            continue;
          }
          if (entry.encoding) {
            yield blockEntry(entry, options.dtype ?? "F32");
            continue;
          }
          yield entry;
        }
      },
    });
}

function blockEntry(entry: TensorEntry, dtype: DType): TensorEntry {
  const count = elementCount(entry.shape);
  requireLength(entry, ggmlByteLength(entry.encoding!, entry.shape), `its ${entry.encoding} data`);
  return computedEntry(entry.name, dtype, entry.shape, async (out?: Uint8Array) => {
    const values = dequantizeBlocks(entry.encoding!, await entry.read(), count);
    return finalize(values, dtype, out);
  });
}
