import assert from "node:assert/strict";
import { bytesSource, fileSource, urlSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { FormatError, LimitError, TruncatedError, UsageError } from "../lib/errors.ts";
import { dequantizeEntry } from "../lib/ggml_blocks.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { openSource } from "../formats/open_tensor_file.ts";
import { type GgufArray, openGguf, writeGguf } from "../formats/gguf/mod.ts";
import { FieldWriter } from "../lib/binary/field_writer.ts";
import { DATA, runCli, tempDir } from "./_helpers.ts";
import { writeSafetensors } from "../formats/safetensors/mod.ts";

const DIR = `${DATA}/gguf`;
interface ExpectedTensor {
  name: string;
  type: string;
  shape: number[];
  hex: string;
  raw_bytes: number;
}
interface ExpectedFile {
  version: number;
  alignment: number;
  kv: [string, string, unknown][];
  tensors: ExpectedTensor[];
}
const { quantized_from: _inputs, ...EXPECTED }: Record<string, ExpectedFile> = JSON.parse(
  await Deno.readTextFile(`${DIR}/expected.json`),
);
const PLAIN = new Set(["F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"]);

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A typed value from the file in the JSON shape the fixture script wrote. */
function jsonable(type: string, value: unknown): unknown {
  if (type === "array") {
    const a = value as GgufArray;
    return { item_type: a.itemType, items: a.items.map((x) => jsonable(a.itemType, x)) };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

Deno.test("openGguf() reads the reference writer's files: every value type, every tensor type", async (t) => {
  for (const [path, want] of Object.entries(EXPECTED)) {
    await t.step(path, async () => {
      const file = await openGguf(await fileSource(`${DIR}/${path}`));
      try {
        assert.equal(file.version, want.version);
        assert.equal(file.alignment, want.alignment);
        assert.deepEqual(file.kv.map((e) => [e.key, e.type, jsonable(e.type, e.value)]), want.kv);
        assert.deepEqual(file.tensors.map((e) => e.name), want.tensors.map((e) => e.name));
        for (const [i, entry] of file.tensors.entries()) {
          const w = want.tensors[i];
          assert.deepEqual(entry.shape, w.shape, w.name);
          assert.equal(entry.byteLength, w.raw_bytes, w.name);
          assert.equal(file.tensorInfos[i].type.name, w.type);
          assert.deepEqual(file.tensorInfos[i].dims, [...w.shape].reverse());
          if (PLAIN.has(w.type)) {
            assert.equal(entry.encoding, undefined);
            assert.equal(entry.dtype, w.type);
            assert.equal(hex(await entry.read()), w.hex, w.name);
          } else {
            assert.equal(entry.encoding, w.type);
            assert.equal(entry.dtype, "F32");
            const f32 = dequantizeEntry(entry);
            assert.equal(f32.byteLength, w.hex.length / 2);
            assert.equal(hex(await f32.read()), w.hex, `${w.name} dequantized`);
          }
        }
      } finally {
        await file.close();
      }
    });
  }
});

Deno.test("openGguf() shows metadata as strings: numbers exact, floats shortest, arrays as JSON, ckpt.* unprefixed", async () => {
  const file = await openGguf(await fileSource(`${DIR}/all_types_v3.gguf`));
  const m = file.metadata;
  assert.equal(m["general.name"], "ckpt fixture ünïcode");
  assert.equal(m["format"], "pt");
  assert.equal(m["ckpt.format"], undefined);
  assert.equal(m["test.f32"], "0.1");
  assert.equal(m["test.u64"], "18446744073709551615");
  assert.equal(m["test.i64"], "-9223372036854775808");
  assert.equal(m["test.bool"], "true");
  assert.equal(m["test.f64"], "2.718281828459045");
  assert.equal(m["tokenizer.ggml.tokens"], JSON.stringify(["<s>", "</s>", "héllo", ""]));
  assert.equal(m["tokenizer.ggml.scores"], "[0,-1.5,2.25]");
  assert.equal(m["test.nested"], "[[1,2],[],[-3]]");
  assert.equal(m["test.u64s"], '[0,"9223372036854775808"]');
  await file.close();
});

Deno.test("writeGguf() round-trips the reference files byte for byte", async (t) => {
  for (const path of Object.keys(EXPECTED)) {
    await t.step(path, async () => {
      const original = await Deno.readFile(`${DIR}/${path}`);
      const file = await openGguf(bytesSource(original));
      const sink = memorySink();
      await writeGguf(file, sink, { version: file.version as 2 | 3 });
      assert.deepEqual(sink.bytes(), original);
    });
  }
});

Deno.test("writeGguf() maps string metadata to ckpt.* keys and shapes to innermost-first dims, and re-reads identically", async () => {
  const w = tensorFromBytes("layer.weight", "F16", [3, 8], new Uint8Array(48).map((_, i) => i));
  const b = tensorFromBytes("layer.bias", "BF16", [3], new Uint8Array(6).fill(7));
  const sink = memorySink();
  await writeGguf({ metadata: { format: "pt", "general.name": "demo" }, tensors: [w, b] }, sink, {
    alignment: 64,
  });
  const bytes = sink.bytes();
  const file = await openGguf(bytesSource(bytes));
  assert.deepEqual(file.kv.map((e) => [e.key, e.type, e.value]), [
    ["ckpt.format", "string", "pt"],
    ["general.name", "string", "demo"],
    ["general.alignment", "u32", 64],
  ]);
  assert.deepEqual(file.metadata, { format: "pt", "general.name": "demo", "general.alignment": "64" });
  assert.deepEqual(file.tensorInfos.map((i) => [i.name, i.dims, i.type.name, i.offset]), [
    ["layer.weight", [8, 3], "F16", 0],
    ["layer.bias", [3], "BF16", 64],
  ]);
  assert.equal(file.dataOffset % 64, 0);
  assert.deepEqual(await file.tensors[0].read(), await w.read());
  assert.deepEqual(await file.tensors[1].read(), await b.read());
  const again = memorySink();
  await writeGguf(file, again);
  assert.deepEqual(again.bytes(), bytes);
});

Deno.test("writeGguf() keeps block-encoded entries as they are", async () => {
  const file = await openGguf(await fileSource(`${DIR}/all_types_v3.gguf`));
  const q = file.tensors.filter((e) => e.encoding === "Q4_0" || e.encoding === "Q6_K");
  const sink = memorySink();
  await writeGguf({ metadata: {}, tensors: q }, sink);
  const out = await openGguf(bytesSource(sink.bytes()));
  assert.deepEqual(
    out.tensors.map((e) => [e.name, e.encoding, e.shape]),
    q.map((e) => [e.name, e.encoding, e.shape]),
  );
  for (const [i, e] of out.tensors.entries()) assert.deepEqual(await e.read(), await q[i].read());
  await file.close();
});

Deno.test("writeGguf() refuses tensors GGUF can't hold", async (t) => {
  const cases: [string, ReturnType<typeof tensorFromBytes> | Record<string, unknown>, RegExp][] = [
    ["a U8 tensor", tensorFromBytes("u", "U8", [2], new Uint8Array(2)), /dtype U8 has no GGUF type/],
    [
      "a 64-byte name",
      tensorFromBytes("n".repeat(64), "F32", [1], new Uint8Array(4)),
      /names must be shorter than 64 bytes/,
    ],
    [
      "five dimensions",
      tensorFromBytes("d", "F32", [1, 1, 1, 1, 1], new Uint8Array(4)),
      /5 dimensions, more than 4/,
    ],
    [
      "rows that are not whole blocks",
      { ...tensorFromBytes("q", "F32", [1, 33], new Uint8Array(34)), encoding: "Q8_0" },
      /rows of 33 elements, not a multiple of the block size 32/,
    ],
    [
      "blocks of the wrong size",
      { ...tensorFromBytes("q", "F32", [1, 32], new Uint8Array(30)), encoding: "Q8_0" },
      /Q8_0 of shape \[1, 32\] takes 34 bytes but the entry has 30/,
    ],
    [
      "an unknown encoding",
      { ...tensorFromBytes("q", "F32", [1, 32], new Uint8Array(30)), encoding: "Q9_9" },
      /unknown encoding 'Q9_9'/,
    ],
  ];
  for (const [what, entry, message] of cases) {
    await t.step(what, async () => {
      // deno-lint-ignore no-explicit-any
      const run = () => writeGguf({ metadata: {}, tensors: [entry as any] }, memorySink());
      await assert.rejects(
        run,
        (e: Error) => (e instanceof UsageError || e instanceof FormatError) && message.test(e.message),
      );
    });
  }
});

// ---- hostile inputs, built field by field ----

interface Build {
  version?: number;
  nTensors?: bigint;
  nKv?: bigint;
  body?: (w: FieldWriter) => void;
  tail?: number;
}

function str(w: FieldWriter, s: string | Uint8Array): void {
  const b = typeof s === "string" ? new TextEncoder().encode(s) : s;
  w.u64(b.length);
  w.bytes(b);
}

function info(
  w: FieldWriter,
  name: string,
  dims: (number | bigint)[],
  type: number,
  offset: number | bigint,
): void {
  str(w, name);
  w.u32(dims.length);
  for (const d of dims) w.i64(d);
  w.i32(type);
  w.u64(offset);
}

function gguf(b: Build): Uint8Array {
  const w = new FieldWriter();
  w.utf8("GGUF");
  w.u32(b.version ?? 3);
  w.i64(b.nTensors ?? 0n);
  w.i64(b.nKv ?? 0n);
  b.body?.(w);
  w.zeros(b.tail ?? 64);
  return w.toBytes();
}

Deno.test("openGguf() rejects what ggml's reader rejects, before allocating anything", async (t) => {
  const cases: [string, Uint8Array, new (...a: never[]) => Error, RegExp][] = [
    [
      "a bad magic",
      new TextEncoder().encode("GGML\x03\0\0\0"),
      FormatError,
      /invalid magic 'GGML', expected 'GGUF'/,
    ],
    ["version 1", gguf({ version: 1 }), FormatError, /version 1 is no longer supported/],
    ["version 4", gguf({ version: 4 }), FormatError, /version 4 is newer than the newest supported \(3\)/],
    [
      "a byte-swapped version",
      gguf({ version: 0x03000000 }),
      FormatError,
      /the file may have the other byte order/,
    ],
    ["a negative tensor count", gguf({ nTensors: -1n }), FormatError, /negative tensor count -1/],
    [
      "an absurd tensor count",
      gguf({ nTensors: 1n << 40n }),
      LimitError,
      /tensor count 1099511627776 before offset 24 needs at least 26388279066624 bytes but only 64 remain/,
    ],
    [
      "an absurd key/value count",
      gguf({ nKv: 1n << 50n }),
      LimitError,
      /key\/value count 1125899906842624 before offset 24 needs at least/,
    ],
    [
      "a key longer than 2^30",
      gguf({ nKv: 1n, body: (w) => w.u64(2 ** 31) }),
      LimitError,
      /key 0 at offset 24 declares 2147483648 bytes, over the limit of 1073741824/,
    ],
    [
      "a string longer than the file",
      gguf({ nKv: 1n, body: (w) => w.u64(1000) }),
      LimitError,
      /key 0 length 1000 before offset 32 needs at least 1000 bytes but only 64 remain/,
    ],
    [
      "an empty key",
      gguf({ nKv: 1n, body: (w) => (str(w, ""), w.i32(0), w.u8(1)) }),
      FormatError,
      /key 0 is empty/,
    ],
    [
      "a key that is not UTF-8",
      gguf({ nKv: 1n, body: (w) => (str(w, new Uint8Array([0xff, 0xfe])), w.i32(0), w.u8(1)) }),
      FormatError,
      /invalid UTF-8 in a string at offset 32/,
    ],
    [
      "a duplicate key",
      gguf({ nKv: 2n, body: (w) => (str(w, "a.b"), w.i32(0), w.u8(1), str(w, "a.b"), w.i32(0), w.u8(2)) }),
      FormatError,
      /duplicate key 'a\.b'/,
    ],
    [
      "an unknown value type",
      gguf({ nKv: 1n, body: (w) => (str(w, "a.b"), w.i32(13)) }),
      FormatError,
      /key 'a\.b' has invalid value type 13/,
    ],
    [
      "an array of more than 2^30 items",
      gguf({ nKv: 1n, body: (w) => (str(w, "a.b"), w.i32(9), w.i32(0), w.u64(2 ** 30 + 1)) }),
      LimitError,
      /key 'a\.b' declares an array of 1073741825 items, over the limit of 1073741824/,
    ],
    [
      "an array longer than the file",
      gguf({ nKv: 1n, body: (w) => (str(w, "a.b"), w.i32(9), w.i32(4), w.u64(1000)) }),
      LimitError,
      /array length of key 'a\.b' 1000 before offset \d+ needs at least 4000 bytes but only 64 remain/,
    ],
    [
      "arrays nested too deep",
      gguf({
        nKv: 1n,
        body: (w) => {
          str(w, "a.b");
          w.i32(9);
          for (let i = 0; i < 9; i++) (w.i32(9), w.u64(1));
          w.i32(0);
          w.u64(0);
        },
      }),
      LimitError,
      /key 'a\.b' nests arrays deeper than 8/,
    ],
    [
      "general.alignment of the wrong type",
      gguf({ nKv: 1n, body: (w) => (str(w, "general.alignment"), w.i32(5), w.i32(32)) }),
      FormatError,
      /key 'general\.alignment' must be of type u32 but is i32/,
    ],
    [
      "alignment 0",
      gguf({ nKv: 1n, body: (w) => (str(w, "general.alignment"), w.i32(4), w.u32(0)) }),
      FormatError,
      /alignment 0 is not a power of 2/,
    ],
    [
      "alignment 48",
      gguf({ nKv: 1n, body: (w) => (str(w, "general.alignment"), w.i32(4), w.u32(48)) }),
      FormatError,
      /alignment 48 is not a power of 2/,
    ],
    [
      "a 64-byte tensor name",
      gguf({ nTensors: 1n, body: (w) => info(w, "x".repeat(64), [4], 0, 0) }),
      FormatError,
      /tensor 0 name is too long: 64 bytes, the limit is 63/,
    ],
    [
      "duplicate tensor names",
      gguf({ nTensors: 2n, body: (w) => (info(w, "t", [8], 0, 0), info(w, "t", [8], 0, 32)), tail: 128 }),
      FormatError,
      /duplicate tensor name 't'/,
    ],
    [
      "five dimensions",
      gguf({ nTensors: 1n, body: (w) => info(w, "t", [1, 1, 1, 1, 1], 0, 0) }),
      FormatError,
      /tensor 't' has 5 dimensions, more than 4/,
    ],
    [
      "a negative dimension",
      gguf({ nTensors: 1n, body: (w) => info(w, "t", [-4], 0, 0) }),
      FormatError,
      /tensor 't' dimension 0 is negative \(-4\)/,
    ],
    [
      "an element count ggml can't hold",
      gguf({ nTensors: 1n, body: (w) => info(w, "t", [1n << 40n, 1n << 40n], 0, 0) }),
      FormatError,
      /tensor 't' has more elements than ggml can count/,
    ],
    [
      "a removed tensor type",
      gguf({ nTensors: 1n, body: (w) => info(w, "t", [32], 4, 0) }),
      FormatError,
      /tensor 't' has unknown ggml type 4/,
    ],
    [
      "an unknown tensor type",
      gguf({ nTensors: 1n, body: (w) => info(w, "t", [32], 99, 0) }),
      FormatError,
      /tensor 't' has unknown ggml type 99/,
    ],
    [
      "rows that are not whole blocks",
      gguf({ nTensors: 1n, body: (w) => info(w, "t", [33, 2], 8, 0) }),
      FormatError,
      /tensor 't' of type Q8_0 has 33 elements per row, not a multiple of the block size 32/,
    ],
    [
      "an offset that is not the running sum",
      gguf({ nTensors: 2n, body: (w) => (info(w, "a", [4], 0, 0), info(w, "b", [4], 0, 16)), tail: 128 }),
      FormatError,
      /tensor 'b' has offset 16, expected 32 \(the running sum of padded sizes\)/,
    ],
    [
      "tensor data past the end",
      gguf({ nTensors: 1n, body: (w) => info(w, "a", [1024], 0, 0), tail: 40 }),
      TruncatedError,
      /tensor 'a' ends at byte 4160 but <memory> has 97 bytes/,
    ],
    [
      "a file cut inside the header",
      gguf({ nKv: 1n, tail: 0 }).subarray(0, 22),
      TruncatedError,
      /needs 8 bytes at offset 16 but the input ends at 22/,
    ],
  ];
  for (const [what, bytes, errorClass, message] of cases) {
    await t.step(what, async () => {
      const error = await openGguf(bytesSource(bytes)).then(() => undefined, (e) => e);
      assert.ok(error instanceof errorClass, `${what}: got ${error}`);
      assert.match(error.message, message);
    });
  }
});

Deno.test("openGguf() over HTTP reads only the header until a tensor is read", async () => {
  const big = tensorFromBytes("big", "F32", [1024, 1024], new Uint8Array(4 << 20).fill(1));
  const small = tensorFromBytes("small", "F32", [4], new Uint8Array(16).fill(2));
  const sink = memorySink();
  await writeGguf({ metadata: { "general.name": "remote" }, tensors: [big, small] }, sink);
  const bytes = sink.bytes();
  let fetched = 0;
  const fakeFetch = (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const range = new Headers(init?.headers).get("range")!;
    const [, a, b] = /bytes=(\d+)-(\d+)/.exec(range)!;
    const body = bytes.slice(Number(a), Number(b) + 1);
    fetched += body.length;
    return Promise.resolve(
      new Response(body, { status: 206, headers: { "content-range": `bytes ${a}-${b}/${bytes.length}` } }),
    );
  };
  const source = await urlSource("https://example.test/model.gguf", { fetch: fakeFetch as typeof fetch });
  const file = await openSource(source);
  assert.equal(file.format, "gguf");
  assert.equal(file.metadata["general.name"], "remote");
  // The 64 KiB sniff and a 1 MiB header window, not the 4 MiB tensor.
  assert.ok(fetched <= (1 << 20) + (64 << 10), `fetched ${fetched} bytes to list tensors`);
  const before = fetched;
  assert.deepEqual(await file.tensors[1].read(), await small.read());
  assert.equal(fetched - before, 16);
});

Deno.test("ckpt convert turns safetensors into GGUF and back into the same bytes", async () => {
  await using dir = await tempDir();
  const w = tensorFromBytes("layer.weight", "F32", [4, 8], new Uint8Array(128).map((_, i) => i));
  const sink = memorySink();
  await writeSafetensors({ metadata: { format: "pt" }, tensors: [w] }, sink);
  await Deno.writeFile(`${dir.path}/model.safetensors`, sink.bytes());
  const toGguf = await runCli(["convert", `${dir.path}/model.safetensors`, `${dir.path}/model.gguf`]);
  assert.equal(toGguf.code, 0, toGguf.stderr);
  const gguf = await openGguf(await fileSource(`${dir.path}/model.gguf`));
  assert.deepEqual(gguf.kv.map((e) => e.key), ["ckpt.format"]);
  assert.deepEqual(gguf.tensorInfos[0].dims, [8, 4]);
  await gguf.close();
  const back = await runCli(["convert", `${dir.path}/model.gguf`, `${dir.path}/back.safetensors`]);
  assert.equal(back.code, 0, back.stderr);
  assert.deepEqual(await Deno.readFile(`${dir.path}/back.safetensors`), sink.bytes());
});
