// The pipeline's contracts: transforms never touch their input, streams say
// whether they can be iterated twice, unchanged bytes keep their location,
// files close with `await using`, and errors cross Worker boundaries whole.

import assert from "node:assert/strict";
import { memorySink } from "../lib/byte_sink.ts";
import { type ByteSource, bytesSource } from "../lib/byte_source.ts";
import {
  errorFromData,
  errorToData,
  FormatError,
  LimitError,
  TruncatedError,
  UsageError,
} from "../lib/errors.ts";
import { cast, exclude, pipe, rename } from "../lib/pipeline.ts";
import { dequantize, quantize } from "../lib/quant/mod.ts";
import {
  collectStream,
  collectTensors,
  finalMetadata,
  tensorFromBytes,
  type TensorStream,
} from "../lib/tensor.ts";
import { openSafetensors, writeBodies, writeSafetensors } from "../formats/safetensors/mod.ts";
import { convertShards } from "../formats/convert_shards.ts";
import { runCli, tempDir } from "./_helpers.ts";

function model(): TensorStream {
  const values = new Float32Array(2 * 32).map((_, i) => Math.sin(i));
  return {
    metadata: { format: "pt" },
    tensors: [
      tensorFromBytes("fc.weight", "F32", [2, 32], new Uint8Array(values.buffer)),
      tensorFromBytes("fc.bias", "F32", [2], new Uint8Array(8)),
    ],
  };
}

Deno.test("quantize() and dequantize() never change their input's metadata", async () => {
  const input = model();
  const before = structuredClone(input.metadata);
  const quantized = pipe(input, quantize({ scheme: "int8" }, { device: "cpu" }));
  const { metadata } = await collectStream(quantized);
  assert.deepEqual(input.metadata, before);
  assert.ok("ckpt.quantization" in metadata);
  assert.ok(!("ckpt.quantization" in quantized.metadata), "the up-front metadata has no records yet");
  const back = pipe(quantized, dequantize());
  await collectTensors(back);
  assert.deepEqual(finalMetadata(back), { format: "pt" });
  assert.deepEqual(input.metadata, before);
});

Deno.test("a transformed file can be iterated twice with the same result", async () => {
  const stream = pipe(model(), exclude(/bias/), quantize({ scheme: "NF4" }, { device: "cpu" }));
  assert.equal(stream.reiterable, true);
  const first = await collectStream(stream);
  const second = await collectStream(stream);
  assert.deepEqual(second.tensors.map((t) => t.name), first.tensors.map((t) => t.name));
  assert.deepEqual(second.metadata, first.metadata);
  assert.deepEqual(await second.tensors[0].read(), await first.tensors[0].read());
});

Deno.test("a one-shot stream refuses a second iteration instead of yielding nothing", async () => {
  const source = model().tensors as ReturnType<typeof tensorFromBytes>[];
  const once: TensorStream = {
    metadata: {},
    tensors: (async function* () {
      yield* source;
    })(),
  };
  const stream = pipe(once, cast("F16"));
  assert.equal(stream.reiterable, false);
  assert.equal((await collectTensors(stream)).length, 2);
  await assert.rejects(
    collectTensors(stream),
    (e: Error) => e instanceof UsageError && /already iterated/.test(e.message),
  );
});

Deno.test("an entry spread with a new read() is written with the new bytes, not its source's", async () => {
  const sink = memorySink();
  const original = new Uint8Array(4096).fill(7);
  await writeSafetensors({ metadata: {}, tensors: [tensorFromBytes("w", "U8", [4096], original)] }, sink);
  const file = await openSafetensors(bytesSource(sink.bytes()));
  const [entry] = file.tensors;
  assert.ok(entry.location, "the opener says where the bytes lie");
  assert.ok(!Object.keys(entry).includes("location"), "and a spread does not copy it");
  const replaced = new Uint8Array(4096).fill(9);
  const edited = { ...entry, read: () => Promise.resolve(replaced) };
  assert.equal(edited.location, undefined);
  const out = memorySink();
  // Chunks smaller than the tensor: the path that would copy from the location.
  await writeBodies([edited], out, 1024);
  assert.deepEqual(out.bytes(), replaced);
});

