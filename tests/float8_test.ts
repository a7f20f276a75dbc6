import assert from "node:assert/strict";
import { encodeFp8Bits, f32ToFp8, narrowFloatToF32, narrowFloatValues } from "../lib/float8.ts";
import { castBytes } from "../lib/cast.ts";
import { bytesOf, DATA } from "./_helpers.ts";

const golden = JSON.parse(await Deno.readTextFile(`${DATA}/quant/fp8_golden.json`)) as {
  rows: number[][];
};

Deno.test("f32ToFp8() equals the exact-rational golden encodings", async (t) => {
  const bits = new Uint32Array(golden.rows.map((r) => r[0]));
  const values = new Float32Array(bits.buffer);
  const cases = [
    { dtype: "F8_E4M3", saturate: false, column: 1 },
    { dtype: "F8_E4M3", saturate: true, column: 2 },
    { dtype: "F8_E5M2", saturate: false, column: 3 },
    { dtype: "F8_E5M2", saturate: true, column: 4 },
  ] as const;
  for (const c of cases) {
    await t.step(`${c.dtype} saturate=${c.saturate}`, () => {
      const out = f32ToFp8(values, c.dtype, { saturate: c.saturate });
      const bad: string[] = [];
      for (let i = 0; i < values.length; i++) {
        const want = golden.rows[i][c.column];
        if (out[i] !== want) bad.push(`0x${bits[i].toString(16)}: ${out[i]} != ${want}`);
        assert.equal(encodeFp8Bits(bits[i], c.dtype, c.saturate), want);
      }
      assert.deepEqual(bad, []);
    });
  }
});

Deno.test("f32ToFp8() handles the edge cases named by the OCP spec and PyTorch", async (t) => {
  const cases: [string, number, string, boolean, number][] = [
    ["largest E4M3FN value", 448, "F8_E4M3", false, 0x7e],
    ["tie at 464 rounds to even 448", 464, "F8_E4M3", false, 0x7e],
    ["above 464 overflows to NaN", 465, "F8_E4M3", false, 0x7f],
    ["480 is NaN as in PyTorch", -480, "F8_E4M3", false, 0xff],
    ["saturation clamps 1e9", 1e9, "F8_E4M3", true, 0x7e],
    ["saturation clamps -Inf", -Infinity, "F8_E4M3", true, 0xfe],
    ["Inf without saturation is NaN", Infinity, "F8_E4M3", false, 0x7f],
    ["smallest subnormal", 2 ** -9, "F8_E4M3", false, 0x01],
    ["half the smallest subnormal ties to zero", 2 ** -10, "F8_E4M3", false, 0x00],
    ["negative zero keeps its sign", -0, "F8_E4M3", false, 0x80],
    ["E5M2 largest value", 57344, "F8_E5M2", false, 0x7b],
    ["E5M2 tie at 61440 overflows to Inf", 61440, "F8_E5M2", false, 0x7c],
    ["E5M2 saturation of Inf", Infinity, "F8_E5M2", true, 0x7b],
    ["E5M2 negative Inf", -Infinity, "F8_E5M2", false, 0xfc],
    ["E5M2 NaN", NaN, "F8_E5M2", false, 0x7f],
    ["FNUZ has no negative zero", -0, "F8_E4M3FNUZ", false, 0x00],
    ["FNUZ overflow is its single NaN", 1e6, "F8_E4M3FNUZ", false, 0x80],
    ["FNUZ largest value 240", 240, "F8_E4M3FNUZ", false, 0x7f],
  ];
  for (const [name, value, dtype, saturate, want] of cases) {
    await t.step(name, () => {
      const out = f32ToFp8(new Float32Array([value]), dtype as "F8_E4M3", { saturate });
      assert.equal(out[0], want);
    });
  }
});

Deno.test("narrowFloatToF32() decodes every code as the format defines it", async (t) => {
  const cases: [string, number, number][] = [
    ["F8_E4M3", 0x7e, 448],
    ["F8_E4M3", 0x01, 2 ** -9],
    ["F8_E4M3", 0xff, NaN],
    ["F8_E5M2", 0x7c, Infinity],
    ["F8_E5M2", 0x7d, NaN],
    ["F8_E5M2", 0x01, 2 ** -16],
    ["F8_E4M3FNUZ", 0x80, NaN],
    ["F8_E4M3FNUZ", 0x7f, 240],
    ["F8_E5M2FNUZ", 0x7f, 57344],
    ["F8_E8M0", 0x7f, 1],
    ["F8_E8M0", 0x00, 2 ** -127],
    ["F8_E8M0", 0xff, NaN],
    ["F4", 0x7, 6],
    ["F4", 0xf, -6],
    ["F6_E2M3", 0x1f, 7.5],
    ["F6_E3M2", 0x1f, 28],
  ];
  for (const [dtype, code, want] of cases) {
    await t.step(`${dtype} 0x${code.toString(16)}`, () => {
      assert.ok(Object.is(narrowFloatValues(dtype as "F4")![code], want));
    });
  }
  await t.step("every F8_E4M3 and F8_E5M2 value re-encodes to its own code", () => {
    for (const dtype of ["F8_E4M3", "F8_E5M2"] as const) {
      const values = narrowFloatValues(dtype)!;
      const codes = f32ToFp8(values, dtype);
      for (let c = 0; c < 256; c++) {
        if (Number.isNaN(values[c])) assert.ok(Number.isNaN(values[codes[c]]));
        else assert.equal(codes[c], c, `code 0x${c.toString(16)}`);
      }
    }
  });
  await t.step("F4 unpacks the low nibble first", () => {
    const out = narrowFloatToF32(new Uint8Array([0x72]), "F4", new Float32Array(2));
    assert.deepEqual([...out], [1, 6]);
  });
  await t.step("F6 unpacks a little-endian bit stream", () => {
    // Elements 1, 2, 3, 4 of E2M3 (codes 8, 16, 20, 24) packed 6 bits each.
    const codes = [8, 16, 20, 24];
    let word = 0;
    codes.forEach((c, i) => word |= c << (6 * i));
    const bytes = new Uint8Array([word & 255, (word >> 8) & 255, (word >> 16) & 255]);
    const out = narrowFloatToF32(bytes, "F6_E2M3", new Float32Array(4));
    assert.deepEqual([...out], [1, 2, 3, 4]);
  });
});

Deno.test("castBytes() converts through the FP8 codecs in both directions", () => {
  const values = new Float32Array([1, -2.5, 448, 0.015625]);
  const f8 = castBytes(bytesOf(values), "F32", "F8_E4M3", 4);
  assert.deepEqual([...f8], [0x38, 0xc2, 0x7e, 0x08]);
  const back = new Float32Array(castBytes(f8, "F8_E4M3", "F32", 4).buffer);
  assert.deepEqual([...back], [1, -2.5, 448, 0.015625]);
  const bf16 = castBytes(castBytes(bytesOf(values), "F32", "F8_E5M2", 4), "F8_E5M2", "BF16", 4);
  assert.equal(bf16.length, 8);
});
