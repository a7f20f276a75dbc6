/**
 * The `quantize` and `dequantize` pipeline transforms.
 *
 * `quantize({ scheme })` replaces each eligible floating-point tensor by its
 * quantized form: cast schemes change the dtype; ggml block schemes become
 * entries with `encoding` (GGUF stores them natively); the others become a
 * code tensor plus companions (`<name>.scale`, `<name>.zero_point`,
 * `<name>.absmax`, `<name>.min` …), and the metadata key
 * `ckpt.quantization` maps each such tensor to its scheme and settings, so
 * `dequantize()` can reverse it. Tensors of rank below 2 (biases, norms)
 * stay as they are unless `keep1d: false`.
 *
 * Work runs on the GPU when one is available (see `gpu/`), in batches of
 * tensors, with results byte-identical to the CPU reference.
 *
 * @module
 */

import { castBytes } from "./cast.ts";
import { byteLengthOf, type DType, elementCount, isDType, isFloatDType } from "./dtype.ts";
import { dequantizeBlocks, ggmlByteLength } from "./ggml_blocks.ts";
import { FormatError, UsageError } from "./errors.ts";
import { type ErrorMetrics, MetricsAccumulator } from "./metrics.ts";
import type { Transform } from "./pipeline.ts";
import type { TensorEntry, TensorStream } from "./tensor.ts";
import { DEFAULT_SETTINGS } from "./quant/_plan.ts";
import { schemeByName, SCHEMES } from "./quant/schemes.ts";
import type { QuantPlan, QuantResult, QuantScheme, QuantSettings } from "./quant/scheme.ts";

/** Metadata key holding the JSON map from tensor name to {@linkcode QuantRecord}. */
export const QUANTIZATION_METADATA_KEY = "ckpt.quantization";

/** How one tensor was quantized, as recorded in the `ckpt.quantization` metadata. */
export interface QuantRecord {
  /** Scheme name. */
  scheme: string;
  /** The tensor's dtype before quantization. */
  dtype: DType;
  /** The tensor's shape before quantization. */
  shape: number[];
  /** Settings that change the layout or the parameters. */
  perChannel?: boolean;
  /** Channel axis (per channel). */
  axis?: number;
  /** Affine quint8 with zero point. */
  affine?: boolean;
  /** PyTorch reduce_range. */
  reduceRange?: boolean;
  /** FP8 saturation. */
  saturate?: boolean;
  /** NF4/FP4 nested absmax. */
  doubleQuant?: boolean;
}

/** One tensor to quantize, for a {@linkcode QuantizeBackend}. */
export interface QuantizeJob {
  /** The scheme. */
  readonly scheme: QuantScheme;
  /** The tensor's plan. */
  readonly plan: QuantPlan;
  /** Its float32 values. */
  readonly values: Float32Array;
}

/** Something that quantizes batches of tensors, e.g. the GPU (`gpu/`). */
export interface QuantizeBackend {
  /** Short description (the adapter's name). */
  readonly name: string;
  /** `software` for a CPU-emulated GPU (llvmpipe, SwiftShader): `auto` does not use it, `gpu` does. */
  readonly kind?: "hardware" | "software";
  /** Quantize the jobs; results in job order, identical to each scheme's CPU reference. */
  quantize(jobs: readonly QuantizeJob[]): Promise<QuantResult[]>;
}

let gpuProvider: (() => Promise<QuantizeBackend | undefined>) | undefined;
let gpuBackend: Promise<QuantizeBackend | undefined> | undefined;

/**
 * Register how `device: "auto" | "gpu"` finds a GPU backend; `gpu/mod.ts`
 * does this when imported (and `mod.ts` imports it).
 *
 * @example
 * ```ts ignore
 * registerGpuProvider(async () => undefined); // pretend there is no GPU
 * ```
 */
export function registerGpuProvider(provider: () => Promise<QuantizeBackend | undefined>): void {
  gpuProvider = provider;
  gpuBackend = undefined;
}

/** Which device runs the quantization. */
export type QuantizeDevice = "auto" | "gpu" | "cpu" | QuantizeBackend;

/**
 * Resolve a device choice to a backend (undefined = the CPU reference).
 * `gpu` takes any adapter and without one is a `UsageError`; `auto` takes
 * only a hardware adapter and otherwise the CPU (`deviceLabel` in gpu/ says
 * which, and why).
 *
 * @example
 * ```ts
 * import { resolveDevice } from "./quantize.ts";
 * console.log(await resolveDevice("cpu")); // undefined
 * ```
 */
