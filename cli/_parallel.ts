// Shard-parallel conversion: each shard of a sharded safetensors checkpoint
// is converted (or quantized) on its own, in a pool of Deno Workers bounded
// by `jobs`. Workers get a plain job description (paths and transform
// settings), never closures. Output shards are staged under hidden names and
// renamed into place only when every shard is done, so a failure or SIGINT
// leaves the destination as it was. A shard's bytes depend only on that
// shard, so the output equals a serial run, and equals converting each shard
// file alone with `ckpt convert` (how a fleet fans the work out).

import { abortAllSinks, fileSink, onInterrupt, withSink } from "../lib/byte_sink.ts";
import { fileSource } from "../lib/byte_source.ts";
import { basename, dirname, join, refuseInputs } from "../lib/paths.ts";
import { isDType, isFloatDType } from "../lib/dtype.ts";
import { FormatError, LimitError, TruncatedError, UnsafePickleError, UsageError } from "../lib/errors.ts";
import { cast, exclude, include, pipe, type Transform } from "../lib/pipeline.ts";
import { dequantize, hasQuantizedTensors, quantize } from "../lib/quantize.ts";
import { openSafetensors, parseSafetensorsIndex, writeSafetensors } from "../formats/safetensors/mod.ts";

/** Quantization settings a worker can rebuild (no functions, no device objects). */
export interface ShardQuantizeSpec {
  /** Scheme name, e.g. `int8`, `NF4`, `F16` (ggml block schemes need GGUF and are refused). */
  scheme: string;
  /** @default false */
  perChannel?: boolean;
  /** @default 0 */
  axis?: number;
  /** @default false */
  affine?: boolean;
  /** @default false */
  reduceRange?: boolean;
  /** @default false */
  saturate?: boolean;
  /** @default false */
  doubleQuant?: boolean;
  /** Keep tensors of rank below 2 as they are. @default true */
  keep1d?: boolean;
  /** Only quantize tensors whose name matches this regular expression source. @default every tensor */
  include?: string;
  /** Never quantize tensors whose name matches this regular expression source. @default none */
  exclude?: string;
}

/** What to do to every shard, as data a worker can receive. */
export interface ShardTransformSpec {
  /** Keep only tensors whose name matches this regular expression source. @default all */
  include?: string;
  /** Drop tensors whose name matches this regular expression source. @default none */
  exclude?: string;
  /** Cast floating-point tensors to this dtype. @default unchanged */
  dtype?: string;
  /** Quantize with these settings (after include/exclude/dtype). @default none */
  quantize?: ShardQuantizeSpec;
}

/** One shard's job, sent to a worker. */
export interface ShardJob {
  /** Index of the job, for replies. */
  readonly id: number;
  /** Input shard path. */
  readonly input: string;
  /** Where the output shard is staged (renamed into place by the coordinator). */
  readonly output: string;
  /** The transforms. */
  readonly transforms: ShardTransformSpec;
}

/** Options for {@linkcode convertShards}. */
export interface ConvertShardsOptions {
  /** Most shards converted at once (1 converts in this thread, no workers). @default navigator.hardwareConcurrency */
  jobs?: number;
  /** The transforms applied to every shard. @default none */
  transforms?: ShardTransformSpec;
  /** Called when a shard is done, with its output path. @default none */
  onShard?: (output: string, done: number, total: number) => void;
}

/** What {@linkcode convertShards} wrote. */
export interface ConvertShardsResult {
  /** The output index. */
  readonly index: string;
  /** The output shards, in order. */
  readonly shards: readonly string[];
  /** Tensors written. */
  readonly tensors: number;
  /** Bytes of tensor data written. */
  readonly bytes: number;
}

function regex(option: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (error) {
    throw new UsageError(`Invalid ${option} pattern '${source}': ${(error as Error).message}`);
  }
}

/**
 * The transforms a spec describes, in the order `ckpt convert` and
 * `ckpt quantize` apply them.
 */
export function shardTransforms(spec: ShardTransformSpec): Transform[] {
  const transforms: Transform[] = [];
  if (spec.include !== undefined) transforms.push(include(regex("--include", spec.include)));
  if (spec.exclude !== undefined) transforms.push(exclude(regex("--exclude", spec.exclude)));
  if (spec.dtype !== undefined) {
    const dtype = spec.dtype.toUpperCase();
    if (!isDType(dtype) || !isFloatDType(dtype)) {
      throw new UsageError(
        `Cannot cast to '${spec.dtype}': use a floating-point dtype such as F16, BF16 or F32`,
      );
    }
    transforms.push(cast(dtype));
  }
  const q = spec.quantize;
  if (q) {
    transforms.push(quantize({
      scheme: q.scheme,
      perChannel: q.perChannel,
      axis: q.axis,
      affine: q.affine,
      reduceRange: q.reduceRange,
      saturate: q.saturate,
      doubleQuant: q.doubleQuant,
      keep1d: q.keep1d,
      include: q.include !== undefined ? regex("--include", q.include) : undefined,
      exclude: q.exclude !== undefined ? regex("--exclude", q.exclude) : undefined,
      device: "cpu",
    }));
  }
  return transforms;
}

