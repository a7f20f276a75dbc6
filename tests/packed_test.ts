import assert from "node:assert/strict";
import { type ByteSource, bytesSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { FormatError, LimitError, TruncatedError, UsageError } from "../lib/errors.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import {
  alignTo,
  checkMagic,
  decodeJsonHeader,
  definePackedFormat,
  deflateBlob,
  encodeJsonHeader,
  FieldReader,
  FieldWriter,
  inflateBlob,
  isPowerOfTwo,
  NeedMoreBytes,
  type PackedCodec,
  paddingFor,
  parseFromSource,
  readLengthPrefixed,
  sliceSource,
  tensorTableFromJson,
  writeLengthPrefixed,
} from "../formats/packed/mod.ts";

function countingSource(bytes: Uint8Array): ByteSource & { reads: [number, number][] } {
  const inner = bytesSource(bytes);
  const reads: [number, number][] = [];
  return {
    size: inner.size,
    name: inner.name,
    reads,
    read(offset: number, length: number, out?: Uint8Array) {
      reads.push([offset, length]);
      return inner.read(offset, length, out);
    },
    close: () => inner.close(),
  };
}

Deno.test("FieldWriter and FieldReader agree on every little-endian field", () => {
  const w = new FieldWriter();
  w.u8(255);
  w.i8(-128);
  w.u16(65535);
  w.i16(-32768);
  w.u32(4294967295);
  w.i32(-2147483648);
  w.u64(2n ** 64n - 1n);
  w.i64(-(2n ** 63n));
  w.f32(0.1);
  w.f64(Math.PI);
  w.utf8("héllo");
  for (let i = 0; i < 100; i++) w.u32(i); // grows past the first buffer
  const r = new FieldReader(w.toBytes());
  assert.deepEqual(
    [r.u8(), r.i8(), r.u16(), r.i16(), r.u32(), r.i32(), r.u64(), r.i64(), r.f32(), r.f64(), r.utf8(6)],
    [
      255,
      -128,
      65535,
      -32768,
      4294967295,
      -2147483648,
      2n ** 64n - 1n,
      -(2n ** 63n),
      Math.fround(0.1),
      Math.PI,
      "héllo",
    ],
  );
  for (let i = 0; i < 100; i++) assert.equal(r.u32(), i);
  assert.equal(r.remaining, 0);
});

Deno.test("FieldReader refuses reads past the input, names offsets, and checks counts before allocation", async (t) => {
  await t.step("a read past the end", () => {
    const r = new FieldReader(new Uint8Array(6), { format: "demo", base: 100 });
    r.u32();
    assert.throws(() => r.u32(), (e: Error) =>
      e instanceof TruncatedError && e.offset === 104 &&
      e.message === "Cannot decode demo: needs 4 bytes at offset 104 but the input ends at 106");
  });
  await t.step("a read past the window but within the input", () => {
    const r = new FieldReader(new Uint8Array(2), { totalSize: 10 });
    assert.throws(() => r.u32(), (e: Error) => e instanceof NeedMoreBytes && e.needed === 4);
  });
  await t.step("a count larger than the bytes left", () => {
    const r = new FieldReader(new Uint8Array(16), { format: "demo" });
    assert.throws(() => r.count(5n, 4, "item count"), (e: Error) =>
      e instanceof LimitError &&
      e.message ===
        "Cannot decode demo: item count 5 before offset 0 needs at least 20 bytes but only 16 remain");
  });
  await t.step("a count over its limit", () => {
    const r = new FieldReader(new Uint8Array(16));
    assert.throws(
      () => r.count(3, 1, "depth", 2),
      (e: Error) => e instanceof LimitError && /exceeds the limit of 2/.test(e.message),
    );
  });
  await t.step("a 64-bit length beyond 2^53", () => {
    const w = new FieldWriter();
    w.u64(2n ** 60n);
    assert.throws(
      () => new FieldReader(w.toBytes()).u64Number("length"),
      (e: Error) =>
        e instanceof LimitError && /length 1152921504606846976 at offset 0 is too large/.test(e.message),
    );
  });
  await t.step("invalid UTF-8", () => {
    assert.throws(
      () => new FieldReader(new Uint8Array([0xc3, 0x28])).utf8(2),
      (e: Error) =>
        e instanceof FormatError && (e as FormatError).offset === 0 && /invalid UTF-8/.test(e.message),
    );
  });
});