export async function resolveDevice(device: QuantizeDevice): Promise<QuantizeBackend | undefined> {
  if (typeof device === "object") return device;
  if (device === "cpu") return undefined;
  if (device !== "auto" && device !== "gpu") {
    throw new UsageError(`Unknown device '${String(device)}'; use auto, gpu or cpu`);
  }
  gpuBackend ??= gpuProvider ? gpuProvider().catch(() => undefined) : Promise.resolve(undefined);
  const backend = await gpuBackend;
  if (backend && (device === "gpu" || backend.kind !== "software")) return backend;
  if (device === "gpu") {
    throw new UsageError("No WebGPU adapter is available; use --device cpu (or auto to fall back)");
  }
  return undefined;
}

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

/** Options for {@linkcode quantize}. */
export interface QuantizeOptions {
  /** Scheme name (`F16`, `BF16`, `F8_E4M3`, `F8_E5M2`, `int8`, `minmax1`…`minmax8`, `Q8_0`, `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `NF4`, `FP4`). */
  scheme: string;
  /** int8: one scale (and zero point) per channel along `axis`. @default false */
  perChannel?: boolean;
  /** Channel axis for `perChannel`; negative counts from the end. @default 0 */
  axis?: number;
  /** int8: affine quint8 with a zero point instead of symmetric qint8. @default false */
  affine?: boolean;
  /** int8: PyTorch's reduce_range (one bit less). @default false */
  reduceRange?: boolean;
  /** FP8: clamp out-of-range values to the largest finite one (ONNX saturate=1). @default false */
  saturate?: boolean;
  /** NF4/FP4: quantize the per-block absmax values too. @default false */
  doubleQuant?: boolean;
  /** Only quantize tensors whose name matches. @default every tensor */
  include?: RegExp;
  /** Never quantize tensors whose name matches. @default none */
  exclude?: RegExp;
  /** Keep tensors of rank below 2 (biases, norms) as they are. @default true */
  keep1d?: boolean;
  /** Where to run. @default "auto" */
  device?: QuantizeDevice;
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

function test(pattern: RegExp, name: string): boolean {
  pattern.lastIndex = 0;
  return pattern.test(name);
}

function settingsOf(options: Omit<QuantRecord, "scheme" | "dtype" | "shape">): QuantSettings {
  return {
    perChannel: options.perChannel ?? DEFAULT_SETTINGS.perChannel,
    axis: options.axis ?? DEFAULT_SETTINGS.axis,
    affine: options.affine ?? DEFAULT_SETTINGS.affine,
    reduceRange: options.reduceRange ?? DEFAULT_SETTINGS.reduceRange,
    saturate: options.saturate ?? DEFAULT_SETTINGS.saturate,
    doubleQuant: options.doubleQuant ?? DEFAULT_SETTINGS.doubleQuant,
  };
}

async function readF32(entry: TensorEntry, count: number): Promise<Float32Array> {
  const bytes = await entry.read();
  if (entry.dtype === "F32") {
    // A view, not a copy: schemes only read their input, and a fresh
    // tensor-sized copy costs as much as quantizing it.
    const a = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
    return new Float32Array(a.buffer, a.byteOffset, count);
  }
  const out = castBytes(bytes, entry.dtype, "F32", count);
  return new Float32Array(out.buffer, out.byteOffset, count);
}

/** Bytes of a quantized result: its codes and every companion. */
function resultBytes(result: QuantResult): number {
  return result.companions.reduce((sum, c) => sum + c.byteLength, result.data.byteLength);
}

/**
 * A quantized tensor's bytes for its main entry and companions, computed when
 * a part is first read and held until the others are read (or dropped, to be
 * computed again, when holding them would pass the transform's bound).
 */
class Group {
  readonly entry: TensorEntry;
  readonly plan: QuantPlan;
  readonly scheme: QuantScheme;
  #result?: Promise<QuantResult>;
  #unread: number;
  started = false;
  finished = false;
  /** The tensor's report was sent (a recomputation sends none). */
  reported = false;

  constructor(entry: TensorEntry, scheme: QuantScheme, plan: QuantPlan) {
    this.entry = entry;
    this.scheme = scheme;
    this.plan = plan;
    this.#unread = 1 + plan.companions.length;
  }

  set(result: Promise<QuantResult>): void {
    this.started = true;
    this.#result = result;
  }

  get result(): Promise<QuantResult> | undefined {
    return this.#result;
  }