/** Convert one shard file to one safetensors file (the work of one job). */
export async function convertShard(job: Omit<ShardJob, "id">): Promise<{ tensors: number; bytes: number }> {
  const source = await fileSource(job.input);
  let tensors = 0;
  let bytes = 0;
  try {
    const file = await openSafetensors(source);
    const transforms = shardTransforms(job.transforms);
    // Quantized input is dequantized first, as `ckpt convert` does.
    if (hasQuantizedTensors(file) && job.transforms.quantize === undefined) transforms.unshift(dequantize());
    const stream = pipe(file, ...transforms, (s) => ({
      metadata: s.metadata,
      tensors: (async function* () {
        for await (const entry of s.tensors) {
          tensors++;
          bytes += entry.byteLength;
          yield entry;
        }
      })(),
    }));
    await withSink(
      await fileSink(job.output, { protect: [job.input] }),
      (sink) => writeSafetensors(stream, sink),
    );
  } finally {
    await source.close();
  }
  return { tensors, bytes };
}

// Index keys sorted by their UTF-8 bytes, as the safetensors writers sort them.
function compareUtf8(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

const ERRORS: Record<string, (message: string) => Error> = {
  FormatError: (m) => new FormatError(m),
  LimitError: (m) => new LimitError(m),
  TruncatedError: (m) => new TruncatedError(m),
  UsageError: (m) => new UsageError(m),
  UnsafePickleError: (m) => new UnsafePickleError([], m),
  TypeError: (m) => new TypeError(m),
  RangeError: (m) => new RangeError(m),
};

/** Rebuild an error sent from a worker as its own class, so the CLI maps it to the same exit code. */
function revive(error: { name: string; message: string; stack?: string }): Error {
  const made = (ERRORS[error.name] ?? ((m: string) => new Error(m)))(error.message);
  if (error.stack) made.stack = error.stack;
  return made;
}

interface WorkerSlot {
  worker: Worker;
  busy: boolean;
}

async function runInWorkers(
  jobs: ShardJob[],
  width: number,
  onDone: (job: ShardJob, result: { tensors: number; bytes: number }) => void,
): Promise<void> {
  const queue = [...jobs];
  const slots: WorkerSlot[] = [];
  let failure: Error | undefined;
  const aborted = (slot: WorkerSlot) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      slot.worker.addEventListener("message", (event: MessageEvent) => {
        if (event.data?.type === "aborted") {
          clearTimeout(timer);
          resolve();
        }
      });
      slot.worker.postMessage({ type: "abort" });
    });
  // On SIGINT, each worker removes its own temporaries before the process exits.
  const forget = onInterrupt(async () => {
    await Promise.all(slots.map(aborted));
  });
  try {
    await new Promise<void>((resolve) => {
      let running = 0;
      const next = (slot: WorkerSlot) => {
        const job = failure ? undefined : queue.shift();
        if (!job) {
          slot.busy = false;
          if (running === 0) resolve();
          return;
        }
        slot.busy = true;
        running++;
        slot.worker.postMessage({ type: "job", job });
      };
      for (let i = 0; i < Math.min(width, jobs.length); i++) {
        const worker = new Worker(new URL("./_shard_worker.ts", import.meta.url).href, { type: "module" });
        const slot: WorkerSlot = { worker, busy: false };
        slots.push(slot);
        worker.onmessage = (event: MessageEvent) => {
          const data = event.data;
          if (data.type === "done") {
            running--;
            onDone(jobs[data.id], data.result);
            next(slot);
          } else if (data.type === "error") {
            running--;
            failure ??= revive(data.error);
            next(slot);
          }
        };
        worker.onerror = (event: ErrorEvent) => {
          event.preventDefault();
          running--;
          failure ??= new Error(`A shard worker failed: ${event.message}`);
          next(slot);
        };
        next(slot);
      }
      if (jobs.length === 0) resolve();
    });
  } finally {
    forget();
    for (const slot of slots) slot.worker.terminate();
  }
  if (failure) throw failure;
}

/**
 * Convert every shard of a sharded safetensors checkpoint
 * (`*.safetensors.index.json`) to a new sharded checkpoint at `outIndex`,
 * one output shard per input shard, `jobs` shards at a time in Workers.
 * The bytes equal a serial run's (`jobs: 1`) and each output shard equals
 * `ckpt convert` of its input shard alone. Nothing appears under the output
 * names until every shard is done.
 *
 * @example
 * ```ts ignore
 * import { convertShards } from "./_parallel.ts";
 * const result = await convertShards("in/model.safetensors.index.json", "out/model.safetensors.index.json", {
 *   jobs: 4,
 *   transforms: { dtype: "BF16" },
 * });
 * console.log(result.shards.length);
 * ```
 */