Deno.test("renamed entries keep their location, so writers still copy them in chunks", async () => {
  const sink = memorySink();
  const big = new Uint8Array(4096).map((_, i) => i % 251);
  await writeSafetensors({ metadata: {}, tensors: [tensorFromBytes("w", "U8", [4096], big)] }, sink);
  let reads = 0;
  const inner = bytesSource(sink.bytes());
  const counting: ByteSource = { ...inner, read: (o, n, out) => (reads++, inner.read(o, n, out)) };
  const file = await openSafetensors(counting);
  const [renamed] = await collectTensors(pipe(file, rename(/^w$/, "weight")));
  assert.equal(renamed.name, "weight");
  assert.deepEqual(renamed.location, file.tensors[0].location);
  const [cast16] = await collectTensors(
    pipe({ metadata: {}, tensors: [tensorFromBytes("x", "F32", [1], new Uint8Array(4))] }, cast("F16")),
  );
  assert.equal(cast16.location, undefined, "changed bytes have no location");
  reads = 0;
  const out = memorySink();
  await writeBodies([renamed], out, 1024);
  assert.equal(reads, 4, "four 1 KiB chunks, not one whole-tensor read");
  assert.deepEqual(out.bytes(), big);
});

Deno.test("a TensorFile closes its source with await using, once", async () => {
  const sink = memorySink();
  await writeSafetensors(model(), sink);
  let closes = 0;
  const inner = bytesSource(sink.bytes());
  {
    await using file = await openSafetensors({ ...inner, close: () => (closes++, inner.close()) });
    assert.equal(file.tensors.length, 2);
    await file.close();
  }
  assert.equal(closes, 1);
});

Deno.test("errors cross a Worker boundary with their class and fields", () => {
  const cases: Error[] = [
    new FormatError("bad header", { offset: 12, format: "gguf" }),
    new LimitError("too big", { limit: 8, actual: 9 }),
    new TruncatedError("ends early", { offset: 3 }),
    new UsageError("no such scheme"),
    new RangeError("a bug"),
  ];
  for (const error of cases) {
    const back = errorFromData(structuredClone(errorToData(error)));
    assert.equal(back.constructor, error.constructor);
    assert.equal(back.message, error.message);
    for (const key of ["offset", "format", "limit", "actual"] as const) {
      assert.equal(
        (back as unknown as Record<string, unknown>)[key],
        (error as unknown as Record<string, unknown>)[key],
      );
    }
  }
});

Deno.test("a worker's FormatError reaches the caller whole", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(
    `${dir.path}/m.safetensors.index.json`,
    JSON.stringify({ metadata: {}, weight_map: { a: "a.safetensors", b: "b.safetensors" } }),
  );
  await Deno.writeFile(`${dir.path}/a.safetensors`, new Uint8Array(16)); // header length 0: corrupt
  await Deno.writeFile(`${dir.path}/b.safetensors`, new Uint8Array(16));
  await assert.rejects(
    convertShards(`${dir.path}/m.safetensors.index.json`, `${dir.path}/out/o.safetensors.index.json`, {
      jobs: 2,
    }),
    (e: Error) => e instanceof FormatError && e.format === "safetensors" && e.offset >= 0,
  );
});

Deno.test("the CLI exits 2 for bad input and 1 with a report request for a bug", async () => {
  await using dir = await tempDir();
  await Deno.writeFile(`${dir.path}/bad.safetensors`, new Uint8Array([1, 2, 3]));
  const bad = await runCli(["inspect", `${dir.path}/bad.safetensors`]);
  assert.equal(bad.code, 2);
  assert.doesNotMatch(bad.stderr, /internal error/);
  // A writer that breaks its own contract is a bug, not the user's input.
  const bug = await runCli([], {
    script: "tests/data/cli/internal_error.ts",
  });
  assert.equal(bug.code, 1, bug.stderr);
  assert.match(bug.stderr, /internal error; please report it/);
});