Deno.test("parseFromSource() widens its window only as far as the parser reads", async () => {
  const w = new FieldWriter();
  w.u32(3000);
  w.zeros(3000);
  w.u8(42);
  w.zeros(100_000);
  const src = countingSource(w.toBytes());
  const value = await parseFromSource(src, (r) => {
    r.skip(r.u32());
    return r.u8();
  }, { initialBytes: 16 });
  assert.equal(value, 42);
  assert.ok(src.reads.length > 1 && src.reads.every(([, n]) => n <= 3005 * 2), JSON.stringify(src.reads));
  await assert.rejects(
    () => parseFromSource(src, (r) => r.skip(50_000), { initialBytes: 16, maxBytes: 4096, format: "demo" }),
    (e: Error) => e instanceof LimitError && /larger than the limit of 4096 bytes/.test(e.message),
  );
});

Deno.test("alignment helpers round up to powers of two", () => {
  assert.deepEqual([alignTo(0, 32), alignTo(1, 32), alignTo(32, 32), alignTo(33, 64)], [0, 32, 32, 64]);
  assert.equal(paddingFor(10, 8), 6);
  assert.deepEqual([1, 2, 48, 0, -4, 2 ** 31].map(isPowerOfTwo), [true, true, false, false, false, false]);
  assert.throws(() => alignTo(3, 0), UsageError);
});

Deno.test("header codecs: padded JSON and length-prefixed blocks", async (t) => {
  await t.step("JSON padded to an alignment round-trips", () => {
    const bytes = encodeJsonHeader({ a: [1, "x"] }, { padTo: 16, prefixBytes: 8 });
    assert.equal((bytes.length + 8) % 16, 0);
    assert.deepEqual(decodeJsonHeader(bytes), { a: [1, "x"] });
  });
  const bad: [string, Uint8Array, RegExp][] = [
    ["not JSON", new TextEncoder().encode("{oops"), /Cannot decode demo header: invalid JSON/],
    ["not an object", new TextEncoder().encode("[1]"), /Cannot decode demo header: it is not a JSON object/],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /Cannot decode demo header: it is not valid UTF-8/],
  ];
  for (const [what, bytes, message] of bad) {
    await t.step(what, () => {
      assert.throws(
        () => decodeJsonHeader(bytes, { format: "demo", offset: 8 }),
        (e: Error) => e instanceof FormatError && (e as FormatError).offset === 8 && message.test(e.message),
      );
    });
  }
  await t.step("length-prefixed blocks round-trip and are checked", () => {
    const w = new FieldWriter();
    writeLengthPrefixed(w, new Uint8Array([1, 2, 3]), 2);
    writeLengthPrefixed(w, new Uint8Array([4]), 8);
    const r = new FieldReader(w.toBytes(), { format: "demo" });
    assert.deepEqual(readLengthPrefixed(r, { width: 2 }), new Uint8Array([1, 2, 3]));
    assert.deepEqual(readLengthPrefixed(r), new Uint8Array([4]));
    const liar = new FieldWriter();
    liar.u32(1000);
    assert.throws(
      () =>
        readLengthPrefixed(new FieldReader(liar.toBytes(), { format: "demo" }), { width: 4, what: "blob" }),
      (e: Error) =>
        e instanceof LimitError &&
        e.message === "Cannot decode demo: blob at offset 0 declares 1000 bytes but only 0 remain",
    );
  });
});

