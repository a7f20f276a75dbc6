/**
 * Shard-parallel conversion: each shard of a sharded safetensors checkpoint
 * is converted (or quantized) on its own, by a {@linkcode ShardRunner}: in
 * this thread one after another, or in a pool of Deno Workers. Jobs are plain
 * data (paths and a {@linkcode ConvertSpec}), never closures, and errors come
 * back whole. Output shards are staged under hidden names and renamed into
 * place only when every shard is done, so a failure or SIGINT leaves the
 * destination as it was. A shard's bytes depend only on that shard, so the
 * output equals a serial run, and equals converting each shard file alone
 * (how a fleet fans the work out).
 *
 * @module
 */

import { abortAllSinks, fileSink, onInterrupt, withSink } from "../lib/byte_sink.ts";
import { fileSource } from "../lib/byte_source.ts";
import { type ConvertSpec, transformsFromSpec } from "../lib/convert_spec.ts";
import { type ErrorData, errorFromData, UsageError } from "../lib/errors.ts";
import { basename, dirname, join, refuseInputs } from "../lib/paths.ts";
import { pipe } from "../lib/pipeline.ts";
import { hasQuantizedTensors } from "../lib/quant/dequantize.ts";
import { withStagedFiles } from "../lib/staged_files.ts";
import { derivedStream } from "../lib/tensor.ts";
import { compareUtf8 } from "./safetensors/_order.ts";
import { openSafetensors } from "./safetensors/open_safetensors.ts";
import { parseSafetensorsIndex } from "./safetensors/open_safetensors_index.ts";
import { writeSafetensors } from "./safetensors/write_safetensors.ts";
import { writeSafetensorsIndex } from "./safetensors/write_safetensors_index.ts";

/** One shard's job: plain data a Worker can receive. */
export interface ShardJob {
  /** Index of the job, for replies. */
  readonly id: number;
  /** Input shard path. */
  readonly input: string;
  /** Where the output shard is written (a staging path; renamed into place by the coordinator). */
  readonly output: string;
  /** The transforms. */
  readonly spec: ConvertSpec;
}

/** What one shard job wrote. */
export interface ShardResult {
  /** Tensors written. */
  readonly tensors: number;
  /** Bytes of tensor data written. */
  readonly bytes: number;
}

/** Runs shard jobs: serially here, or spread over Workers. */
export interface ShardRunner {
  /** How many jobs run at once. */
  readonly width: number;
  /** Run every job, calling `onDone` as each finishes; rejects with the first job's error, after the others stop. */
  run(jobs: readonly ShardJob[], onDone: (job: ShardJob, result: ShardResult) => void): Promise<void>;
}

/**
 * Convert one shard file to one safetensors file: the work of one job.
 *
 * @example
 * ```ts ignore
 * await convertShard({ input: "in/model-00001-of-00002.safetensors", output: "out/a.safetensors", spec: { dtype: "BF16" } });
 * ```
 */
export async function convertShard(job: Omit<ShardJob, "id">): Promise<ShardResult> {
  const source = await fileSource(job.input);
  let tensors = 0;
  let bytes = 0;
  try {
    const file = await openSafetensors(source);
    // As `ckpt convert` to safetensors: recorded quantized input keeps its codes and
    // records, unless --dtype asks for floats (and it is not quantized again).
    const spec: ConvertSpec =
      hasQuantizedTensors(file) && job.spec.quantize === undefined && job.spec.dtype !== undefined
        ? { ...job.spec, dequantize: true }
        : job.spec;
    const counted = pipe(file, ...transformsFromSpec(spec, { device: "cpu" }));
    const stream = derivedStream(counted, {
      async *entries() {
        for await (const entry of counted.tensors) {
          tensors++;
          bytes += entry.byteLength;
          yield entry;
        }
      },
    });
    await withSink(
      await fileSink(job.output, { protect: [job.input] }),
      (sink) => writeSafetensors(stream, sink),
    );
  } finally {
    await source.close();
  }
  return { tensors, bytes };
}

/**
 * Run jobs in this thread, one after another.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serialRunner } from "./convert_shards.ts";
 * assert.equal(serialRunner().width, 1);
 * ```
 */
export function serialRunner(): ShardRunner {
  return {
    width: 1,
    async run(jobs, onDone) {
      try {
        for (const job of jobs) onDone(job, await convertShard(job));
      } catch (error) {
        // A job cut short may leave this thread's sink open; abort it.
        await abortAllSinks();
        throw error;
      }
    },
  };
}

/** A message from a shard worker. */
type WorkerReply =
  | { type: "done"; id: number; result: ShardResult }
  | { type: "error"; id: number; error: ErrorData }
  | { type: "aborted" };

