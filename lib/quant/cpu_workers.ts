/**
 * Quantization on every core: a {@linkcode QuantizeBackend} that spreads the
 * tensors of a batch over a pool of Workers, each running the scheme's CPU
 * reference, so the bytes are the same whatever the number of workers.
 * `quantize()` hands it batches of one tensor a worker, so memory stays
 * bounded by workers × a tensor, not the model.
 *
 * @module
 */

import { type ErrorData, errorFromData, UsageError } from "../errors.ts";
import type { ErrorMetrics } from "../metrics.ts";
import type { QuantizeBackend, QuantizeJob } from "./device.ts";
import type { QuantResult } from "./scheme.ts";

/** A CPU worker pool; `close()` it when done (or let the process exit). */
export interface CpuWorkersBackend extends QuantizeBackend {
  /** Workers in the pool. */
  readonly workers: number;
  /** Stop every worker. Safe to call twice. */
  close(): void;
}

interface Reply {
  id: number;
  data?: Uint8Array;
  companions?: Uint8Array[];
  metrics?: ErrorMetrics;
  error?: ErrorData;
}

/**
 * A backend that quantizes on `workers` CPU Workers (started on first use).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpuWorkers } from "./cpu_workers.ts";
 * import { quantize } from "./quantize.ts";
 * import { collectTensors, tensorFromBytes } from "../tensor.ts";
 * const w = tensorFromBytes("w", "F32", [4, 32], new Uint8Array(new Float32Array(128).map(Math.sin).buffer));
 * const pool = cpuWorkers(2);
 * const [onPool] = await collectTensors(quantize({ scheme: "Q8_0" }, { device: pool })({ metadata: {}, tensors: [w] }));
 * const [onCpu] = await collectTensors(quantize({ scheme: "Q8_0" }, { device: "cpu" })({ metadata: {}, tensors: [w] }));
 * assert.deepEqual(await onPool.read(), await onCpu.read());
 * pool.close();
 * ```
 */
export function cpuWorkers(workers: number = navigator.hardwareConcurrency || 1): CpuWorkersBackend {
  if (!Number.isInteger(workers) || workers < 1) {
    throw new UsageError(`Invalid number of jobs ${workers}: use a positive integer`);
  }
  let pool: Worker[] | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (r: Reply) => void }>();
  // Jobs wait here for an idle worker. One queue for the whole pool, so that
  // concurrent calls (a writer reading several tensors ahead, one job each)
  // spread over the workers instead of lining up behind the first.
  const queue: { job: QuantizeJob; measure: boolean; resolve: (r: Reply) => void }[] = [];
  const idle: Worker[] = [];
  // Each worker's input area, shared with it: the values are copied in rather
  // than sent as a new buffer a job, which a worker's collector would let pile
  // up (measured: 190 → 330 MiB over a 400 MB model with two workers). It
  // grows to the largest tensor the worker has had, and no further.
  const inputs = new Map<Worker, SharedArrayBuffer>();
  const start = (): void => {
    if (pool) return;
    pool = Array.from({ length: workers }, () => {
      const worker = new Worker(new URL("./_cpu_worker.ts", import.meta.url).href, { type: "module" });
      worker.onmessage = (event: MessageEvent<Reply>) => {
        pending.get(event.data.id)?.resolve(event.data);
        pending.delete(event.data.id);
      };
      return worker;
    });
    idle.push(...pool);
  };
  const dispatch = (): void => {
    while (idle.length > 0 && queue.length > 0) {
      const worker = idle.shift()!;
      const { job, measure, resolve } = queue.shift()!;
      const id = nextId++;
      pending.set(id, {
        resolve: (reply) => {
          // A worker stopped by close() meanwhile is not handed more work.
          if (pool?.includes(worker)) idle.push(worker);
          resolve(reply);
          dispatch();
        },
      });
      let input = inputs.get(worker);
      if (!input || input.byteLength < job.values.byteLength) {
        input = new SharedArrayBuffer(job.values.byteLength);
        inputs.set(worker, input);
      }
      new Float32Array(input, 0, job.values.length).set(job.values);
      worker.postMessage({ id, plan: job.plan, input, length: job.values.length, measure });
    }
  };
  const run = (job: QuantizeJob, measure: boolean): Promise<Reply> =>
    new Promise((resolve) => {
      queue.push({ job, measure, resolve });
      dispatch();
    });
  return {
    name: `cpu, ${workers} ${workers === 1 ? "worker" : "workers"}`,
    kind: "cpu",
    // One tensor a worker per batch: memory stays at workers × a tensor.
    batching: { minTensors: workers, bytes: 0 },
    workers,
    async quantize(
      jobs: readonly QuantizeJob[],
      options: { measure?: boolean } = {},
    ): Promise<QuantResult[]> {
      start();
      // Each job goes to the next idle worker: big and small tensors even out across the pool.
      const replies = await Promise.all(jobs.map((job) => run(job, options.measure === true)));
      const failed = replies.find((reply) => reply.error);
      if (failed) throw errorFromData(failed.error!);
      return replies.map((reply) => ({
        data: reply.data!,
        companions: reply.companions!,
        metrics: reply.metrics,
      }));
    },
    close(): void {
      for (const worker of pool ?? []) worker.terminate();
      pool = undefined;
      idle.length = 0;
      inputs.clear();
    },
  };
}
