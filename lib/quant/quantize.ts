/**
 * The `quantize` pipeline transform.
 *
 * `quantize(spec)` replaces each eligible floating-point tensor by its
 * quantized form: cast schemes change the dtype; ggml block schemes become
 * entries with `encoding` (GGUF stores them natively); the others become a
 * code tensor plus companions (`<name>.scale`, `<name>.zero_point`,
 * `<name>.absmax`, `<name>.min` …), and the output's complete metadata (its
 * `metadataAfter`) maps each such tensor to its {@linkcode QuantRecord} under
 * `ckpt.quantization`, so `dequantize()` can reverse it. The input stream is
 * never changed. Tensors of rank below 2 (biases, norms) stay as they are
 * unless `keep1d: false`.
 *
 * Work runs on the device `options.device` picks (see `device.ts`), in
 * batches of tensors on a GPU, with results byte-identical to the CPU
 * reference.
 *
 * @module
 */

import { readF32 } from "./_read_f32.ts";
import { byteLengthOf, type DType, isFloatDType } from "../dtype.ts";
import { type ErrorMetrics, MetricsAccumulator } from "../metrics.ts";
import type { Transform } from "../pipeline.ts";
import { derivedStream, finalMetadata, type TensorEntry, type TensorStream } from "../tensor.ts";
import { Group, HeldResults } from "./_held_results.ts";
import { parseQuantRecords, QUANTIZATION_METADATA_KEY } from "./_records.ts";
import { checkDevice, type DeviceChoice, type QuantizeDevice, resolveDevice } from "./device.ts";
import { type QuantizeSpec, type QuantRecord, quantRecord, resolveQuantizeSpec } from "./spec.ts";

/**
 * Most tensors gathered into one GPU batch, however small they are: each
 * adds bind groups and a read-back range to one submission, and past a few
 * hundred that bookkeeping costs more than the submissions it saves.
 */
export const MAX_BATCH_TENSORS = 512;

/**
 * Quantized tensors kept as candidates for the next GPU batch. Older ones
 * have been handed to the writer already; a bounded window keeps finding
 * batch members proportional to the window, not to the model.
 */
export const MAX_BATCH_CANDIDATES = 4096;

/** Default input bytes (as float32) gathered into one GPU batch: 64 MiB. */
export const DEFAULT_BATCH_BYTES: number = 64 * 2 ** 20;

/** Default bound on quantized results held for parts not yet read: 64 MiB. */
export const DEFAULT_HELD_BYTES: number = 64 * 2 ** 20;

/** What happened to one tensor, reported through `onTensor`. */
export interface TensorReport {
  /** Tensor name. */
  readonly name: string;
  /** Scheme applied, or `none` when the tensor was kept. */
  readonly scheme: string;
  /** Why the tensor was kept as it is (when `scheme` is `none`). */
  readonly reason?: string;
  /** Shape. */
  readonly shape: readonly number[];
  /** Input dtype. */
  readonly dtype: DType;
  /** Bytes before. */
  readonly bytesBefore: number;
  /** Bytes after, companions included. */
  readonly bytesAfter: number;
  /** Where it ran: `gpu`, `cpu`, or `none` when kept. */
  readonly device: "gpu" | "cpu" | "none";
  /** Reconstruction error (when computed). */
  readonly metrics?: ErrorMetrics;
}

/** How {@linkcode quantize} runs (the spec says what it does). */
export interface QuantizeOptions {
  /** Where to run. @default "auto" */
  device?: QuantizeDevice;
  /** Called once, when the device is chosen, with the choice and the reason. @default none */
  onDevice?: (choice: DeviceChoice) => void;
  /** Called once per tensor (quantized ones when their bytes are computed, kept ones when seen). @default none */
  onTensor?: (report: TensorReport) => void;
  /** Compute error metrics for `onTensor` (dequantizes on the CPU). @default true when onTensor is set */
  metrics?: boolean;
  /** Input bytes (as float32) gathered into one GPU batch. @default 64 MiB */
  batchBytes?: number;
  /**
   * Most bytes of quantized results held for parts not yet read. A writer
   * that orders by dtype (safetensors puts every F32 scale before the int8
   * codes) reads a tensor's companion long before its codes; past this bound
   * the codes are dropped and computed again when read, so memory stays
   * bounded by a tensor rather than the model. @default 64 MiB
   */
  heldBytes?: number;
}

