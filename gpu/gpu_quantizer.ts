/**
 * Runs quantization schemes' WGSL kernels on a WebGPU device: pipelines
 * compiled once, tensors packed into chunks that fit the device's binding
 * limits, several chunks in flight at once (uploads, dispatches and
 * read-backs overlap), every buffer destroyed when its chunk is done.
 *
 * @module
 */

import type { QuantPlan, QuantResult, QuantScheme, UnitKernel } from "../lib/quant/scheme.ts";
import { decodeMinMaxKeys, initialMinMaxKeys, MIN_MAX_KERNEL } from "../lib/quant/_stats.ts";
import { LimitError } from "../lib/errors.ts";
import { type AdapterClass, classifyAdapter } from "./adapter_kind.ts";

/** One tensor to quantize. */
export interface GpuJob {
  /** The scheme. */
  readonly scheme: QuantScheme;
  /** Its plan for the tensor. */
  readonly plan: QuantPlan;
  /** The tensor's values (exactly `plan.count`). */
  readonly values: Float32Array;
}

/** Options for {@linkcode GpuQuantizer}. */
export interface GpuQuantizerOptions {
  /**
   * Largest input chunk in bytes (capped by the device's binding limit).
   * @default 32 MiB on hardware, 16 MiB on a software adapter
   */
  maxChunkBytes?: number;
  /**
   * Bytes in flight (inputs, outputs and read-backs of the chunks submitted
   * and not yet read back): about what the device and its staging hold at
   * once, whatever the model's size. A software adapter keeps them in host
   * memory, so it gets less.
   * @default 128 MiB on hardware, 64 MiB on a software adapter
   */
  maxInFlightBytes?: number;
}

const WORKGROUP = 64;
const MAX_GROUPS = 65535;
const PARAMS_BYTES = 48;

interface Segment {
  job: number;
  /** First unit of the job in this segment. */
  unit: number;
  units: number;
  /** First unit of the segment within the chunk. */
  at: number;
}

// Typed arrays here never sit on a SharedArrayBuffer; WebGPU's types ask to be told.
function source(view: Float32Array | Uint32Array): BufferSource {
  return view as ArrayBufferView<ArrayBuffer>;
}

interface Prepared {
  /** Input elements of the chunk (the buffer's size; what no write covers stays zero). */
  elements: number;
  /** Pieces of tensors to write straight from their arrays: (values, first element, count, at element). */
  writes: [Float32Array, number, number, number][];
  side: Uint32Array | undefined;
  base: number;
  count: number;
  channels: number;
  inner: number;
}

interface Chunk {
  kernel: UnitKernel;
  uniforms: [number, number];
  segments: Segment[];
  units: number;
}

/**
 * Quantizes tensors on a GPU device, with results byte-identical to each
 * scheme's CPU reference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GpuQuantizer } from "./gpu_quantizer.ts";
 * import { schemeByName } from "../lib/quant/schemes.ts";
 * import { settingsOf } from "../lib/quant/spec.ts";
 * const gpu = await GpuQuantizer.create();
 * if (gpu) {
 *   const scheme = schemeByName("Q8_0");
 *   const plan = scheme.plan([64], settingsOf({}));
 *   const values = new Float32Array(64).map((_, i) => Math.sin(i));
 *   const [result] = await gpu.quantize([{ scheme, plan, values }]);
 *   assert.deepEqual(result.data, scheme.quantize(plan, values).data); // the CPU reference's bytes
 *   gpu.destroy();
 * }
 * ```
 */
export class GpuQuantizer {
  #device: GPUDevice;
  #layout: GPUBindGroupLayout;
  #pipelineLayout: GPUPipelineLayout;
  #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  #live = 0;
  #chunkBytes: number;
  #inFlightBytes: number;
  /** Description of the adapter, for notices and reports. */
  readonly adapterName: string;
  /** Whether the adapter is hardware or a software rasterizer, and why. */
  readonly adapter: AdapterClass;

