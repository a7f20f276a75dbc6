/**
 * Read a single-array .npy file lazily: the header is parsed up front, the
 * array's bytes (byte-swapped and reordered to row-major when needed) only
 * on `read()`.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import { dtypeInfo } from "../../lib/dtype.ts";
import { TruncatedError } from "../../lib/errors.ts";
import type { OpenOptions } from "../../lib/format.ts";
import { type TensorEntry, type TensorFile, tensorFile } from "../../lib/tensor.ts";
import { parseFromSource } from "../../lib/binary/read_window.ts";
import { fortranToC, swapBytes } from "./_reorder.ts";
import { type NpyHeader, readNpyHeader } from "./npy_header.ts";

/** Options for {@linkcode openNpy}. */
export interface OpenNpyOptions extends OpenOptions {
  /** Name given to the array. @default "array" */
  name?: string;
}

/**
 * A lazy entry for an array whose header has been read and whose bytes are
 * `readBytes(out)` (exactly `header.byteLength` of them, as stored).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { npyEntry } from "./open_npy.ts";
 * import { encodeNpyHeader, readNpyHeader } from "./npy_header.ts";
 * import { FieldReader } from "../../lib/binary/field_reader.ts";
 * const header = readNpyHeader(new FieldReader(encodeNpyHeader("U8", [2])));
 * const entry = npyEntry("x", header, () => Promise.resolve(new Uint8Array([1, 2])));
 * assert.deepEqual(await entry.read(), new Uint8Array([1, 2]));
 * ```
 */
export function npyEntry(
  name: string,
  header: NpyHeader,
  readBytes: (out?: Uint8Array) => Promise<Uint8Array>,
): TensorEntry {
  const { dtype, shape, byteLength, bigEndian, fortranOrder } = header;
  const itemBytes = dtypeInfo(dtype).bits / 8;
  // A complex number is two floats, each swapped on its own.
  const unit = dtype === "C64" || dtype === "C128" ? itemBytes / 2 : itemBytes;
  const reorder = fortranOrder && shape.length > 1;
  return {
    name,
    dtype,
    shape,
    byteLength,
    async read(out?: Uint8Array): Promise<Uint8Array> {
      if (!reorder) {
        const bytes = await readBytes(out);
        if (bigEndian) {
          // A source may return a view of its own memory: swap a copy then.
          const target = out ? bytes : bytes.slice();
          swapBytes(target, unit);
          return target;
        }
        return bytes;
      }
      const raw = (await readBytes()).slice();
      if (bigEndian) swapBytes(raw, unit);
      const target = out ? out.subarray(0, byteLength) : new Uint8Array(byteLength);
      fortranToC(raw, target, shape, itemBytes);
      return target;
    },
  };
}

/**
 * Open an .npy file as a one-tensor file (named `options.name`, default
 * `array`). Versions 1.0–3.0; every numpy dtype with a ckpt equivalent;
 * big-endian and Fortran-order arrays are converted on read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openNpy } from "./open_npy.ts";
 * import { encodeNpyHeader } from "./npy_header.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * const header = encodeNpyHeader("U8", [3]);
 * const bytes = new Uint8Array([...header, 7, 8, 9]);
 * const file = await openNpy(bytesSource(bytes));
 * assert.deepEqual(file.tensors[0].shape, [3]);
 * assert.deepEqual(await file.tensors[0].read(), new Uint8Array([7, 8, 9]));
 * ```
 */
export async function openNpy(source: ByteSource, options: OpenNpyOptions = {}): Promise<TensorFile> {
  const header = await parseFromSource(source, (r) => readNpyHeader(r, options), {
    format: "npy",
    initialBytes: 4096,
  });
  const end = header.dataOffset + header.byteLength;
  if (end > source.size) {
    throw new TruncatedError(
      `Cannot decode npy: the array needs ${header.byteLength} bytes from offset ${header.dataOffset} but ${source.name} has ${source.size} bytes`,
      { offset: header.dataOffset },
    );
  }
  const entry = npyEntry(
    options.name ?? "array",
    header,
    (out) => source.read(header.dataOffset, header.byteLength, out),
  );
  return tensorFile({
    format: "npy",
    metadata: {},
    tensors: [entry],
    fileBytes: source.size,
    close: () => source.close(),
  });
}
