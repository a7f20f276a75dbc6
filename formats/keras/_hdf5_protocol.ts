// Messages between the HDF5 worker and the openers.

import type { DType } from "../../lib/dtype.ts";

export type WorkerInput =
  | { kind: "file"; path: string; base: number; size: number }
  // Bytes travel as a bare ArrayBuffer: Deno's worker_threads walks typed arrays element by element.
  | { kind: "bytes"; buffer: ArrayBuffer };

export type WorkerRequest =
  // deno-lint-ignore no-explicit-any
  | { seq: number; op: "open"; input: WorkerInput; name: string; kind: "keras" | "keras-h5"; config?: any }
  | { seq: number; op: "read"; id: number; index: number }
  | { seq: number; op: "close"; id: number };

export interface WorkerDescription {
  id: number;
  metadata: Record<string, string>;
  tensors: { name: string; dtype: DType; shape: number[]; byteLength: number }[];
}

export interface WorkerResponse {
  seq: number;
  description?: WorkerDescription;
  /** A tensor's bytes, as a bare (transferred) ArrayBuffer. */
  buffer?: ArrayBuffer;
  error?: {
    name: string;
    message: string;
    offset?: number;
    limit?: number;
    actual?: number;
    format?: string;
  };
}