  private constructor(device: GPUDevice, adapter: AdapterClass, options: GpuQuantizerOptions) {
    this.#device = device;
    this.adapter = adapter;
    this.adapterName = adapter.name;
    const limits = device.limits;
    const binding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    const software = adapter.kind === "software";
    this.#chunkBytes = Math.max(
      4096,
      Math.min(options.maxChunkBytes ?? (software ? 16 : 32) * 2 ** 20, binding),
    );
    this.#inFlightBytes = Math.max(
      this.#chunkBytes,
      options.maxInFlightBytes ?? (software ? 64 : 128) * 2 ** 20,
    );
    const entry = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type },
    });
    this.#layout = device.createBindGroupLayout({
      entries: [entry(0, "read-only-storage"), entry(1, "storage"), entry(2, "uniform"), entry(3, "storage")],
    });
    this.#pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [this.#layout] });
  }

  /**
   * Open the first adapter with its largest buffer limits, or resolve to
   * `undefined` when WebGPU has no adapter.
   */
  static async create(options: GpuQuantizerOptions = {}): Promise<GpuQuantizer | undefined> {
    const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
    if (!gpu) return undefined;
    const adapter = await gpu.requestAdapter();
    if (!adapter) return undefined;
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
    return new GpuQuantizer(device, classifyAdapter(adapter.info ?? {}), options);
  }

  /** Buffers created and not yet destroyed (returns to 0 between calls). */
  get liveBuffers(): number {
    return this.#live;
  }

  /** Release the device. */
  destroy(): void {
    this.#device.destroy();
  }

  /** Quantize several tensors; results in job order. */
  async quantize(jobs: readonly GpuJob[]): Promise<QuantResult[]> {
    for (const job of jobs) {
      if (job.plan.count >= 2 ** 31) {
        throw new LimitError(
          `Cannot quantize ${job.plan.count} elements on the GPU: more than 2^31 in one tensor`,
          { limit: 2 ** 31, actual: job.plan.count },
        );
      }
    }
    const results: QuantResult[] = new Array(jobs.length);
    const unitJobs: number[] = [];
    const statJobs: number[] = [];
    jobs.forEach((job, i) => {
      if (job.plan.count === 0) {
        results[i] = job.scheme.quantize(job.plan, job.values);
      } else if (job.scheme.gpu.kind === "units") unitJobs.push(i);
      else statJobs.push(i);
    });
    if (unitJobs.length) await this.#runUnits(jobs, unitJobs, results);
    if (statJobs.length) await this.#runStats(jobs, statJobs, results);
    return results;
  }

  #pipeline(kernel: UnitKernel): Promise<GPUComputePipeline> {
    let p = this.#pipelines.get(kernel.wgsl);
    if (!p) {
      p = (async () => {
        const module = this.#device.createShaderModule({ code: kernel.wgsl });
        const info = await module.getCompilationInfo();
        const errors = info.messages.filter((m) => m.type === "error");
        if (errors.length) {
          throw new Error(
            `WGSL compilation failed: ${errors.map((m) => `${m.lineNum}: ${m.message}`).join("; ")}`,
          );
        }
        return this.#device.createComputePipeline({
          layout: this.#pipelineLayout,
          compute: { module, entryPoint: "main" },
        });
      })();
      this.#pipelines.set(kernel.wgsl, p);
    }
    return p;
  }

  #buffer(size: number, usage: number): GPUBuffer {
    this.#live++;
    return this.#device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage });
  }

  #free(buffers: GPUBuffer[]): void {
    for (const b of buffers) {
      b.destroy();
      this.#live--;
    }
  }

  #unitsPerChunk(kernel: UnitKernel): number {
    const perUnit = Math.max(kernel.unitElems * 4, kernel.unitWords * 4, kernel.auxPerUnit * 4);
    // Whole multiples of 64 units keep every chunk boundary 256-byte aligned.
    return Math.max(64, Math.floor(this.#chunkBytes / perUnit / 64) * 64);
  }

  async #runUnits(jobs: readonly GpuJob[], order: number[], results: QuantResult[]): Promise<void> {
    // Pack consecutive jobs of the same kernel and uniforms into chunks.
    const chunks: Chunk[] = [];
    const outputs = new Map<number, { data: Uint8Array; aux?: Uint32Array }>();
    let current: Chunk | undefined;
    for (const j of order) {
      const job = jobs[j];
      const program = job.scheme.gpu;
      if (program.kind !== "units") continue;
      const kernel = program.kernel;
      const uniforms = program.uniforms?.(job.plan) ?? [0, 0];
      const totalUnits = Math.ceil(job.plan.count / kernel.unitElems);
      outputs.set(j, {
        data: new Uint8Array(totalUnits * kernel.unitWords * 4),
        aux: kernel.auxPerUnit ? new Uint32Array(totalUnits * kernel.auxPerUnit) : undefined,
      });
      const cap = this.#unitsPerChunk(kernel);
      let unit = 0;
      while (unit < totalUnits) {
        if (
          !current || current.kernel !== kernel || current.uniforms[0] !== uniforms[0] ||
          current.uniforms[1] !== uniforms[1] || current.units >= cap
        ) {
          current = { kernel, uniforms, segments: [], units: 0 };
          chunks.push(current);
        }
        const take = Math.min(totalUnits - unit, cap - current.units);
        current.segments.push({ job: j, unit, units: take, at: current.units });
        current.units += take;
        unit += take;
      }
    }
    await this.#pipelined(chunks, (chunk) => {
      const k = chunk.kernel;
      const elements = chunk.units * k.unitElems;
      const writes: Prepared["writes"] = chunk.segments.map((s) => {
        const values = jobs[s.job].values;
        const from = s.unit * k.unitElems;
        const to = Math.min(values.length, (s.unit + s.units) * k.unitElems);
        return [values, from, to - from, s.at * k.unitElems];
      });
      return { elements, writes, side: undefined, base: 0, count: elements, channels: 1, inner: 1 };
    }, (chunk, out, aux) => {
      const k = chunk.kernel;
      for (const s of chunk.segments) {
        const o = outputs.get(s.job)!;
        o.data.set(
          new Uint8Array(out.buffer, out.byteOffset + s.at * k.unitWords * 4, s.units * k.unitWords * 4),
          s.unit * k.unitWords * 4,
        );
        if (o.aux && aux) {
          o.aux.set(
            aux.subarray(s.at * k.auxPerUnit, (s.at + s.units) * k.auxPerUnit),
            s.unit * k.auxPerUnit,
          );
        }
      }
    });
    for (const j of order) {
      const job = jobs[j];
      const program = job.scheme.gpu;
      if (program.kind !== "units") continue;
      const o = outputs.get(j)!;
      results[j] = program.finish(job.plan, o.data.subarray(0, job.plan.byteLength), o.aux);
    }
  }

  async #runStats(jobs: readonly GpuJob[], order: number[], results: QuantResult[]): Promise<void> {
    // Pass 1: per-channel min/max keys for every job, all submitted before one wait.
    const keys = await this.#reduce(jobs, order);
    // Pass 2: host parameters, then the quantizing kernel chunk by chunk.
    const chunks: (Chunk & { side: Uint32Array; base: number; count: number })[] = [];
    const outputs = new Map<number, Uint8Array>();
    const companions = new Map<number, readonly Uint8Array[]>();
    for (const j of order) {
      const job = jobs[j];
      const program = job.scheme.gpu;
      if (program.kind !== "stats") continue;
      const { min, max } = decodeMinMaxKeys(keys.get(j)!, job.plan.channels);
      const params = program.params(job.plan, min, max);
      companions.set(j, params.companions);
      const kernel = program.kernel;
      const totalUnits = Math.ceil(job.plan.count / kernel.unitElems);
      outputs.set(j, new Uint8Array(totalUnits * kernel.unitWords * 4));
      const cap = this.#unitsPerChunk(kernel);
      for (let unit = 0; unit < totalUnits; unit += cap) {
        const units = Math.min(cap, totalUnits - unit);
        chunks.push({
          kernel,
          uniforms: program.uniforms(job.plan),
          segments: [{ job: j, unit, units, at: 0 }],
          units,
          side: params.side,
          base: unit * kernel.unitElems,
          count: Math.min(units * kernel.unitElems, job.plan.count - unit * kernel.unitElems),
        });
      }
    }
    await this.#pipelined(chunks, (chunk) => {
      const s = chunk.segments[0];
      const k = chunk.kernel;
      const values = jobs[s.job].values;
      const plan = jobs[s.job].plan;
      return {
        elements: chunk.units * k.unitElems,
        writes: [[values, chunk.base, chunk.count, 0]],
        side: chunk.side,
        base: chunk.base,
        count: chunk.count,
        channels: plan.channels,
        inner: plan.inner,
      };
    }, (chunk, out) => {
      const s = chunk.segments[0];
      const k = chunk.kernel;
      outputs.get(s.job)!.set(
        new Uint8Array(out.buffer, out.byteOffset, s.units * k.unitWords * 4),
        s.unit * k.unitWords * 4,
      );
    });
    for (const j of order) {
      const plan = jobs[j].plan;
      results[j] = { data: outputs.get(j)!.subarray(0, plan.byteLength), companions: companions.get(j)! };
    }
  }

  async #reduce(jobs: readonly GpuJob[], order: number[]): Promise<Map<number, Uint32Array>> {
    const device = this.#device;
    const pipeline = await this.#pipeline(MIN_MAX_KERNEL);
    const cap = this.#unitsPerChunk(MIN_MAX_KERNEL);
    const keys = new Map<number, Uint32Array>();
    let pending: { j: number; side: GPUBuffer; read: GPUBuffer }[] = [];
    let temporaries: GPUBuffer[] = [];
    let bytes = 0;
    const flush = async () => {
      await Promise.all(pending.map((p) => p.read.mapAsync(GPUMapMode.READ)));
      for (const p of pending) {
        keys.set(p.j, new Uint32Array(p.read.getMappedRange().slice(0, 8 * jobs[p.j].plan.channels)));
        p.read.unmap();
        this.#free([p.side, p.read]);
      }
      this.#free(temporaries);
      pending = [];
      temporaries = [];
      bytes = 0;
    };
    for (const j of order) {
      const job = jobs[j];
      const plan = job.plan;
      const sideBytes = 8 * plan.channels;
      const side = this.#buffer(
        sideBytes,
        GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      );
      device.queue.writeBuffer(side, 0, source(initialMinMaxKeys(plan.channels)));
      const encoder = device.createCommandEncoder();
      const totalUnits = Math.ceil(plan.count / MIN_MAX_KERNEL.unitElems);
      for (let unit = 0; unit < totalUnits; unit += cap) {
        const units = Math.min(cap, totalUnits - unit);
        const base = unit * MIN_MAX_KERNEL.unitElems;
        const count = Math.min(units * MIN_MAX_KERNEL.unitElems, plan.count - base);
        const input = this.#buffer(count * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        device.queue.writeBuffer(input, 0, source(job.values), base, count);
        const dummy = this.#buffer(16, GPUBufferUsage.STORAGE);
        const uniform = this.#uniform(units, base, count, plan.channels, plan.inner, [0, 0]);
        this.#dispatch(encoder, pipeline, [input, dummy, uniform, side], units);
        temporaries.push(input, dummy, uniform);
        bytes += count * 4;
      }
      const read = this.#buffer(sideBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      encoder.copyBufferToBuffer(side, 0, read, 0, Math.ceil(sideBytes / 16) * 16);
      device.queue.submit([encoder.finish()]);
      pending.push({ j, side, read });
      if (bytes >= this.#inFlightBytes) await flush();
    }
    if (pending.length || temporaries.length) await flush();
    return keys;
  }

  #uniform(
    units: number,
    base: number,
    count: number,
    channels: number,
    inner: number,
    uniforms: [number, number],
  ): GPUBuffer {
    const groups = Math.ceil(units / WORKGROUP);
    const x = Math.min(groups, MAX_GROUPS);
    const words = new Uint32Array(PARAMS_BYTES / 4);
    words.set([units, x * WORKGROUP, base, count, channels, inner, 0, uniforms[0] >>> 0, uniforms[1] >>> 0]);
    const buffer = this.#buffer(PARAMS_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.#device.queue.writeBuffer(buffer, 0, words);
    return buffer;
  }

  #dispatch(
    encoder: GPUCommandEncoder,
    pipeline: GPUComputePipeline,
    buffers: GPUBuffer[],
    units: number,
  ): void {
    const group = this.#device.createBindGroup({
      layout: this.#layout,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    const groups = Math.ceil(units / WORKGROUP);
    const x = Math.min(groups, MAX_GROUPS);
    pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    pass.end();
  }

  /**
   * Run chunks with several in flight: each chunk is uploaded, dispatched and
   * copied to a mappable buffer in its own submission; read-backs are awaited
   * in batches of `maxInFlightBytes`, while the next batch is being submitted.
   */
  async #pipelined<C extends Chunk>(
    chunks: C[],
    prepare: (chunk: C) => Prepared,
    collect: (chunk: C, out: Uint8Array, aux: Uint32Array | undefined) => void,
  ): Promise<void> {
    const device = this.#device;
    type Flight = { chunk: C; read: GPUBuffer; readAux?: GPUBuffer; buffers: GPUBuffer[]; outBytes: number };
    let batch: Flight[] = [];
    let batchBytes = 0;
    let previous: Promise<void> = Promise.resolve();
    const drain = async (flights: Flight[]) => {
      await Promise.all(flights.flatMap((f) => [
        f.read.mapAsync(GPUMapMode.READ),
        ...(f.readAux ? [f.readAux.mapAsync(GPUMapMode.READ)] : []),
      ]));
      for (const f of flights) {
        const out = new Uint8Array(f.read.getMappedRange(), 0, f.outBytes);
        const aux = f.readAux
          ? new Uint32Array(f.readAux.getMappedRange(), 0, f.chunk.units * f.chunk.kernel.auxPerUnit)
          : undefined;
        collect(f.chunk, out, aux);
        f.read.unmap();
        f.readAux?.unmap();
        this.#free(f.buffers);
      }
    };
    for (const chunk of chunks) {
      const k = chunk.kernel;
      const pipeline = await this.#pipeline(k);
      const { elements, writes, side, base, count, channels, inner } = prepare(chunk);
      const outBytes = chunk.units * k.unitWords * 4;
      const auxBytes = chunk.units * k.auxPerUnit * 4;
      // Written straight from the tensors' arrays (no host copy); a new
      // buffer is zeroed, which pads a short last unit.
      const inBuf = this.#buffer(elements * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      for (const [values, from, n, at] of writes) {
        if (n > 0) device.queue.writeBuffer(inBuf, at * 4, source(values), from, n);
      }
      const outBuf = this.#buffer(outBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      const sideBytes = side ? side.byteLength : auxBytes;
      const sideBuf = this.#buffer(
        sideBytes,
        GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      );
      if (side) device.queue.writeBuffer(sideBuf, 0, source(side));
      const uniform = this.#uniform(chunk.units, base, count, channels, inner, chunk.uniforms);
      const read = this.#buffer(outBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      const readAux = auxBytes
        ? this.#buffer(auxBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST)
        : undefined;
      const encoder = device.createCommandEncoder();
      this.#dispatch(encoder, pipeline, [inBuf, outBuf, uniform, sideBuf], chunk.units);
      encoder.copyBufferToBuffer(outBuf, 0, read, 0, Math.ceil(outBytes / 16) * 16);
      if (readAux) encoder.copyBufferToBuffer(sideBuf, 0, readAux, 0, Math.ceil(auxBytes / 16) * 16);
      device.queue.submit([encoder.finish()]);
      const buffers = [inBuf, outBuf, sideBuf, uniform, read, ...(readAux ? [readAux] : [])];
      batch.push({ chunk, read, readAux, buffers, outBytes });
      batchBytes += elements * 4 + outBytes + auxBytes;
      if (batchBytes >= this.#inFlightBytes / 2) {
        const flights = batch;
        batch = [];
        batchBytes = 0;
        await previous;
        previous = drain(flights);
      }
    }
    await previous;
    if (batch.length) await drain(batch);
  }
}