  /** One part was read: true when others remain unread. */
  read(): boolean {
    if (--this.#unread > 0) return true;
    this.finished = true;
    this.#unread = 1 + this.plan.companions.length;
    this.drop();
    return false;
  }

  /** Forget the result; a later read computes it again. */
  drop(): void {
    this.#result = undefined;
    this.started = false;
  }
}

/**
 * Quantize the eligible tensors of a stream with one scheme.
 *
 * @example
 * ```ts
 * import { quantize } from "./quantize.ts";
 * import { tensorFromBytes } from "./tensor.ts";
 * const w = tensorFromBytes("w", "F32", [2, 32], new Uint8Array(new Float32Array(64).fill(1).buffer));
 * const out = quantize({ scheme: "int8", device: "cpu" })({ metadata: {}, tensors: [w] });
 * for await (const t of out.tensors) console.log(t.name, t.dtype, t.shape); // w I8 [2, 32], then w.scale F32 []
 * ```
 */
export function quantize(options: QuantizeOptions): Transform {
  const scheme = schemeByName(options.scheme);
  const settings = settingsOf(options);
  const keep1d = options.keep1d ?? true;
  const wantMetrics = options.metrics ?? options.onTensor !== undefined;
  const batchBytes = options.batchBytes ?? 64 * 2 ** 20;
  const heldLimit = options.heldBytes ?? 64 * 2 ** 20;
  const device = options.device ?? "auto";
  if (typeof device === "string" && !["auto", "gpu", "cpu"].includes(device)) {
    throw new UsageError(`Unknown device '${device}'; use auto, gpu or cpu`);
  }
  return (input: TensorStream): TensorStream => {
    const metadata = input.metadata;
    const records: Record<string, QuantRecord> = {};
    const groups: Group[] = [];
    // Results kept for parts not yet read, and their total size.
    const held = new Map<Group, number>();
    let heldBytes = 0;
    let backend: Promise<QuantizeBackend | undefined> | undefined;

    const compute = async (first: Group): Promise<void> => {
      backend ??= resolveDevice(device);
      const gpu = await backend;
      // On the GPU, batch the next groups not yet started, up to batchBytes:
      // only those after `first`, since earlier ones not started were dropped
      // and are read later, and results set now but unread are not counted.
      const batch = [first];
      if (gpu) {
        let bytes = first.plan.count * 4;
        for (let k = groups.indexOf(first) + 1; k > 0 && k < groups.length; k++) {
          const g = groups[k];
          if (g.started || g.finished) continue;
          if (bytes + g.plan.count * 4 > batchBytes || batch.length >= 512) break;
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
        if (!gpu) return batch.map((g, i) => g.scheme.quantize(g.plan, values[i]));
        return await gpu.quantize(
          batch.map((g, i) => ({ scheme: g.scheme, plan: g.plan, values: values[i] })),
        );
      })();
      batch.forEach((g, i) => {
        g.set((async () => {
          const results = await shared;
          const result = results[i];
          if (options.onTensor && !g.reported) {
            g.reported = true;
            const values = (await valuesReady)[i];
            let metrics: ErrorMetrics | undefined;
            if (wantMetrics) {
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
              device: gpu ? "gpu" : "cpu",
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
      const size = held.get(group);
      if (size !== undefined) {
        held.delete(group);
        heldBytes -= size;
      }
      if (group.read()) {
        const resultSize = resultBytes(result);
        if (heldBytes + resultSize <= heldLimit) {
          held.set(group, resultSize);
          heldBytes += resultSize;
        } else {
          group.drop();
        }
      }
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

    return {
      metadata,
      tensors: (async function* () {
        for await (const entry of input.tensors) {
          if (entry.encoding) {
            yield keep(entry, `already ${entry.encoding}`);
            continue;
          }
          if (!isFloatDType(entry.dtype)) {
            yield keep(entry, `${entry.dtype} is not floating point`);
            continue;
          }
          if (options.include && !test(options.include, entry.name)) {
            yield keep(entry, "not included");
            continue;
          }
          if (options.exclude && test(options.exclude, entry.name)) {
            yield keep(entry, "excluded");
            continue;
          }
          if (keep1d && entry.shape.length < 2) {
            yield keep(entry, NORM_NAME.test(entry.name) ? "bias or norm" : `rank ${entry.shape.length}`);
            continue;
          }
          const why = scheme.unsupported(entry.shape, settings);
          if (why) {
            yield keep(entry, why);
            continue;
          }
          if (scheme.storage === "cast" && entry.dtype === scheme.name) {
            yield keep(entry, `already ${entry.dtype}`);
            continue;
          }
          const plan = scheme.plan(entry.shape, settings);
          const group = new Group(entry, scheme, plan);
          groups.push(group);
          if (scheme.storage !== "ggml") {
            const record: QuantRecord = { scheme: scheme.name, dtype: entry.dtype, shape: [...entry.shape] };
            if (plan.axis >= 0) {
              record.perChannel = true;
              record.axis = plan.axis;
            }
            if (settings.affine && scheme.name === "int8") record.affine = true;
            if (settings.reduceRange && scheme.name === "int8") record.reduceRange = true;
            if (settings.saturate && scheme.storage === "cast") record.saturate = true;
            if (settings.doubleQuant && (scheme.name === "NF4" || scheme.name === "FP4")) {
              record.doubleQuant = true;
            }
            records[entry.name] = record;
            metadata[QUANTIZATION_METADATA_KEY] = JSON.stringify(records);
          }
          const main: TensorEntry = {
            name: entry.name,
            dtype: plan.dtype,
            shape: plan.outShape,
            byteLength: plan.byteLength,
            ...(scheme.storage === "ggml" ? { encoding: scheme.name } : {}),
            read: part(group, -1),
          };
          yield main;
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
          // Groups whose bytes were handed out are no longer batch candidates.
          while (groups.length > 4096) groups.shift();
        }
      })(),
    };
  };
}

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
 * import { hasQuantizedTensors } from "./quantize.ts";
 * console.log(hasQuantizedTensors({ metadata: {}, tensors: [] })); // false
 * ```
 */
export function hasQuantizedTensors(file: { metadata: Record<string, string>; tensors: unknown }): boolean {
  if (QUANTIZATION_METADATA_KEY in file.metadata) return true;
  return Array.isArray(file.tensors) && file.tensors.some((t: TensorEntry) => t.encoding !== undefined);
}

function parseRecords(metadata: Record<string, string>): Record<string, QuantRecord> {
  const text = metadata[QUANTIZATION_METADATA_KEY];
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FormatError(`Cannot parse the ${QUANTIZATION_METADATA_KEY} metadata: invalid JSON`, {
      cause: error,
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FormatError(`Cannot parse the ${QUANTIZATION_METADATA_KEY} metadata: expected a JSON object`);
  }
  const records = parsed as Record<string, QuantRecord>;
  for (const [name, r] of Object.entries(records)) {
    const ok = typeof r === "object" && r !== null && typeof r.scheme === "string" && isDType(r.dtype) &&
      Array.isArray(r.shape) && r.shape.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!ok) throw new FormatError(`Cannot parse the ${QUANTIZATION_METADATA_KEY} entry for '${name}'`);
    if (!SCHEMES.some((s) => s.name === r.scheme)) {
      throw new FormatError(`Tensor '${name}' was quantized with an unknown scheme '${r.scheme}'`);
    }
  }
  return records;
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
 * import { dequantize, quantize } from "./quantize.ts";
 * import { pipe } from "./pipeline.ts";
 * import { tensorFromBytes } from "./tensor.ts";
 * const w = tensorFromBytes("w", "F32", [2, 32], new Uint8Array(new Float32Array(64).fill(1).buffer));
 * const q = pipe({ metadata: {}, tensors: [w] }, quantize({ scheme: "NF4", device: "cpu" }));
 * const names = [];
 * for await (const t of dequantize()(q).tensors) names.push(t.name);
 * console.log(names); // ["w"]
 * ```
 */
export function dequantize(options: DequantizeOptions = {}): Transform {
  if (options.dtype && !isFloatDType(options.dtype)) {
    throw new UsageError(`Cannot dequantize to ${options.dtype}: only floating-point dtypes are allowed`);
  }
  return (input: TensorStream): TensorStream => {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(input.metadata)) if (k !== QUANTIZATION_METADATA_KEY) metadata[k] = v;
    return {
      metadata,
      tensors: (async function* () {
        const entries: TensorEntry[] = [];
        for await (const e of input.tensors) entries.push(e);
        const records = parseRecords(input.metadata);
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
            yield {
              name: entry.name,
              dtype,
              shape: record.shape,
              byteLength: byteLengthOf(dtype, record.shape),
              async read(out?: Uint8Array): Promise<Uint8Array> {
                const data = await entry.read();
                const parts: Uint8Array[] = [];
                for (const c of plan.companions) parts.push(await byName.get(entry.name + c.suffix)!.read());
                return finalize(scheme.dequantize(plan, { data, companions: parts }), dtype, out);
              },
            };
            continue;
          }
          if (entry.encoding) {
            yield blockEntry(entry, options.dtype ?? "F32");
            continue;
          }
          yield entry;
        }
      })(),
    };
  };
}

function blockEntry(entry: TensorEntry, dtype: DType): TensorEntry {
  const count = elementCount(entry.shape);
  requireLength(entry, ggmlByteLength(entry.encoding!, entry.shape), `its ${entry.encoding} data`);
  return {
    name: entry.name,
    dtype,
    shape: entry.shape,
    byteLength: byteLengthOf(dtype, entry.shape),
    async read(out?: Uint8Array): Promise<Uint8Array> {
      const values = dequantizeBlocks(entry.encoding!, await entry.read(), count);
      return finalize(values, dtype, out);
    },
  };
}
