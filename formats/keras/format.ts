/**
 * The `.keras` and Keras HDF5 format descriptors for the registry. Both are
 * read-only.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import type { OpenOptions, TensorFormat } from "../../lib/format.ts";
import type { TensorFile } from "../../lib/tensor.ts";
import { hasHdf5Magic } from "./_hdf5.ts";

// The openers (and the HDF5 reader's Worker, which starts Deno's Node
// compatibility layer) are imported only when a Keras file is opened.
const openKeras = async (input: string | ByteSource, options?: OpenOptions) =>
  (await import("./open_keras.ts")).openKeras(input, options);
const openKerasH5 = async (input: string | ByteSource, options?: OpenOptions) =>
  (await import("./open_keras_h5.ts")).openKerasH5(input, options);

// Keras writes these three members, metadata.json first.
const KERAS_MEMBERS = new Set(["metadata.json", "config.json", "model.weights.h5"]);

/**
 * True when `head` is a zip whose first member is one a `.keras` archive holds.
 *
 * @example
 * ```ts
 * import { sniffKeras } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(sniffKeras(new TextEncoder().encode("PK\x03\x04")), false);
 * ```
 */
export function sniffKeras(head: Uint8Array): boolean {
  if (head.length < 30 || head[0] !== 0x50 || head[1] !== 0x4b || head[2] !== 3 || head[3] !== 4) {
    return false;
  }
  const nameLength = head[26] | (head[27] << 8);
  if (head.length < 30 + nameLength) return false;
  return KERAS_MEMBERS.has(new TextDecoder().decode(head.subarray(30, 30 + nameLength)));
}

/**
 * True when `head` starts with the HDF5 signature (at 0 or after a user block).
 *
 * @example
 * ```ts
 * import { sniffHdf5 } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(sniffHdf5(Uint8Array.of(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a)), true);
 * ```
 */
export function sniffHdf5(head: Uint8Array): boolean {
  return hasHdf5Magic(head);
}

// A local path is opened lazily (synchronous positioned reads), so the
// formats claim paths whose first bytes are theirs; the extension is never trusted.
function headOf(path: string): Uint8Array | undefined {
  try {
    const file = Deno.openSync(path, { read: true });
    try {
      const head = new Uint8Array(4096);
      let n = 0;
      while (n < head.length) {
        const k = file.readSync(head.subarray(n));
        if (k === null || k === 0) break;
        n += k;
      }
      return head.subarray(0, n);
    } finally {
      file.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * Keras 3 archives (`.keras`).
 *
 * @example
 * ```ts
 * import { kerasFormat } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(kerasFormat.extensions, [".keras"]);
 * ```
 */
export const kerasFormat: TensorFormat = {
  name: "keras",
  extensions: [".keras"],
  sniff: (head: Uint8Array) => sniffKeras(head),
  claimsPath(path: string): boolean {
    const head = headOf(path);
    return head !== undefined && sniffKeras(head);
  },
  openPath: (path: string, options?: OpenOptions): Promise<TensorFile> => openKeras(path, options),
  open: (source: ByteSource, options?: OpenOptions): Promise<TensorFile> => openKeras(source, options),
};

/**
 * Keras HDF5 weights: Keras 3 `.weights.h5` and legacy `.h5` files.
 *
 * @example
 * ```ts
 * import { kerasH5Format } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(kerasH5Format.name, "keras-h5");
 * ```
 */
export const kerasH5Format: TensorFormat = {
  name: "keras-h5",
  extensions: [".h5", ".hdf5"],
  sniff: (head: Uint8Array) => sniffHdf5(head),
  claimsPath(path: string): boolean {
    const head = headOf(path);
    return head !== undefined && sniffHdf5(head);
  },
  openPath: (path: string, options?: OpenOptions): Promise<TensorFile> => openKerasH5(path, options),
  open: (source: ByteSource, options?: OpenOptions): Promise<TensorFile> => openKerasH5(source, options),
};
