// Files over 4 GiB in every format that allows them — 64-bit offsets in
// safetensors and GGUF, ZIP64 in .pt and .npz — written to a sink that only
// counts bytes (keeping the small writes) and read back through a source
// that replays those writes over zeros, so no test needs gigabytes of disk
// or memory.

import assert from "node:assert/strict";
import type { ByteSink } from "../lib/byte_sink.ts";
import { type ByteSource, checkRange } from "../lib/byte_source.ts";
import type { TensorFormat } from "../lib/format.ts";
import type { TensorEntry } from "../lib/tensor.ts";
import { safetensorsFormat } from "../formats/safetensors/mod.ts";
import { ggufFormat } from "../formats/gguf/mod.ts";
import { torchFormat } from "../formats/torch/mod.ts";
import { npzFormat } from "../formats/numpy/mod.ts";
import { openSource } from "../formats/open_tensor_file.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BIG_TENSOR_BYTES = 256 * MiB;
const BIG_TENSORS = 17; // 4.25 GiB of zeros, then the tail tensor
// Writes at most this long are kept whole; of longer ones (a big tensor, maybe
// behind its member header) the first and last 64 KiB are kept, the rest is zeros.
const KEEP_BYTES = MiB;
const KEEP_ENDS = 64 * 1024;

/** A sink that counts bytes and keeps only the short writes (headers, tables, the tail tensor). */
function recordingSink(): ByteSink & { readonly kept: { at: number; bytes: Uint8Array }[]; closed: boolean } {
  let position = 0;
  const kept: { at: number; bytes: Uint8Array }[] = [];
  return {
    kept,
    closed: false,
    get position() {
      return position;
    },
    write(chunk: Uint8Array): Promise<void> {
      if (chunk.length <= KEEP_BYTES) kept.push({ at: position, bytes: chunk.slice() });
      else {
        kept.push({ at: position, bytes: chunk.slice(0, KEEP_ENDS) });
        kept.push({ at: position + chunk.length - KEEP_ENDS, bytes: chunk.slice(chunk.length - KEEP_ENDS) });
      }
      position += chunk.length;
      return Promise.resolve();
    },
    close(): Promise<void> {
      this.closed = true;
      return Promise.resolve();
    },
    abort(): Promise<void> {
      return Promise.reject(new Error("aborted"));
    },
  };
}

/** A source of `size` bytes: the recorded writes over zeros. */
function replaySource(size: number, kept: readonly { at: number; bytes: Uint8Array }[]): ByteSource {
  return {
    size,
    name: "<replayed>",
    read(offset: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
      checkRange("<replayed>", size, offset, length);
      const target = out ? out.subarray(0, length) : new Uint8Array(length);
      target.fill(0);
      for (const { at, bytes } of kept) {
        const from = Math.max(at, offset);
        const to = Math.min(at + bytes.length, offset + length);
        if (from < to) target.set(bytes.subarray(from - at, to - at), from - offset);
      }
      return Promise.resolve(target);
    },
    close: () => Promise.resolve(),
  };
}

/** A zero-filled F32 tensor that costs nothing until read. */
function zeros(name: string, bytes: number): TensorEntry {
  return {
    name,
    dtype: "F32",
    shape: [bytes / 4],
    byteLength: bytes,
    read(out?: Uint8Array): Promise<Uint8Array> {
      const target = out ? out.subarray(0, bytes) : new Uint8Array(bytes);
      target.fill(0);
      return Promise.resolve(target);
    },
  };
}

const TAIL = new Float32Array([1.5, -2.25, 3.125, 1e-3, 65504, -0.5, 7, 42]);

function tail(): TensorEntry {
  const bytes = new Uint8Array(TAIL.buffer.slice(0));
  return {
    name: "zz.tail",
    dtype: "F32",
    shape: [2, 4],
    byteLength: bytes.length,
    read(out?: Uint8Array): Promise<Uint8Array> {
      if (!out) return Promise.resolve(bytes.slice());
      out.set(bytes);
      return Promise.resolve(out.subarray(0, bytes.length));
    },
  };
}