export async function convertShards(
  indexPath: string,
  outIndex: string,
  options: ConvertShardsOptions = {},
): Promise<ConvertShardsResult> {
  if (!/\.safetensors\.index\.json$/i.test(outIndex)) {
    throw new UsageError(`Shard-parallel output must be a .safetensors.index.json path, not '${outIndex}'`);
  }
  const jobs = options.jobs ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError(`Invalid number of jobs ${jobs}: use a positive integer`);
  }
  const transforms = options.transforms ?? {};
  shardTransforms(transforms); // refuse bad settings before any work
  const map = parseSafetensorsIndex(await Deno.readTextFile(indexPath), indexPath);
  const inDir = dirname(indexPath);
  const shardNames = [...new Set(map.values())].sort(compareUtf8);
  const inputs = shardNames.map((name) => join(inDir, name));
  const outDir = dirname(outIndex);
  const stem = basename(outIndex).replace(/\.safetensors\.index\.json$/i, "");
  const pad = (n: number) => String(n).padStart(5, "0");
  const outNames = shardNames.map((_, i) => `${stem}-${pad(i + 1)}-of-${pad(shardNames.length)}.safetensors`);
  const finals = outNames.map((name) => join(outDir, name));
  await refuseInputs([...finals, outIndex], [indexPath, ...inputs]);
  const tag = crypto.randomUUID().slice(0, 8);
  const staged = finals.map((path) => join(outDir, `.${basename(path)}.${tag}.staged`));
  const stagedIndex = join(outDir, `.${basename(outIndex)}.${tag}.staged`);
  const removeStaged = () => {
    for (const path of [...staged, stagedIndex]) {
      try {
        Deno.removeSync(path);
      } catch {
        // Not written yet.
      }
    }
  };
  const forget = onInterrupt(removeStaged);
  const list: ShardJob[] = inputs.map((input, id) => ({ id, input, output: staged[id], transforms }));
  let tensors = 0;
  let bytes = 0;
  let done = 0;
  const onDone = (job: ShardJob, result: { tensors: number; bytes: number }) => {
    tensors += result.tensors;
    bytes += result.bytes;
    options.onShard?.(finals[job.id], ++done, list.length);
  };
  try {
    if (jobs === 1) {
      for (const job of list) onDone(job, await convertShard(job));
    } else {
      await runInWorkers(list, jobs, onDone);
    }
    // The index lists every output tensor by its shard, as the serial sharded writer does.
    const weightMap: Record<string, string> = {};
    const entries: [string, string][] = [];
    let totalSize = 0;
    for (let i = 0; i < staged.length; i++) {
      const shard = await openSafetensors(await fileSource(staged[i]));
      try {
        for (const t of shard.tensors) {
          entries.push([t.name, outNames[i]]);
          totalSize += t.byteLength;
        }
      } finally {
        await shard.close();
      }
    }
    entries.sort((a, b) => compareUtf8(a[0], b[0]));
    for (const [name, file] of entries) {
      Object.defineProperty(weightMap, name, { value: file, enumerable: true });
    }
    const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
    await withSink(
      await fileSink(stagedIndex),
      (sink) => sink.write(new TextEncoder().encode(`${JSON.stringify(index, null, 2)}\n`)),
    );
    for (let i = 0; i < staged.length; i++) await Deno.rename(staged[i], finals[i]);
    await Deno.rename(stagedIndex, outIndex);
  } catch (error) {
    await abortAllSinksOf(jobs);
    removeStaged();
    throw error;
  } finally {
    forget();
  }
  return { index: outIndex, shards: finals, tensors, bytes };
}

// A failed serial run may leave this thread's sinks open (withSink aborts
// them, so this is a no-op unless a job was cut short); workers clean their own.
async function abortAllSinksOf(jobs: number): Promise<void> {
  if (jobs === 1) await abortAllSinks();
}

/**
 * `ckpt convert|quantize IN.safetensors.index.json OUT.safetensors.index.json --jobs N`:
 * check the shared options (`jobs`, `max-shard-size`, `quiet`), apply
 * `transforms` to every shard, print one line.
 */
export async function convertShardsCommand(
  input: string,
  output: string,
  values: Record<string, unknown>,
  transforms: ShardTransformSpec,
): Promise<number> {
  const text = (key: string) => (typeof values[key] === "string" ? values[key] as string : undefined);
  const jobsText = text("jobs") ?? "auto";
  const jobs = jobsText === "auto" ? navigator.hardwareConcurrency : Number(jobsText);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError(`Invalid --jobs '${jobsText}': use a positive integer or 'auto'`);
  }
  if (!/\.index\.json$/i.test(input)) {
    throw new UsageError(`--jobs needs a sharded input (a .safetensors.index.json), not '${input}'`);
  }
  if (text("max-shard-size") !== undefined) {
    throw new UsageError(
      "--jobs keeps the input's shards (one output shard per input shard); drop --max-shard-size",
    );
  }
  const started = performance.now();
  const result = await convertShards(input, output, {
    jobs,
    transforms,
  });
  if (values.quiet !== true) {
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    console.log(
      `${output}: ${result.shards.length} shards, ${result.tensors} tensors, ${result.bytes} bytes of tensor data written in ${seconds} s with ${jobs} jobs`,
    );
  }
  return 0;
}
