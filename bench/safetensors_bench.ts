/**
 * Micro-benchmarks: safetensors header decoding and encoding, and the
 * F32 → F16 / BF16 casts, across sizes. Throughput = size / time per iteration.
 *
 * Run: deno bench --allow-all bench/safetensors_bench.ts
 *
 * @module
 */

import { castBytes } from "../lib/cast.ts";
import type { ByteSink } from "../lib/byte_sink.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { decodeSafetensorsHeader } from "../formats/safetensors/decode_safetensors_header.ts";
import { encodeSafetensorsHeader } from "../formats/safetensors/encode_safetensors_header.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";

const MiB = 1024 * 1024;

/** A sink that only counts, so encoding is measured without memory copies. */
function nullSink(): ByteSink {
  let position = 0;
  return {
    get position() {
      return position;
    },
    write(chunk: Uint8Array) {
      position += chunk.length;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
}

// Header decode: a file's first bytes with 10, 1,000 and 10,000 tensors (a 70B model has ~1,000).
for (const count of [10, 1_000, 10_000]) {
  const infos = Array.from({ length: count }, (_, i) => ({
    name: `model.layers.${i}.self_attn.q_proj.weight`,
    dtype: "BF16" as const,
    shape: [4, 4],
    dataOffsets: [i * 32, i * 32 + 32] as [number, number],
  }));
  const header = encodeSafetensorsHeader({ format: "pt" }, infos);
  const fileBytes = header.length + count * 32;
  Deno.bench({
    name: `decode header, ${count} tensors (${(header.length / 1024).toFixed(0)} KiB)`,
    group: "decode header",
    baseline: count === 1_000,
    fn() {
      decodeSafetensorsHeader(header, { fileBytes });
    },
  });
  Deno.bench({
    name: `encode header, ${count} tensors`,
    group: "encode header",
    baseline: count === 1_000,
    fn() {
      encodeSafetensorsHeader({ format: "pt" }, infos);
    },
  });
}

// Encode: whole files of 64 MiB in 4 KiB, 1 MiB and 16 MiB tensors to a counting sink.
for (const tensorBytes of [4096, MiB, 16 * MiB]) {
  const total = 64 * MiB;
  const body = new Uint8Array(tensorBytes);
  const tensors = Array.from(
    { length: total / tensorBytes },
    (_, i) => tensorFromBytes(`t.${i}`, "F32", [tensorBytes / 4], body),
  );
  Deno.bench({
    name: `write 64 MiB as ${tensors.length} tensors`,
    group: "encode 64 MiB",
    baseline: tensorBytes === MiB,
    async fn() {
      await writeSafetensors({ metadata: {}, tensors }, nullSink());
    },
  });
}

// Casts, against a plain memcpy of the same input as the baseline.
for (const bytes of [MiB, 16 * MiB, 64 * MiB]) {
  const count = bytes / 4;
  const input = new Uint8Array(new Float32Array(count).map((_, i) => Math.sin(i) * 100).buffer);
  const copy = new Uint8Array(bytes);
  const half = new Uint8Array(bytes / 2);
  const label = `${bytes / MiB} MiB F32`;
  Deno.bench({ name: `memcpy ${label}`, group: `cast ${label}`, baseline: true, fn: () => copy.set(input) });
  Deno.bench({
    name: `F32 → F16 ${label}`,
    group: `cast ${label}`,
    fn: () => void castBytes(input, "F32", "F16", count, { out: half }),
  });
  Deno.bench({
    name: `F32 → BF16 ${label}`,
    group: `cast ${label}`,
    fn: () => void castBytes(input, "F32", "BF16", count, { out: half }),
  });
}
