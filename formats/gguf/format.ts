/**
 * The GGUF format descriptor for the registry.
 *
 * @module
 */

import type { TensorFormat } from "../../lib/format.ts";
import { hasMagic } from "../../lib/binary/magic.ts";
import { openGguf } from "./open_gguf.ts";
import { writeGguf } from "./write_gguf.ts";
import { isGgufSplitPath, openGgufSplit } from "./open_gguf_split.ts";

/**
 * GGUF: sniffed by its `GGUF` magic, opened lazily, written by `writeGguf`.
 *
 * @example
 * ```ts
 * import { ggufFormat } from "./format.ts";
 * console.log(ggufFormat.sniff(new TextEncoder().encode("GGUF\x03\0\0\0"), 8)); // true
 * ```
 */
export const ggufFormat: TensorFormat = {
  name: "gguf",
  extensions: [".gguf"],
  sniff: (head: Uint8Array) => hasMagic(head, "GGUF"),
  open: openGguf,
  // A split GGUF (`-00001-of-00003.gguf`) opens as one file, from any of its splits.
  claimsPath: isGgufSplitPath,
  openPath: openGgufSplit,
  write: writeGguf,
};