/**
 * Run jobs in a pool of `width` Deno Workers (each converts one shard at a
 * time). On SIGINT every worker removes its temporaries before the process
 * exits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerRunner } from "./convert_shards.ts";
 * assert.equal(workerRunner(4).width, 4);
 * assert.throws(() => workerRunner(0), /positive integer/);
 * ```
 */
export function workerRunner(width: number): ShardRunner {
  if (!Number.isInteger(width) || width < 1) {
    throw new UsageError(`Invalid number of jobs ${width}: use a positive integer`);
  }
  return {
    width,
    run: (jobs, onDone) => runInWorkers(jobs, width, onDone),
  };
}

async function runInWorkers(
  jobs: readonly ShardJob[],
  width: number,
  onDone: (job: ShardJob, result: ShardResult) => void,
): Promise<void> {
  const queue = [...jobs];
  const workers: Worker[] = [];
  let failure: Error | undefined;
  const aborted = (worker: Worker) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      worker.addEventListener("message", (event: MessageEvent<WorkerReply>) => {
        if (event.data?.type === "aborted") {
          clearTimeout(timer);
          resolve();
        }
      });
      worker.postMessage({ type: "abort" });
    });
  const forget = onInterrupt(async () => {
    await Promise.all(workers.map(aborted));
  });
  try {
    await new Promise<void>((resolve) => {
      let running = 0;
      const next = (worker: Worker) => {
        const job = failure ? undefined : queue.shift();
        if (!job) {
          if (running === 0) resolve();
          return;
        }
        running++;
        worker.postMessage({ type: "job", job });
      };
      for (let i = 0; i < Math.min(width, jobs.length); i++) {
        const worker = new Worker(new URL("./_shard_worker.ts", import.meta.url).href, { type: "module" });
        workers.push(worker);
        worker.onmessage = (event: MessageEvent<WorkerReply>) => {
          const data = event.data;
          if (data.type === "done") {
            running--;
            onDone(jobs[data.id], data.result);
            next(worker);
          } else if (data.type === "error") {
            running--;
            failure ??= errorFromData(data.error);
            next(worker);
          }
        };
        worker.onerror = (event: ErrorEvent) => {
          event.preventDefault();
          running--;
          failure ??= new Error(`A shard worker failed: ${event.message}`);
          next(worker);
        };
        next(worker);
      }
      if (jobs.length === 0) resolve();
    });
  } finally {
    forget();
    for (const worker of workers) worker.terminate();
  }
  if (failure) throw failure;
}

/** Options for {@linkcode convertShards}. */
export interface ConvertShardsOptions {
  /** Runs the jobs. @default serialRunner() when `jobs` is 1, else workerRunner(jobs) */
  runner?: ShardRunner;
  /** Shards converted at once, when no `runner` is given. @default navigator.hardwareConcurrency */
  jobs?: number;
  /** The transforms applied to every shard. @default none */
  spec?: ConvertSpec;
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

/**
 * Convert every shard of a sharded safetensors checkpoint
 * (`*.safetensors.index.json`) to a new sharded checkpoint at `outIndex`,
 * one output shard per input shard. The bytes are the same whatever the
 * runner, and each output shard equals `ckpt convert` of its input shard
 * alone. Nothing appears under the output names until every shard is done.
 *
 * @example
 * ```ts ignore
 * import { convertShards, workerRunner } from "./convert_shards.ts";
 * const result = await convertShards("in/model.safetensors.index.json", "out/model.safetensors.index.json", {
 *   runner: workerRunner(4),
 *   spec: { dtype: "BF16" },
 * });
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
  const jobs = options.jobs ?? (navigator.hardwareConcurrency || 1);
  const runner = options.runner ?? (jobs === 1 ? serialRunner() : workerRunner(jobs));
  const spec = options.spec ?? {};
  transformsFromSpec(spec); // refuse bad settings before any work
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
  let tensors = 0;
  let bytes = 0;
  let done = 0;
  await withStagedFiles(async (staged) => {
    const list: ShardJob[] = inputs.map((input, id) => ({
      id,
      input,
      output: staged.stage(finals[id]),
      spec,
    }));
    await runner.run(list, (job, result) => {
      tensors += result.tensors;
      bytes += result.bytes;
      options.onShard?.(finals[job.id], ++done, list.length);
    });
    // The index lists every output tensor by its shard, as the serial sharded writer does.
    const entries: [string, string][] = [];
    let totalSize = 0;
    for (const job of list) {
      const shard = await openSafetensors(await fileSource(job.output));
      try {
        for (const t of shard.tensors) {
          entries.push([t.name, outNames[job.id]]);
          totalSize += t.byteLength;
        }
      } finally {
        await shard.close();
      }
    }
    await writeSafetensorsIndex(staged.stage(outIndex), entries, totalSize);
  });
  return { index: outIndex, shards: finals, tensors, bytes };
}
