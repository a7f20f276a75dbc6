import assert from "node:assert/strict";
import { byteLengthOf, DTYPES, elementCount, isDType, isFloatDType } from "../lib/dtype.ts";
import { FormatError, LimitError } from "../lib/errors.ts";

Deno.test("DTYPES lists every safetensors dtype, and C128, with its width", () => {
  const widths: Record<string, number> = {
    BOOL: 8,
    U8: 8,
    I8: 8,
    U16: 16,
    I16: 16,
    F16: 16,
    BF16: 16,
    U32: 32,
    I32: 32,
    F32: 32,
    C64: 64,
    C128: 128,
    F64: 64,
    U64: 64,
    I64: 64,
    F8_E4M3: 8,
    F8_E5M2: 8,
    F8_E8M0: 8,
    F8_E4M3FNUZ: 8,
    F8_E5M2FNUZ: 8,
    F4: 4,
    F6_E2M3: 6,
    F6_E3M2: 6,
  };
  assert.deepEqual(Object.keys(DTYPES).sort(), Object.keys(widths).sort());
  for (const [name, bits] of Object.entries(widths)) {
    assert.equal(DTYPES[name as keyof typeof DTYPES].bits, bits);
  }
});

Deno.test("byteLengthOf() packs sub-byte dtypes and rejects partial bytes", () => {
  assert.equal(byteLengthOf("F4", [3, 2]), 3);
  assert.equal(byteLengthOf("F6_E2M3", [4]), 3);
  assert.throws(() => byteLengthOf("F4", [3]), FormatError);
  assert.throws(() => byteLengthOf("F6_E3M2", [2]), FormatError);
  assert.equal(byteLengthOf("F32", []), 4);
  assert.equal(byteLengthOf("I64", [0, 5]), 0);
});

Deno.test("elementCount() rejects negative, fractional and overflowing shapes", () => {
  assert.throws(() => elementCount([-1]), FormatError);
  assert.throws(() => elementCount([1.5]), FormatError);
  assert.throws(() => elementCount([2 ** 30, 2 ** 30, 2 ** 30]), LimitError);
});

Deno.test("isDType() and isFloatDType() classify names", () => {
  assert.equal(isDType("BF16"), true);
  assert.equal(isDType("bfloat16"), false);
  assert.equal(isDType("toString"), false);
  assert.equal(isFloatDType("F8_E4M3"), true);
  assert.equal(isFloatDType("U8"), false);
});