Deno.test("inflateBlob() restores deflated bytes and refuses bombs and corrupt streams", async (t) => {
  const data = new Uint8Array(10_000).map((_, i) => i % 7);
  await t.step("a round trip", async () => {
    assert.deepEqual(await inflateBlob(deflateBlob(data), data.length), data);
  });
  await t.step("a bomb", async () => {
    const bomb = deflateBlob(new Uint8Array(50 << 20));
    await assert.rejects(
      () => inflateBlob(bomb, 1000, { format: "demo", what: "tensor 'w'" }),
      (e: Error) =>
        e instanceof LimitError &&
        /Cannot inflate demo tensor 'w': it expands past its declared 1000 bytes/.test(e.message),
    );
  });
  await t.step("a short stream", async () => {
    await assert.rejects(
      () => inflateBlob(deflateBlob(data), data.length + 1),
      (e: Error) => e instanceof FormatError && /it expands to 10000 bytes, expected 10001/.test(e.message),
    );
  });
  await t.step("garbage", async () => {
    await assert.rejects(
      () => inflateBlob(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 10),
      (e: Error) => e instanceof FormatError && /corrupt deflate data/.test(e.message),
    );
  });
});

Deno.test("tensorTableFromJson() validates every record and the layout", async (t) => {
  const ok = { name: "w", dtype: "F32", shape: [2], offset: 64, stored_bytes: 8, raw_bytes: 8 };
  const cases: [string, unknown, RegExp][] = [
    ["not an array", {}, /it is not an array/],
    ["a duplicate name", [ok, { ...ok, offset: 72 }], /duplicate tensor name 'w'/],
    ["an unknown dtype", [{ ...ok, dtype: "F12" }], /tensor 'w' has unknown dtype "F12"/],
    ["a bad shape", [{ ...ok, shape: [-1] }], /tensor 'w' has an invalid shape/],
    ["a fractional offset", [{ ...ok, offset: 1.5 }], /tensor 'w' has an invalid offset/],
    ["sizes that differ without compression", [{ ...ok, raw_bytes: 9 }], /stored and raw sizes differ/],
    ["an unknown compression", [{ ...ok, compression: "zstd" }], /unknown compression "zstd"/],
    ["a blob outside the data", [{ ...ok, offset: 200 }], /lies outside the data region \[64, 128\)/],
    ["overlapping blobs", [ok, { ...ok, name: "b", offset: 68 }], /tensors 'w' and 'b' overlap/],
  ];
  for (const [what, value, message] of cases) {
    await t.step(what, () => {
      assert.throws(
        () => tensorTableFromJson(value, { format: "demo", dataStart: 64, dataEnd: 128 }),
        (e: Error) => e instanceof FormatError && message.test(e.message),
      );
    });
  }
});

const values = new Float32Array(256).map((_, i) => Math.sin(i) * 3);
const model = (): TensorEntry[] => [
  tensorFromBytes("w", "F32", [16, 16], new Uint8Array(values.buffer)),
  tensorFromBytes("ids", "I64", [3], new Uint8Array(24).fill(5)),
];

Deno.test("definePackedFormat() writes streams and reads them back lazily", async (t) => {
  for (const deflate of [false, true]) {
    await t.step(deflate ? "deflated" : "stored", async () => {
      const format = definePackedFormat({
        name: "demo",
        extensions: [".demo"],
        magic: "DEMO",
        deflate,
        alignment: 128,
      });
      const sink = memorySink();
      await format.write({ metadata: { note: "hi" }, tensors: model() }, sink);
      const bytes = sink.bytes();
      assert.ok(format.sniff(bytes.subarray(0, 64), bytes.length));
      assert.ok(!format.sniff(new TextEncoder().encode("DEMX".padEnd(128)), 128));
      const src = countingSource(bytes);
      const file = await format.open(src);
      const listed = src.reads.reduce((n, [, len]) => n + len, 0);
      assert.ok(listed < bytes.length - 512, "listing tensors reads the header and table only");
      assert.deepEqual(file.metadata, { note: "hi" });
      for (const [i, want] of model().entries()) {
        const got = file.tensors[i];
        assert.deepEqual([got.name, got.dtype, got.shape, got.byteLength], [
          want.name,
          want.dtype,
          want.shape,
          want.byteLength,
        ]);
        assert.deepEqual(await got.read(), await want.read());
      }
      if (!deflate) assert.equal(src.reads.at(-1)![0] % 128, 0);
    });
  }
});

