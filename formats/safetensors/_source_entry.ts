// Lazy entries over a byte source. Each says where its bytes lie (its
// `location`), so a writer copying a tensor unchanged can stream it in
// chunks instead of holding the whole tensor in memory.

import type { ByteSource } from "../../lib/byte_source.ts";
import type { TensorEntry } from "../../lib/tensor.ts";
import { locatedEntry } from "../../lib/located_entry.ts";
import type { SafetensorsTensorInfo } from "./decode_safetensors_header.ts";

/** A lazy entry reading `info`'s bytes from `source` after `dataOffset`. */
export function sourceEntry(
  source: ByteSource,
  info: SafetensorsTensorInfo,
  dataOffset: number,
): TensorEntry {
  const offset = dataOffset + info.dataOffsets[0];
  const byteLength = info.dataOffsets[1] - info.dataOffsets[0];
  return locatedEntry({
    name: info.name,
    dtype: info.dtype,
    shape: info.shape,
    byteLength,
    read(out?: Uint8Array): Promise<Uint8Array> {
      if (out && out.length < byteLength) {
        return Promise.reject(
          new RangeError(
            `Output buffer of ${out.length} bytes is smaller than tensor '${info.name}' (${byteLength})`,
          ),
        );
      }
      return source.read(offset, byteLength, out);
    },
  }, { source, offset });
}
