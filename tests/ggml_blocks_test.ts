import assert from "node:assert/strict";
import { FormatError, UsageError } from "../lib/errors.ts";
import {
  dequantizeBlocks,
  dequantizeEntry,
  GGML_TYPES,
  ggmlByteLength,
  ggmlTypeById,
  ggmlTypeByName,
} from "../lib/ggml_blocks.ts";

function f16Bits(x: number): [number, number] {
  const u = new Uint16Array(new Float16Array([x]).buffer)[0];
  return [u & 0xff, u >> 8];
}

Deno.test("GGML_TYPES lists each type once, by id and by name", () => {
  const ids = GGML_TYPES.map((t) => t.id);
  const names = GGML_TYPES.map((t) => t.name);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(new Set(names).size, names.length);
  for (const t of GGML_TYPES) {
    assert.equal(ggmlTypeById(t.id), t);
    assert.equal(ggmlTypeByName(t.name), t);
    // Plain element types carry a dtype; block types carry blocks.
    assert.equal(t.dtype !== undefined, t.blockSize === 1, t.name);
  }
  for (const removed of [4, 5, 31, 32, 33, 36, 37, 38, 40, -1]) {
    assert.equal(ggmlTypeById(removed), undefined);
  }
});

Deno.test("ggmlByteLength() counts whole blocks and refuses partial rows", async (t) => {
  for (const type of GGML_TYPES) {
    await t.step(type.name, () => {
      const shape = [3, type.blockSize * 2];
      assert.equal(ggmlByteLength(type.name, shape), 3 * 2 * type.typeSize);
    });
  }
  await t.step("a partial row", () => {
    assert.throws(
      () => ggmlByteLength("Q4_K", [2, 128]),
      (e: Error) =>
        e instanceof FormatError &&
        /rows of 128 elements, not a multiple of the block size 256/.test(e.message),
    );
  });
});

Deno.test("dequantizeBlocks() decodes hand-built legacy blocks exactly", async (t) => {
  await t.step("Q8_0", () => {
    const block = new Uint8Array(34);
    block.set(f16Bits(0.5));
    const qs = Array.from({ length: 32 }, (_, i) => i * 8 - 128);
    block.set(new Uint8Array(new Int8Array(qs).buffer), 2);
    assert.deepEqual([...dequantizeBlocks("Q8_0", block, 32)], qs.map((q) => q * 0.5));
  });
  await t.step("Q4_0: element j in the low nibble, j + 16 in the high", () => {
    const block = new Uint8Array(18);
    block.set(f16Bits(2));
    for (let j = 0; j < 16; j++) block[2 + j] = (j & 0xf) | ((15 - j) << 4);
    const want = [
      ...Array.from({ length: 16 }, (_, j) => (j - 8) * 2),
      ...Array.from({ length: 16 }, (_, j) => (7 - j) * 2),
    ];
    assert.deepEqual([...dequantizeBlocks("Q4_0", block, 32)], want);
  });
  await t.step("Q4_1 adds the minimum", () => {
    const block = new Uint8Array(20);
    block.set(f16Bits(0.25));
    block.set(f16Bits(-1), 2);
    for (let j = 0; j < 16; j++) block[4 + j] = j | (j << 4);
    const half = Array.from({ length: 16 }, (_, j) => j * 0.25 - 1);
    assert.deepEqual([...dequantizeBlocks("Q4_1", block, 32)], [...half, ...half]);
  });
  await t.step("Q5_0 takes the fifth bit from qh", () => {
    const block = new Uint8Array(22);
    block.set(f16Bits(1));
    new DataView(block.buffer).setUint32(2, 0x80000001, true); // elements 0 and 31 have bit 4 set
    const values = dequantizeBlocks("Q5_0", block, 32);
    assert.equal(values[0], 16 - 16);
    assert.equal(values[1], -16);
    assert.equal(values[31], 0);
    assert.equal(values[16], -16);
  });
  await t.step("Q5_1 adds the minimum to 5-bit values", () => {
    const block = new Uint8Array(24);
    block.set(f16Bits(1));
    block.set(f16Bits(100), 2);
    new DataView(block.buffer).setUint32(4, 0xffffffff, true);
    block.fill(0xff, 8);
    assert.deepEqual([...dequantizeBlocks("Q5_1", block, 32)], new Array(32).fill(131));
  });
  await t.step("Q8_1 ignores its sum field", () => {
    const block = new Uint8Array(36);
    block.set(f16Bits(4));
    block.set(f16Bits(1000), 2);
    block[4] = 3;
    block[35] = 0xff;
    const values = dequantizeBlocks("Q8_1", block, 32);
    assert.equal(values[0], 12);
    assert.equal(values[31], -4);
  });
});

Deno.test("dequantizeBlocks() refuses bad arguments", async (t) => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      "a partial block",
      () => dequantizeBlocks("Q8_0", new Uint8Array(34), 31),
      /31 elements is not a whole number of 32-element blocks/,
    ],
    [
      "too few bytes",
      () => dequantizeBlocks("Q8_0", new Uint8Array(33), 32),
      /32 elements need 34 bytes, got 33/,
    ],
    [
      "a small output",
      () => dequantizeBlocks("Q8_0", new Uint8Array(34), 32, new Float32Array(8)),
      /output holds 8 values, need 32/,
    ],
    ["an unknown type", () => dequantizeBlocks("Q3_0", new Uint8Array(34), 32), /Unknown ggml type 'Q3_0'/],
    [
      "a type without a decoder",
      () => dequantizeBlocks("IQ2_XXS", new Uint8Array(66), 256),
      /no decoder for this ggml type/,
    ],
  ];
  for (const [what, run, message] of cases) {
    await t.step(
      what,
      () => assert.throws(run, (e: Error) => e instanceof UsageError && message.test(e.message)),
    );
  }
});

Deno.test("dequantizeEntry() makes an F32 entry that reads into any buffer", async () => {
  const block = new Uint8Array(34);
  block.set(f16Bits(1));
  for (let j = 0; j < 32; j++) block[2 + j] = j;
  const q = {
    name: "w",
    dtype: "F32" as const,
    shape: [1, 32],
    byteLength: 34,
    encoding: "Q8_0",
    read: () => Promise.resolve(block),
  };
  const f = dequantizeEntry(q);
  assert.equal(f.encoding, undefined);
  assert.equal(f.dtype, "F32");
  assert.equal(f.byteLength, 128);
  const plain = await f.read();
  assert.deepEqual(
    [...new Float32Array(plain.buffer, plain.byteOffset, 32)],
    Array.from({ length: 32 }, (_, j) => j),
  );
  const odd = new Uint8Array(131);
  assert.deepEqual(await f.read(odd.subarray(1)), plain);
  assert.equal(dequantizeEntry(f), f);
  assert.throws(
    () => dequantizeEntry({ ...q, encoding: "TQ1_0" }),
    (e: Error) => e instanceof UsageError && /no decoder for ggml type TQ1_0/.test(e.message),
  );
});
