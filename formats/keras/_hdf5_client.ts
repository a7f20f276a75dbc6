// The caller's side of the HDF5 worker: one worker per process, shared by
// every open Keras file, with a time limit on each request. A request that
// runs past its limit stops the worker (the only way to interrupt a
// synchronous WebAssembly call); the next open starts a fresh one.

import { Worker } from "node:worker_threads";
import { FormatError, LimitError, TruncatedError } from "../../lib/errors.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import type { WorkerInput, WorkerRequest, WorkerResponse } from "./_hdf5_protocol.ts";

/** Default limit on opening a file (walking its groups and attributes). */
export const DEFAULT_HDF5_TIMEOUT_MS = 30_000;
// Reads get the limit plus time for their size at a pessimistic 10 MB/s.
const READ_BYTES_PER_MS = 10_000;
// The library reading no bytes for this long is looping on what it holds
// (legitimate work between reads — decoding one compressed chunk — is far shorter).
const STALL_MS = 1500;
const CHECK_EVERY_MS = 100;

// Distributes Omit over the request union, so each op keeps its own fields.
type Request = WorkerRequest extends infer R ? R extends WorkerRequest ? Omit<R, "seq"> : never : never;

interface Pending {
  resolve(response: WorkerResponse): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setInterval>;
}

function revive(error: NonNullable<WorkerResponse["error"]>): Error {
  switch (error.name) {
    case "FormatError":
      return new FormatError(error.message, { offset: error.offset, format: error.format });
    case "LimitError":
      return new LimitError(error.message, { limit: error.limit, actual: error.actual });
    case "TruncatedError":
      return new TruncatedError(error.message, { offset: error.offset });
    case "TypeError":
      return new TypeError(error.message);
    case "RangeError":
      return new RangeError(error.message);
    default:
      return new Error(error.message);
  }
}

class Hdf5Worker {
  dead = false;
  #worker: Worker;
  #pending = new Map<number, Pending>();
  #seq = 0;
  #progress = new Int32Array(new SharedArrayBuffer(4));
  #waiting = 0;
  #ready: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (error: Error) => void;

  constructor() {
    this.#worker = new Worker(new URL("./_hdf5_worker.ts", import.meta.url), {
      workerData: { progress: this.#progress.buffer },
    });
    this.#worker.unref();
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.#ready.catch(() => {});
    this.#worker.on("message", (response: WorkerResponse & { ready?: boolean }) => {
      if (response.ready) {
        this.#readyResolve();
        return;
      }
      const pending = this.#pending.get(response.seq);
      if (!pending) return;
      this.#settle(response.seq);
      if (response.error) pending.reject(revive(response.error));
      else pending.resolve(response);
    });
    this.#worker.on("error", (error: Error) => {
      this.#stop(new FormatError(`The HDF5 reader failed: ${error?.message ?? error}`, { format: "hdf5" }));
    });
    this.#worker.on("exit", () => {
      this.#stop(new FormatError("The HDF5 reader stopped unexpectedly", { format: "hdf5" }));
    });
  }

  #settle(seq: number): void {
    const pending = this.#pending.get(seq);
    if (!pending) return;
    clearInterval(pending.timer);
    this.#pending.delete(seq);
    this.#idle();
  }

  // An idle worker must not keep the process alive.
  #idle(): void {
    if (this.#pending.size === 0 && this.#waiting === 0 && !this.dead) this.#worker.unref();
  }

  #stop(error: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.#readyReject(error);
    for (const [seq, pending] of [...this.#pending]) {
      this.#settle(seq);
      pending.reject(error);
    }
    void this.#worker.terminate();
  }

  async request(
    request: Request,
    timeoutMs: number,
    what: string,
    transfer: ArrayBuffer[] = [],
  ): Promise<WorkerResponse> {
    // Kept referenced while a caller waits for the library to load.
    this.#waiting++;
    this.#worker.ref();
    try {
      await this.#ready;
    } finally {
      this.#waiting--;
    }
    if (this.dead) {
      return Promise.reject(
        new FormatError(
          `Cannot read ${what}: its HDF5 reader was stopped after a read ran out of time; open the file again`,
          {
            format: "hdf5",
          },
        ),
      );
    }
    const seq = ++this.#seq;
    return new Promise<WorkerResponse>((resolve, reject) => {
      const started = performance.now();
      let seen = Atomics.load(this.#progress, 0);
      let lastProgress = started;
      const timer = setInterval(() => {
        const now = performance.now();
        const count = Atomics.load(this.#progress, 0);
        if (count !== seen) {
          seen = count;
          lastProgress = now;
        }
        const stalled = now - lastProgress > STALL_MS;
        if (!stalled && now - started <= timeoutMs) return;
        const pending = this.#pending.get(seq);
        this.#settle(seq);
        this.#stop(
          new FormatError(`Cannot read ${what}: another HDF5 read ran out of time`, { format: "hdf5" }),
        );
        pending?.reject(
          new LimitError(
            stalled
              ? `Cannot read ${what}: the HDF5 library ran ${STALL_MS} ms without reading the file (a corrupt file can make it loop), so it was stopped`
              : `Cannot read ${what}: the HDF5 library did not finish within ${timeoutMs} ms, so it was stopped`,
            { limit: stalled ? STALL_MS : timeoutMs },
          ),
        );
      }, CHECK_EVERY_MS);
      this.#worker.ref();
      this.#pending.set(seq, { resolve, reject, timer });
      this.#worker.postMessage({ ...request, seq }, transfer);
    });
  }
}

let shared: Hdf5Worker | undefined;

function worker(): Hdf5Worker {
  if (!shared || shared.dead) shared = new Hdf5Worker();
  return shared;
}

/** Open HDF5 input in the worker and describe its Keras variables as a TensorFile. */
export async function openHdf5Tensors(
  format: "keras" | "keras-h5",
  input: WorkerInput,
  name: string,
  // deno-lint-ignore no-explicit-any
  config: any,
  metadata: Record<string, string>,
  fileBytes: number,
  timeoutMs: number = DEFAULT_HDF5_TIMEOUT_MS,
): Promise<TensorFile> {
  const w = worker();
  const { description } = await w.request(
    { op: "open", input, name, kind: format, config },
    timeoutMs,
    name,
    // The opener made this copy for the worker: move it rather than copy it again.
    input.kind === "bytes" ? [input.buffer] : [],
  );
  const { id, tensors: described } = description!;
  const tensors: TensorEntry[] = described.map((t, index) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    byteLength: t.byteLength,
    async read(out?: Uint8Array): Promise<Uint8Array> {
      if (out && out.length < t.byteLength) {
        throw new RangeError(`Output buffer of ${out.length} bytes is smaller than ${t.byteLength}`);
      }
      const limit = timeoutMs + Math.ceil(t.byteLength / READ_BYTES_PER_MS);
      const { buffer } = await w.request({ op: "read", id, index }, limit, `tensor '${t.name}' in ${name}`);
      const bytes = new Uint8Array(buffer!);
      if (bytes.length !== t.byteLength) {
        throw new FormatError(
          `Cannot read tensor '${t.name}' in ${name}: got ${bytes.length} bytes, not ${t.byteLength}`,
          {
            format,
          },
        );
      }
      if (!out) return bytes;
      const view = out.subarray(0, t.byteLength);
      view.set(bytes);
      return view;
    },
  }));
  return tensorFile({
    format,
    metadata: { ...metadata, ...description!.metadata },
    tensors,
    fileBytes,
    async close(): Promise<void> {
      if (!w.dead) await w.request({ op: "close", id }, timeoutMs, name).catch(() => {});
    },
  });
}
