import assert from "node:assert/strict";
import { bytesSource, fileSource } from "../lib/byte_source.ts";
import { fileSink, memorySink, withSink } from "../lib/byte_sink.ts";
import { LimitError, UsageError } from "../lib/errors.ts";
import { cast, pipe } from "../lib/pipeline.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { encodeSafetensors } from "../formats/safetensors/encode_safetensors.ts";
import { encodeSafetensorsHeader } from "../formats/safetensors/encode_safetensors_header.ts";
import { openSafetensors } from "../formats/safetensors/open_safetensors.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";
import { bytesOf, DATA, listDir, tempDir } from "./_helpers.ts";

const GOLDEN = `${DATA}/safetensors`;

function headerText(bytes: Uint8Array): string {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + n));
}

Deno.test("encodeSafetensors() re-encodes files from the independent writer byte for byte", async (t) => {
  for (const name of ["mixed", "no_metadata", "small_model", "casts"]) {
    await t.step(name, async () => {
      const original = await Deno.readFile(`${GOLDEN}/${name}.safetensors`);
      const file = await openSafetensors(bytesSource(original));
      assert.deepEqual(await encodeSafetensors(file), original);
    });
  }
});

Deno.test("encodeSafetensors() writes the reference layout: metadata first, compact JSON, space padding", async () => {
  const bytes = await encodeSafetensors({
    metadata: { format: "pt", 'note "q"': "é\n" },
    tensors: [
      tensorFromBytes("b", "F32", [2], new Uint8Array(8)),
      tensorFromBytes("a", "F32", [1, 1], new Uint8Array(4)),
      tensorFromBytes("z", "U8", [], new Uint8Array(1)),
      tensorFromBytes("i", "I64", [0], new Uint8Array(0)),
    ],
  });
  const text = headerText(bytes);
  const json = text.trimEnd();
  assert.equal(json.length + (text.length - json.length), text.length);
  assert.equal((8 + new TextEncoder().encode(text).length) % 8, 0);
  assert.match(text.slice(json.length), /^ *$/);
  // Order: __metadata__, then I64 (rank above F32), F32 by name, then U8.
  assert.deepEqual(Object.keys(JSON.parse(json)), ["__metadata__", "i", "a", "b", "z"]);
  assert.ok(json.startsWith('{"__metadata__":{"format":"pt","note \\"q\\"":"é\\n"},"i":{"dtype":"I64"'));
  assert.ok(!/[ \t]/.test(json.replace(/"(?:[^"\\]|\\.)*"/g, "")), "no whitespace outside strings");
  assert.match(json, /"a":\{"dtype":"F32","shape":\[1,1\],"data_offsets":\[0,4\]\}/);
});

Deno.test("encodeSafetensors() sorts names by UTF-8 bytes, not UTF-16 code units", async () => {
  // In UTF-16, U+1F600 (a surrogate pair starting 0xD83D) sorts before U+FF21; in UTF-8 it sorts after.
  const names = ["\u{1F600}", "\uFF21", "a", "\u00e9"];
  const bytes = await encodeSafetensors({
    metadata: {},
    tensors: names.map((n) => tensorFromBytes(n, "U8", [1], new Uint8Array(1))),
  });
  const order = Object.keys(JSON.parse(headerText(bytes)));
  const utf8 = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(order, utf8);
  assert.deepEqual(order, ["a", "\u00e9", "\uFF21", "\u{1F600}"]);
});

Deno.test("writeSafetensors() aligns the data section when asked", async (t) => {
  for (const align of [8, 64, 4096]) {
    await t.step(`align ${align}`, async () => {
      const tensors = [tensorFromBytes("w", "F32", [3], bytesOf(new Float32Array([1, 2, 3])))];
      const bytes = await encodeSafetensors({ metadata: { a: "b" }, tensors }, { align });
      const file = await openSafetensors(bytesSource(bytes));
      assert.equal(file.header.dataOffset % align, 0);
      const json = new TextEncoder().encode(headerText(bytes).trimEnd()).length;
      assert.ok(file.header.dataOffset - (8 + json) < align, "padding is shorter than the alignment");
      assert.deepEqual(await file.tensors[0].read(), bytesOf(new Float32Array([1, 2, 3])));
    });
  }
  await t.step("rejects an alignment that is not a multiple of 8", async () => {
    await assert.rejects(
      encodeSafetensors({ metadata: {}, tensors: [] }, { align: 12 }),
      (e: Error) =>
        e instanceof UsageError &&
        /Cannot align safetensors data to 12 bytes: use a positive multiple of 8/.test(e.message),
    );
  });
});

Deno.test("writeSafetensors() refuses streams it cannot store", async (t) => {
  const u8 = (name: string) => tensorFromBytes(name, "U8", [1], new Uint8Array(1));
  const cases: [string, TensorEntry[], Record<string, unknown>, RegExp][] = [
    [
      "block-quantized entries",
      [{ ...tensorFromBytes("q", "F32", [32], new Uint8Array(18)), encoding: "Q4_0" }],
      {},
      /Cannot write tensor 'q' as safetensors: it holds Q4_0 blocks, which safetensors cannot store; dequantize it first/,
    ],
    ["duplicate names", [u8("w"), u8("w")], {}, /duplicate tensor name 'w'/],
    ["a tensor named __metadata__", [u8("__metadata__")], {}, /reserves that name/],
    [
      "a byte length that does not match the shape",
      [tensorFromBytes("w", "F32", [3], new Uint8Array(8))],
      {},
      /Cannot write tensor 'w': it declares 8 bytes, but F32 \[3\] needs 12/,
    ],
    [
      "a non-string metadata value",
      [u8("w")],
      { epoch: 3 },
      /Cannot write metadata 'epoch': safetensors metadata values must be strings/,
    ],
  ];
  for (const [name, tensors, metadata, message] of cases) {
    await t.step(name, async () => {
      const sink = memorySink();
      await assert.rejects(
        writeSafetensors({ metadata: metadata as Record<string, string>, tensors }, sink),
        (e: Error) => e instanceof UsageError && message.test(e.message),
      );
      assert.equal(sink.position, 0, "nothing written before the check");
    });
  }
});

Deno.test("encodeSafetensorsHeader() refuses headers the reference reader would refuse", () => {
  const many = Array.from(
    { length: 1 },
    () => ({
      name: "x".repeat(100_000_001),
      dtype: "U8" as const,
      shape: [0],
      dataOffsets: [0, 0] as [number, number],
    }),
  );
  assert.throws(
    () => encodeSafetensorsHeader({}, many),
    (e: Error) => e instanceof LimitError && /readers refuse headers over 100000000 bytes/.test(e.message),
  );
});

Deno.test("writeSafetensors() streams unchanged tensors from a file in chunks", async () => {
  await using dir = await tempDir();
  const values = new Float32Array(1000).map((_, i) => Math.sin(i));
  const input = `${dir.path}/in.safetensors`;
  await Deno.writeFile(
    input,
    await encodeSafetensors({
      metadata: {},
      tensors: [tensorFromBytes("w", "F32", [1000], bytesOf(values))],
    }),
  );
  const source = await fileSource(input);
  const reads: number[] = [];
  const counting = {
    ...source,
    read: (o: number, n: number, out?: Uint8Array) => (reads.push(n), source.read(o, n, out)),
  };
  const file = await openSafetensors(counting);
  reads.length = 0;
  const sink = memorySink();
  await writeSafetensors(file, sink, { copyChunkBytes: 512 });
  assert.deepEqual(reads, [512, 512, 512, 512, 512, 512, 512, 416]);
  assert.deepEqual(sink.bytes(), await Deno.readFile(input));
  await file.close();
});

Deno.test("writeSafetensors() through pipe(cast) writes values cast per element", async () => {
  const values = new Float32Array([1, -2.5, 65504, 1e-8, 3.140625]);
  const stream = pipe({
    metadata: { k: "v" },
    tensors: [
      tensorFromBytes("w", "F32", [5], bytesOf(values)),
      tensorFromBytes("ids", "I64", [1], new Uint8Array(8)),
    ],
  }, cast("F16"));
  const file = await openSafetensors(bytesSource(await encodeSafetensors(stream)));
  const w = file.tensors.find((t) => t.name === "w")!;
  assert.equal(w.dtype, "F16");
  assert.deepEqual(new Float16Array((await w.read()).slice().buffer), new Float16Array(values));
  assert.equal(file.tensors.find((t) => t.name === "ids")!.dtype, "I64");
  assert.deepEqual(file.metadata, { k: "v" });
});

Deno.test("writeSafetensors() into a fileSink leaves nothing behind when a tensor fails to read", async () => {
  await using dir = await tempDir();
  const failing: TensorEntry = {
    name: "bad",
    dtype: "U8",
    shape: [4],
    byteLength: 4,
    read: () => Promise.reject(new Error("disk on fire")),
  };
  const sink = await fileSink(`${dir.path}/out.safetensors`);
  await assert.rejects(
    withSink(sink, (s) => writeSafetensors({ metadata: {}, tensors: [failing] }, s)),
    /disk on fire/,
  );
  assert.deepEqual(await listDir(dir.path), []);
});