const NORM_NAME = /(bias|norm|ln_|layernorm|bn)/i;

function matches(pattern: RegExp, name: string): boolean {
  pattern.lastIndex = 0;
  return pattern.test(name);
}

/**
 * Quantize the eligible tensors of a stream with one scheme.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quantize } from "./quantize.ts";
 * import { collectStream, tensorFromBytes } from "../tensor.ts";
 * const w = tensorFromBytes("w", "F32", [2, 32], new Uint8Array(new Float32Array(64).fill(1).buffer));
 * const input = { metadata: {}, tensors: [w] };
 * const { metadata, tensors } = await collectStream(quantize({ scheme: "int8" }, { device: "cpu" })(input));
 * assert.deepEqual(tensors.map((t) => [t.name, t.dtype]), [["w", "I8"], ["w.scale", "F32"]]);
 * assert.equal(JSON.parse(metadata["ckpt.quantization"]).w.scheme, "int8");
 * assert.deepEqual(input.metadata, {}); // the input is never changed
 * ```
 */
export function quantize(spec: QuantizeSpec, options: QuantizeOptions = {}): Transform {
  const { scheme, settings, include, exclude, keep1d } = resolveQuantizeSpec(spec);
  const wantMetrics = options.metrics ?? options.onTensor !== undefined;
  const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  const heldLimit = options.heldBytes ?? DEFAULT_HELD_BYTES;
  const device = checkDevice(options.device ?? "auto");
  let choice: Promise<DeviceChoice> | undefined;
  const chooseDevice = () =>
    choice ??= resolveDevice(device).then((c) => {
      options.onDevice?.(c);
      return c;
    });

  return (input: TensorStream): TensorStream => {
    // The records of the latest iteration, for the output's complete metadata.
    let records: Record<string, QuantRecord> = {};
    const metadataAfter = (): Readonly<Record<string, string>> => {
      const before = finalMetadata(input);
      if (Object.keys(records).length === 0) return before;
      const merged = { ...parseQuantRecords(before), ...records };
      return { ...before, [QUANTIZATION_METADATA_KEY]: JSON.stringify(merged) };
    };

    const entries = async function* (): AsyncGenerator<TensorEntry> {
      const ownRecords: Record<string, QuantRecord> = {};
      records = ownRecords;
      const groups: Group[] = [];
      const held = new HeldResults(heldLimit);

      const compute = async (first: Group): Promise<void> => {
        const backend = (await chooseDevice()).backend;
        // On a backend (a GPU, CPU workers), batch the next groups not yet started, up to
        // batchBytes: only those after `first`, since earlier ones not started were dropped
        // (and are read again later), and results set now but unread are not counted.
        const batch = [first];
        if (backend) {
          const least = backend.batching?.minTensors ?? 1;
          const limit = backend.batching?.bytes ?? batchBytes;
          let bytes = first.plan.count * 4;
          for (let k = groups.indexOf(first) + 1; k > 0 && k < groups.length; k++) {
            const g = groups[k];
            if (g.started || g.finished) continue;
            const full = bytes + g.plan.count * 4 > limit && batch.length >= least;
            if (full || batch.length >= MAX_BATCH_TENSORS) break;
            batch.push(g);
            bytes += g.plan.count * 4;
          }
        }
        let release!: (values: Float32Array[]) => void;
        const valuesReady = new Promise<Float32Array[]>((resolve) => release = resolve);
        const shared = (async () => {
          const values: Float32Array[] = [];
          for (const g of batch) values.push(await readF32(g.entry, g.plan.count));
          release(values);
          if (!backend) return batch.map((g, i) => g.scheme.quantize(g.plan, values[i]));
          return await backend.quantize(
            batch.map((g, i) => ({ scheme: g.scheme, plan: g.plan, values: values[i] })),
            { measure: wantMetrics && options.onTensor !== undefined },
          );
        })();
        batch.forEach((g, i) => {
          g.set((async () => {
            const results = await shared;
            const result = results[i];
            if (options.onTensor && !g.reported) {
              g.reported = true;
              let metrics: ErrorMetrics | undefined = result.metrics;
              if (wantMetrics && !metrics) {
                const values = (await valuesReady)[i];
                const acc = new MetricsAccumulator();
                acc.add(values, g.scheme.dequantize(g.plan, result));
                metrics = acc.result();
              }
              options.onTensor({
                name: g.entry.name,
                scheme: g.scheme.name,
                shape: g.entry.shape,
                dtype: g.entry.dtype,
                bytesBefore: g.entry.byteLength,
                bytesAfter: g.plan.byteLength + g.plan.companions.reduce(
                  (sum, c) => sum + byteLengthOf(c.dtype, c.shape),
                  0,
                ),
                device: backend?.kind ?? (backend ? "gpu" : "cpu"),
                metrics,
              });
            }
            return result;
          })());
        });
      };

      const part = (group: Group, index: number) => async (out?: Uint8Array): Promise<Uint8Array> => {
        if (!group.result) await compute(group);
        const result = await group.result!;
        held.partRead(group, result);
        const bytes = index < 0 ? result.data : result.companions[index];
        if (!out) return bytes;
        const view = out.subarray(0, bytes.byteLength);
        view.set(bytes);
        return view;
      };

      const keep = (entry: TensorEntry, reason: string): TensorEntry => {
        options.onTensor?.({
          name: entry.name,
          scheme: "none",
          reason,
          shape: entry.shape,
          dtype: entry.dtype,
          bytesBefore: entry.byteLength,
          bytesAfter: entry.byteLength,
          device: "none",
        });
        return entry;
      };

      for await (const entry of input.tensors) {
        const why = entry.encoding
          ? `already ${entry.encoding}`
          : !isFloatDType(entry.dtype)
          ? `${entry.dtype} is not floating point`
          : include && !matches(include, entry.name)
          ? "not included"
          : exclude && matches(exclude, entry.name)
          ? "excluded"
          : keep1d && entry.shape.length < 2
          ? (NORM_NAME.test(entry.name) ? "bias or norm" : `rank ${entry.shape.length}`)
          : scheme.unsupported(entry.shape, settings) ??
            (scheme.storage === "cast" && entry.dtype === scheme.name ? `already ${entry.dtype}` : undefined);
        if (why) {
          yield keep(entry, why);
          continue;
        }
        const plan = scheme.plan(entry.shape, settings);
        const group = new Group(entry, scheme, plan);
        groups.push(group);
        if (scheme.storage !== "ggml") ownRecords[entry.name] = quantRecord(scheme, plan, entry.dtype);
        yield {
          name: entry.name,
          dtype: plan.dtype,
          shape: plan.outShape,
          byteLength: plan.byteLength,
          ...(scheme.storage === "ggml" ? { encoding: scheme.name } : {}),
          read: part(group, -1),
        };
        for (let i = 0; i < plan.companions.length; i++) {
          const c = plan.companions[i];
          yield {
            name: entry.name + c.suffix,
            dtype: c.dtype,
            shape: c.shape,
            byteLength: byteLengthOf(c.dtype, c.shape),
            read: part(group, i),
          };
        }
        while (groups.length > MAX_BATCH_CANDIDATES) groups.shift();
      }
    };

    return derivedStream(input, { metadata: { ...input.metadata }, metadataAfter, entries });
  };
}
