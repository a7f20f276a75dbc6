// The worker that runs h5wasm. HDF5 calls are synchronous and a corrupt file
// can make the C library loop forever, so they run here, where the opener can
// stop them with a time limit, instead of on the caller's thread.

import { parentPort } from "node:worker_threads";
import { FormatError } from "../../lib/errors.ts";
import { bytesReader, fileRangeReader, type H5DatasetInfo, Hdf5File, type SyncReader } from "./_hdf5.ts";
import { isLegacyLayout, keras3Variables, type KerasVariable, legacyVariables } from "./_layout.ts";
import type { WorkerDescription, WorkerRequest, WorkerResponse } from "./_hdf5_protocol.ts";

const files = new Map<number, { file: Hdf5File; infos: H5DatasetInfo[]; names: string[] }>();
let nextId = 1;

async function describe(request: Extract<WorkerRequest, { op: "open" }>): Promise<WorkerDescription> {
  const { input, name, kind } = request;
  const reader: SyncReader = input.kind === "file"
    ? fileRangeReader(input.path, input.base, input.size)
    : bytesReader(input.bytes);
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
      const bytes = open.file.read(open.infos[request.index], open.names[request.index]);
      parentPort!.postMessage({ seq: request.seq, bytes } satisfies WorkerResponse, [
        bytes.buffer as ArrayBuffer,
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
