/**
 * Open a Keras 3 `.keras` archive: a zip of `metadata.json`, `config.json`
 * and `model.weights.h5`.
 *
 * @module
 */

import { type ByteSource, fileSource } from "../../lib/byte_source.ts";
import { FormatError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import type { TensorFile } from "../../lib/tensor.ts";
import { openZip, type ZipArchive } from "../zip/open_zip.ts";
import { readZipEntry } from "../zip/read_zip_entry.ts";
import { openHdf5Tensors } from "./_hdf5_client.ts";
import type { WorkerInput } from "./_hdf5_protocol.ts";

/** Options for {@linkcode openKeras} and {@linkcode openKerasH5}. */
export interface OpenKerasOptions extends OpenOptions {
  /**
   * Longest time, in milliseconds, the HDF5 library may take to open the
   * file, and (plus 1 ms per 10 kB) to read one tensor, before it is stopped
   * and a `LimitError` thrown: a corrupt file can make it loop.
   * @default 30000
   */
  timeoutMs?: number;
}

/** The archive member holding the weights. */
export const KERAS_WEIGHTS_MEMBER = "model.weights.h5";

// config.json describes layers, not tensors: far below this even for large models.
const MAX_JSON_BYTES = 64 * 1024 * 1024;

async function readJson(zip: ZipArchive, member: string): Promise<Record<string, unknown> | undefined> {
  const entry = zip.entry(member);
  if (!entry) return undefined;
  const bytes = await readZipEntry(zip, entry, { maxInflatedBytes: MAX_JSON_BYTES });
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new FormatError(`Cannot read Keras file ${zip.source.name}: ${member} is not valid JSON`, {
      offset: entry.dataOffset,
      format: "keras",
      cause,
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FormatError(`Cannot read Keras file ${zip.source.name}: ${member} is not a JSON object`, {
      offset: entry.dataOffset,
      format: "keras",
    });
  }
  return value as Record<string, unknown>;
}

/**
 * Open a `.keras` file. Tensors are named as Keras names the variables of
 * the model it rebuilds from `config.json`: `<layer name>/<variable>`
 * (`dense/kernel`, `bn/moving_mean`), with the names of enclosing models
 * prefixed only where two nested layers share a name. Optimizer state is
 * listed as `optimizer/<optimizer name>/<variable>` (`optimizer/adam/iteration`,
 * `optimizer/adam/dense_kernel_momentum`) for optimizers whose slots are
 * known (Adam, AdamW, SGD) when every slot's shape matches its variable,
 * else numbered (`optimizer/adam/7`).
 *
 * A path is read lazily when `model.weights.h5` is stored uncompressed, as
 * Keras writes it: HDF5 reads the metadata it walks and each dataset on
 * `read()` (the member's CRC-32 is then not checked, as that would read it
 * whole). A deflated member, or any {@linkcode ByteSource}, is read into
 * memory first and its CRC-32 checked. HDF5 runs in a worker: a corrupt file that makes the
 * library loop is stopped after `timeoutMs` with a `LimitError`.
 *
 * @example
 * ```ts
 * import { openKeras } from "./open_keras.ts";
 * import assert from "node:assert/strict";
 * const file = await openKeras(new URL("../../tests/data/keras/functional.keras", import.meta.url).pathname);
 * const names = file.tensors.map((t) => t.name);
 * assert.ok(names.includes("bn/moving_variance"));
 * assert.ok(names.includes("optimizer/adam/iteration"));
 * await file.close();
 * ```
 */
export async function openKeras(
  input: string | ByteSource,
  options: OpenKerasOptions = {},
): Promise<TensorFile> {
  const path = typeof input === "string" ? input : undefined;
  const source = typeof input === "string" ? await fileSource(input) : input;
  let weights: WorkerInput;
  let config: Record<string, unknown> | undefined;
  const metadata: Record<string, string> = {};
  try {
    const zip = await openZip(source);
    const entry = zip.entry(KERAS_WEIGHTS_MEMBER);
    if (!entry) {
      throw new FormatError(
        `Cannot read Keras file ${source.name}: it has no ${KERAS_WEIGHTS_MEMBER} (members: ${
          zip.entries.map((e) => e.name).join(", ") || "none"
        })`,
        { format: "keras" },
      );
    }
    config = await readJson(zip, "config.json");
    const meta = await readJson(zip, "metadata.json");
    for (const [key, value] of Object.entries(meta ?? {})) {
      if (typeof value === "string") metadata[key] = value;
    }
    weights = path && entry.method === 0
      ? { kind: "file", path, base: entry.dataOffset, size: entry.size }
      : { kind: "bytes", buffer: (await readZipEntry(zip, entry)).slice().buffer };
  } finally {
    // Everything past this point reads the member directly.
    await source.close();
  }
  return await openHdf5Tensors(
    "keras",
    weights,
    `${source.name} (${KERAS_WEIGHTS_MEMBER})`,
    config,
    metadata,
    source.size,
    options.timeoutMs,
  );
}
