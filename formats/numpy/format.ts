/**
 * The .npy and .npz format descriptors for the registry.
 *
 * @module
 */

import type { TensorFormat } from "../../lib/format.ts";
import { hasMagic } from "../../lib/binary/magic.ts";
import { NPY_MAGIC } from "./npy_header.ts";
import { openNpy } from "./open_npy.ts";
import { openNpz } from "./open_npz.ts";
import { writeNpy } from "./write_npy.ts";
import { writeNpz } from "./write_npz.ts";

/**
 * A single numpy array (.npy), sniffed by its `\x93NUMPY` magic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { numpyFormat } from "./format.ts";
 * assert.equal(numpyFormat.sniff(Uint8Array.from("\x93NUMPY\x01\x00", (c) => c.charCodeAt(0)), 128), true);
 * assert.equal(numpyFormat.sniff(new TextEncoder().encode("PK\x03\x04"), 128), false);
 * ```
 */
export const numpyFormat: TensorFormat = {
  name: "npy",
  extensions: [".npy"],
  sniff: (head: Uint8Array) => hasMagic(head, NPY_MAGIC),
  open: openNpy,
  write: writeNpy,
};

/**
 * A zip of numpy arrays (.npz), sniffed as a zip whose first member is a
 * `.npy`. Write option `compress: true` deflates members.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { npzFormat } from "./format.ts";
 * assert.deepEqual(npzFormat.extensions, [".npz"]);
 * ```
 */
export const npzFormat: TensorFormat = {
  name: "npz",
  extensions: [".npz"],
  sniff(head: Uint8Array): boolean {
    if (!hasMagic(head, "PK\x03\x04") || head.length < 30) return false;
    const nameLength = head[26] | (head[27] << 8);
    if (head.length < 30 + nameLength) return false;
    const name = String.fromCharCode(...head.subarray(30, 30 + nameLength));
    return name.endsWith(".npy");
  },
  open: openNpz,
  write: writeNpz,
};
