/**
 * Write GGUF v3 (or v2): metadata as typed key/values, tensor infos with
 * dimensions innermost first, and tensor data at aligned offsets, streamed
 * one tensor at a time.
 *
 * @module
 */

import { ScratchBuffer } from "../../lib/scratch_buffer.ts";
import type { ByteSink } from "../../lib/byte_sink.ts";
import { UsageError } from "../../lib/errors.ts";
import type { WriteOptions } from "../../lib/format.ts";
import { collectStream, type TensorStream } from "../../lib/tensor.ts";
import { isPowerOfTwo } from "../../lib/binary/align.ts";
import { FieldWriter } from "../../lib/binary/field_writer.ts";
import {
  ggufKeyFromMetadata,
  type GgufKeyValue,
  ggufKeyValuesOf,
  ggufValueToString,
  metadataKeyFromGguf,
} from "./gguf_value.ts";
import { writeHeaderStart } from "./_encode_value.ts";
import { planGgufTensors, writeTensorBodies, writeTensorInfos } from "./_tensor_section.ts";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_VERSION } from "./open_gguf.ts";

/** Options for {@linkcode writeGguf}. */
export interface WriteGgufOptions extends WriteOptions {
  /** GGUF version to write, 2 or 3 (same layout). @default 3 */
  version?: 2 | 3;
  /**
   * Data alignment, a power of two. Written as `general.alignment` when it
   * is not 32. @default the input's `general.alignment`, else 32
   */
  alignment?: number;
  /**
   * Typed key/values to write. Metadata keys whose string form differs from
   * these (or that these lack) are added as strings. @default the typed
   * values of the GGUF file the stream's metadata came from, if any
   */
  kv?: readonly GgufKeyValue[];
}

/** Unchanged tensors larger than this are copied from their source in pieces this size. */
const COPY_CHUNK_BYTES = 16 * 2 ** 20;

/** The key/values to write: typed ones kept where the metadata still agrees, strings for the rest. */
function planKeyValues(
  metadata: Record<string, string>,
  typed: readonly GgufKeyValue[] | undefined,
  alignment: number,
): GgufKeyValue[] {
  const out: GgufKeyValue[] = [];
  const keys = new Set<string>();
  const usedMetadata = new Set<string>();
  for (const entry of typed ?? []) {
    const metaKey = metadataKeyFromGguf(entry.key);
    usedMetadata.add(metaKey);
    if (entry.key === "general.alignment") {
      out.push({ key: entry.key, type: "u32", value: alignment });
      keys.add(entry.key);
      continue;
    }
    const current = Object.hasOwn(metadata, metaKey) ? metadata[metaKey] : undefined;
    if (current === undefined) continue; // dropped from the metadata
    keys.add(entry.key);
    out.push(
      current === ggufValueToString(entry.type, entry.value)
        ? entry
        : { key: entry.key, type: "string", value: current },
    );
  }
  for (const [metaKey, value] of Object.entries(metadata)) {
    if (usedMetadata.has(metaKey)) continue;
    const key = ggufKeyFromMetadata(metaKey);
    if (keys.has(key)) continue;
    keys.add(key);
    if (key === "general.alignment") out.push({ key, type: "u32", value: alignment });
    else out.push({ key, type: "string", value });
  }
  if (!keys.has("general.alignment") && alignment !== GGUF_DEFAULT_ALIGNMENT) {
    out.push({ key: "general.alignment", type: "u32", value: alignment });
  }
  return out;
}

function alignmentOf(metadata: Record<string, string>, typed: readonly GgufKeyValue[] | undefined): number {
  const kv = typed?.find((e) => e.key === "general.alignment" && e.type === "u32");
  if (kv) return kv.value as number;
  const s = metadata["general.alignment"];
  return s !== undefined && /^\d+$/.test(s) && isPowerOfTwo(Number(s)) ? Number(s) : GGUF_DEFAULT_ALIGNMENT;
}

/**
 * Write a tensor stream as GGUF. Plain tensors must be F32, F16, BF16, F64
 * or I8–I64; block-encoded entries (`encoding` set to a ggml type such as
 * `Q4_0`) are written as they are. Shapes are stored innermost first, so our
 * `[out, in]` becomes GGUF's `[in, out]`. The caller closes the sink.
 *
 * @example
 * ```ts
 * import { writeGguf } from "./write_gguf.ts";
 * import { openGguf } from "./open_gguf.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 * import { tensorFromBytes } from "../../lib/tensor.ts";
 *
 * const sink = memorySink();
 * const w = tensorFromBytes("w", "F32", [2, 3], new Uint8Array(24));
 * await writeGguf({ metadata: { "general.name": "tiny" }, tensors: [w] }, sink);
 * const file = await openGguf(bytesSource(sink.bytes()));
 * console.log(file.tensorInfos[0].dims, file.tensors[0].shape); // [3, 2] [2, 3]
 * ```
 */
export async function writeGguf(
  stream: TensorStream,
  sink: ByteSink,
  options: WriteGgufOptions = {},
): Promise<void> {
  const version = options.version ?? GGUF_VERSION;
  if (version !== 2 && version !== 3) {
    throw new UsageError(`Cannot write GGUF version ${version}; use 2 or 3`);
  }
  // Tensor infos carry every offset, so headers come first: list entries (no bytes read).
  const { metadata, tensors: entries } = await collectStream(stream);
  const typed = options.kv ?? ggufKeyValuesOf(metadata);
  const alignment = options.alignment ?? alignmentOf(metadata, typed);
  if (!isPowerOfTwo(alignment)) {
    throw new UsageError(`GGUF alignment must be a power of two, got ${alignment}`);
  }
  const kv = planKeyValues(metadata, typed, alignment);

  const w = new FieldWriter();
  writeHeaderStart(w, version, entries.length, kv);
  const planned = planGgufTensors(entries);
  writeTensorInfos(w, planned, alignment);
  await sink.write(w.toBytes());
  // One read buffer for every tensor: fresh tensor-sized buffers cost page faults and garbage.
  await writeTensorBodies(sink, planned, alignment, new ScratchBuffer(), COPY_CHUNK_BYTES);
}
