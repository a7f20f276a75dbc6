// The worker that runs h5wasm. HDF5 calls are synchronous and a corrupt file
// can make the C library loop forever, so they run here, where the opener can
// stop them with a time limit, instead of on the caller's thread.

import { parentPort, workerData } from "node:worker_threads";
import { FormatError } from "../../lib/errors.ts";
import {
  bytesReader,
  fileRangeReader,
  type H5DatasetInfo,
  Hdf5File,
  loadH5wasm,
  type SyncReader,
} from "./_hdf5.ts";
import { isLegacyLayout, keras3Variables, type KerasVariable, legacyVariables } from "./_layout.ts";
import type { WorkerDescription, WorkerRequest, WorkerResponse } from "./_hdf5_protocol.ts";

// Bumped on every read of the file's bytes, so the caller can tell a slow read
// (progress) from a loop inside the library (none).
const progress = new Int32Array(workerData.progress as SharedArrayBuffer);
const PROGRESS_STEP = 8 * 1024 * 1024;

function withProgress(reader: SyncReader): SyncReader {
  return {
    size: reader.size,
    readAt(position: number, target: Uint8Array): number {
      let done = 0;
      while (done < target.length) {
        Atomics.add(progress, 0, 1);
        const part = target.subarray(done, Math.min(target.length, done + PROGRESS_STEP));
        const n = reader.readAt(position + done, part);
        done += n;
        if (n < part.length) break;
      }
      return done;
    },
    close: () => reader.close(),
  };
}

const files = new Map<number, { file: Hdf5File; infos: H5DatasetInfo[]; names: string[] }>();
let nextId = 1;

async function describe(request: Extract<WorkerRequest, { op: "open" }>): Promise<WorkerDescription> {
  const { input, name, kind } = request;
  const reader = withProgress(
    input.kind === "file"
      ? fileRangeReader(input.path, input.base, input.size)
      : bytesReader(new Uint8Array(input.buffer)),
  );
  const file = await Hdf5File.open(reader, name);
  try {
    let variables: KerasVariable[];
    const metadata: Record<string, string> = {};
    if (kind === "keras") {
      variables = keras3Variables(file, request.config).variables;
    } else if (isLegacyLayout(file)) {
      variables = legacyVariables(file);
      const root = file.keys("").includes("model_weights") ? "model_weights" : "";
      for (const key of ["keras_version", "backend"]) {
        const value = file.attribute(root, key) ?? file.attribute("", key);
        if (typeof value === "string") metadata[key] = value;
      }
    } else {
      const keys = file.keys("");
      if (!keys.includes("layers") && !keys.includes("vars") && !keys.includes("optimizer")) {
        throw new FormatError(
          `Cannot read ${name}: it is an HDF5 file but not Keras weights (no layer_names attribute, no layers or vars groups)`,
          { format: "keras-h5" },
        );
      }
      variables = keras3Variables(file).variables;
    }
    // Every dataset's type and size is checked before the file is handed out.
    const infos = variables.map((v) => file.dataset(v.path, v.name));
    const id = nextId++;
    files.set(id, { file, infos, names: variables.map((v) => v.name) });
    return {
      id,
      metadata,
      tensors: variables.map((v, i) => ({
        name: v.name,
        dtype: infos[i].dtype,
        shape: [...infos[i].shape],
        byteLength: infos[i].byteLength,
      })),
    };
  } catch (error) {
    file.close();
    throw error;
  }
}

function serialize(error: unknown): WorkerResponse["error"] {
  const e = error as Error & { offset?: number; limit?: number; actual?: number; format?: string };
  return {
    name: e?.name ?? "Error",
    message: e?.message ?? String(error),
    offset: e?.offset,
    limit: e?.limit,
    actual: e?.actual,
    format: e?.format,
  };
}

parentPort!.on("message", async (request: WorkerRequest) => {
  try {
    if (request.op === "open") {
      parentPort!.postMessage(
        { seq: request.seq, description: await describe(request) } satisfies WorkerResponse,
      );
    } else if (request.op === "read") {
      const open = files.get(request.id);
      if (!open) throw new TypeError(`HDF5 file ${request.id} is not open`);
      Atomics.add(progress, 0, 1);
      const bytes = open.file.read(open.infos[request.index], open.names[request.index]);
      // A whole-buffer view from read(): the buffer is exactly the tensor.
      const buffer = bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer as ArrayBuffer
        : bytes.slice().buffer;
      parentPort!.postMessage({ seq: request.seq, buffer } satisfies WorkerResponse, [
        buffer,
      ]);
    } else {
      files.get(request.id)?.file.close();
      files.delete(request.id);
      parentPort!.postMessage({ seq: request.seq } satisfies WorkerResponse);
    }
  } catch (error) {
    parentPort!.postMessage({ seq: request.seq, error: serialize(error) } satisfies WorkerResponse);
  }
});

// Requests are sent, and their time limits start, once the library is loaded.
await loadH5wasm();
parentPort!.postMessage({ ready: true });