/** Where `needle` was written (searching every kept write), or -1. */
function tailOffset(kept: readonly { at: number; bytes: Uint8Array }[], needle: Uint8Array): number {
  for (const { at, bytes } of kept) {
    outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
      for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
      return at + i;
    }
  }
  return -1;
}

function stream() {
  const tensors = Array.from(
    { length: BIG_TENSORS },
    (_, i) => zeros(`big.${String(i).padStart(2, "0")}`, BIG_TENSOR_BYTES),
  );
  return { metadata: { purpose: "bigfile" }, tensors: [...tensors, tail()] };
}

const FORMATS: [string, TensorFormat, string][] = [
  ["safetensors (64-bit data_offsets)", safetensorsFormat, "safetensors"],
  ["GGUF (64-bit tensor offsets)", ggufFormat, "gguf"],
  ["PyTorch .pt (ZIP64)", torchFormat, "torch"],
  ["npz (ZIP64)", npzFormat, "npz"],
];

for (const [label, format, name] of FORMATS) {
  Deno.test({
    name: `${label}: a file over 4 GiB is written and read back with its last tensor past 4 GiB`,
    // The writers stream 4.25 GiB through memory: seconds of CPU, no disk.
    sanitizeResources: false,
    async fn() {
      const sink = recordingSink();
      await format.write!(stream(), sink, {});
      const size = sink.position;
      assert.ok(size > 4.25 * GiB, `only ${size} bytes were written`);
      const file = await openSource(replaySource(size, sink.kept));
      try {
        assert.equal(file.format, name);
        assert.equal(file.tensors.length, BIG_TENSORS + 1);
        const last = file.tensors.find((t) => t.name === "zz.tail");
        assert.ok(last, `no zz.tail among ${file.tensors.map((t) => t.name).join(", ")}`);
        assert.deepEqual(last.shape, [2, 4]);
        assert.equal(last.dtype, "F32");
        const bytes = await last.read();
        assert.deepEqual([...new Float32Array(bytes.slice().buffer)], [...TAIL]);
        const big = file.tensors.find((t) => t.name === "big.16")!;
        assert.equal(big.byteLength, BIG_TENSOR_BYTES);
        assert.deepEqual(big.shape, [BIG_TENSOR_BYTES / 4]);
        // Where the tail sits: past 4 GiB, found by its bytes in the replay.
        const at = tailOffset(sink.kept, bytes);
        assert.ok(at > 4 * GiB, `the tail tensor's bytes were written at ${at}`);
      } finally {
        await file.close();
      }
    },
  });
}

Deno.test("safetensors and GGUF headers declaring offsets past 2^53 are rejected before any allocation", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [];
  {
    const json = new TextEncoder().encode(
      JSON.stringify({ t: { dtype: "U8", shape: [4], data_offsets: [9007199254740993, 9007199254740997] } }),
    );
    const bytes = new Uint8Array(8 + json.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    cases.push(["safetensors data_offsets beyond 2^53", bytes, /safetensors/]);
  }
  {
    // GGUF v3, no key/values, one F32 tensor of 4 elements at offset 2^60.
    const name = new TextEncoder().encode("t");
    const bytes = new Uint8Array(64);
    const view = new DataView(bytes.buffer);
    bytes.set(new TextEncoder().encode("GGUF"), 0);
    view.setUint32(4, 3, true);
    view.setBigUint64(8, 1n, true);
    view.setBigUint64(16, 0n, true);
    view.setBigUint64(24, BigInt(name.length), true);
    bytes.set(name, 32);
    view.setUint32(33, 1, true);
    view.setBigUint64(37, 4n, true);
    view.setUint32(45, 0, true);
    view.setBigUint64(49, 2n ** 60n, true);
    cases.push(["GGUF tensor offset 2^60", bytes, /gguf/i]);
  }
  for (const [label, bytes, message] of cases) {
    await t.step(label, async () => {
      await assert.rejects(openSource(replaySource(bytes.length, [{ at: 0, bytes }])), (error: Error) => {
        assert.ok(
          ["FormatError", "LimitError", "TruncatedError"].includes(error.name),
          `${error.name}: ${error.message}`,
        );
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