Deno.test("definePackedFormat() passes tensors through a codec with per-tensor attributes", async () => {
  // Store F32 as its negation, remembering a checksum: enough to show both hooks run.
  const negate: PackedCodec = {
    encode(entry, bytes) {
      const f = new Float32Array(bytes.slice().buffer).map((x) => -x);
      return { bytes: new Uint8Array(f.buffer), attributes: { name: entry.name, n: f.length } };
    },
    decode(record, stored) {
      assert.deepEqual(record.attributes, { name: record.name, n: stored.length / 4 });
      return new Uint8Array(new Float32Array(stored.slice().buffer).map((x) => -x).buffer);
    },
  };
  const format = definePackedFormat({ name: "neg", extensions: [".neg"], magic: "NEG!", codec: negate });
  const sink = memorySink();
  await format.write({ metadata: {}, tensors: [model()[0]] }, sink);
  const bytes = sink.bytes();
  const stored = new Float32Array(bytes.slice(64, 64 + 1024).buffer);
  assert.equal(stored[1], -values[1]);
  const file = await format.open(bytesSource(bytes));
  assert.deepEqual(await file.tensors[0].read(), new Uint8Array(values.buffer));
});

Deno.test("definePackedFormat() rejects foreign, truncated and lying files", async (t) => {
  const format = definePackedFormat({ name: "demo", extensions: [".demo"], magic: "DEMO" });
  const sink = memorySink();
  await format.write({ metadata: {}, tensors: model() }, sink);
  const good = sink.bytes();
  const patched = (at: number, bytes: number[]) => {
    const b = good.slice();
    b.set(bytes, at < 0 ? b.length + at : at);
    return b;
  };
  const cases: [string, Uint8Array, new (...a: never[]) => Error, RegExp][] = [
    ["a foreign magic", patched(0, [0x58]), FormatError, /invalid magic 'XEMO', expected 'DEMO'/],
    ["another version", patched(4, [2]), FormatError, /version 2 is not supported \(supported: 1\)/],
    ["a file too short", good.subarray(0, 10), FormatError, /has 10 bytes, too few for a header/],
    [
      "a table length past the file",
      patched(-8, [0xff, 0xff, 0xff, 0x7f]),
      LimitError,
      /the tensor table declares 2147483647 bytes/,
    ],
    [
      "a cut-off table",
      good.subarray(0, good.length - 20),
      LimitError,
      /tensor table length \d+ at offset \d+ is too large/,
    ],
  ];
  for (const [what, bytes, errorClass, message] of cases) {
    await t.step(what, async () => {
      const error = await format.open(bytesSource(bytes)).then(() => undefined, (e) => e);
      assert.ok(error instanceof errorClass, `${what}: ${error}`);
      assert.match(error.message, message);
    });
  }
  await t.step("a bad magic in the spec", () => {
    assert.throws(() => definePackedFormat({ name: "x", extensions: [], magic: "AB" }), UsageError);
  });
  await t.step("checkMagic() names both magics", () => {
    assert.throws(
      () => checkMagic(new Uint8Array([1, 2, 3, 4]), "GGUF", "gguf"),
      (e: Error) =>
        e instanceof FormatError && e.message === "Cannot decode gguf: invalid magic '????', expected 'GGUF'",
    );
  });
});

Deno.test("sliceSource() exposes a window and refuses reads outside it", async () => {
  const inner = sliceSource(bytesSource(new Uint8Array([0, 1, 2, 3, 4, 5])), 2, 3);
  assert.deepEqual(await inner.read(1, 2), new Uint8Array([3, 4]));
  await assert.rejects(() => inner.read(2, 2), TruncatedError);
  assert.throws(() => sliceSource(bytesSource(new Uint8Array(4)), 3, 2), TruncatedError);
});
