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
  const start = (): Worker[] => {
    pool ??= Array.from({ length: workers }, () => {
      const worker = new Worker(new URL("./_cpu_worker.ts", import.meta.url).href, { type: "module" });
      worker.onmessage = (event: MessageEvent<Reply>) => {
        pending.get(event.data.id)?.resolve(event.data);
        pending.delete(event.data.id);
      };
      return worker;
    });
    return pool;
  };
  const run = (worker: Worker, job: QuantizeJob, measure: boolean): Promise<Reply> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, { resolve });
      // A copy of the values is sent: the caller's buffer may be a source's own bytes.
      const values = job.values.slice();
      worker.postMessage({ id, plan: job.plan, values, measure }, [values.buffer]);
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
      const all = start();
      const results: QuantResult[] = new Array(jobs.length);
      // Each worker takes the next job when done with its last: the batch's
      // big and small tensors even out across the pool.
      let next = 0;
      let failure: Error | undefined;
      await Promise.all(all.map(async (worker) => {
        while (next < jobs.length && !failure) {
          const i = next++;
          const reply = await run(worker, jobs[i], options.measure === true);
          if (reply.error) {
            failure ??= errorFromData(reply.error);
            return;
          }
          results[i] = { data: reply.data!, companions: reply.companions!, metrics: reply.metrics };
        }
      }));
      if (failure) throw failure;
      return results;
    },
    close(): void {
      for (const worker of pool ?? []) worker.terminate();
      pool = undefined;
    },
  };
}
