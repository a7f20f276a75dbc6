// Messages between the HDF5 worker and the openers.

import type { DType } from "../../lib/dtype.ts";

export type WorkerInput =
  | { kind: "file"; path: string; base: number; size: number }
  | { kind: "bytes"; bytes: Uint8Array };

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
  bytes?: Uint8Array;
  error?: {
    name: string;
    message: string;
    offset?: number;
    limit?: number;
    actual?: number;
    format?: string;
  };
}
