import assert from "node:assert/strict";
import { bf16ToF32, canCast, castBytes, f32ToBf16 } from "../lib/cast.ts";
import { UsageError } from "../lib/errors.ts";
import { bytesSource } from "../lib/byte_source.ts";
import { openSafetensors } from "../formats/safetensors/open_safetensors.ts";
import { DATA } from "./_helpers.ts";

/** casts.safetensors: F32 inputs and torch 1.13's `.half()` and `.bfloat16()` of them (make_casts.py). */
async function golden(): Promise<{ input: Uint8Array; f16: Uint16Array; bf16: Uint16Array; count: number }> {
  const file = await openSafetensors(
    bytesSource(await Deno.readFile(`${DATA}/safetensors/casts.safetensors`)),
  );
  const read = async (name: string) => (await file.tensors.find((t) => t.name === name)!.read()).slice();
  const input = await read("input");
  return {
    input,
    f16: new Uint16Array((await read("f16")).buffer),
    bf16: new Uint16Array((await read("bf16")).buffer),
    count: input.length / 4,
  };
}

const isNaN16 = (bits: number) => (bits & 0x7c00) === 0x7c00 && (bits & 0x03ff) !== 0;
const isNaNBf16 = (bits: number) => (bits & 0x7f80) === 0x7f80 && (bits & 0x007f) !== 0;

Deno.test("castBytes() F32 → F16 matches torch bit for bit, NaN, Inf, zeros, subnormals and ties included", async () => {
  const { input, f16, count } = await golden();
  const ours = new Uint16Array(castBytes(input, "F32", "F16", count).buffer);
  const bits = new Uint32Array(input.slice().buffer);
  const mismatches: string[] = [];
  for (let i = 0; i < count; i++) {
    if (ours[i] !== f16[i]) {
      mismatches.push(
        `0x${bits[i].toString(16)}: ours 0x${ours[i].toString(16)}, torch 0x${f16[i].toString(16)}`,
      );
    }
  }
  assert.deepEqual(mismatches, []);
  // The golden file really holds the edge cases it promises.
  assert.ok(Array.from(f16).some(isNaN16));
  assert.ok(f16.includes(0x7c00) && f16.includes(0xfc00) && f16.includes(0x8000));
  assert.ok(Array.from(f16).some((b) => (b & 0x7c00) === 0 && (b & 0x3ff) !== 0), "f16 subnormals");
});

Deno.test("castBytes() F32 → BF16 matches torch bit for bit, except NaN payloads", async () => {
  // torch 1.13 writes NaN as 0xFFFF on its vectorised CPU path and 0x7FC0 on
  // its scalar path; both are NaN, and ckpt keeps the sign and quiets the
  // payload instead. Every other value must be identical.
  const { input, bf16, count } = await golden();
  const ours = new Uint16Array(castBytes(input, "F32", "BF16", count).buffer);
  const bits = new Uint32Array(input.slice().buffer);
  const mismatches: string[] = [];
  let nans = 0;
  for (let i = 0; i < count; i++) {
    const inputIsNaN = (bits[i] & 0x7fffffff) > 0x7f800000;
    if (inputIsNaN) {
      nans++;
      assert.ok(isNaNBf16(ours[i]) && isNaNBf16(bf16[i]), `NaN 0x${bits[i].toString(16)}`);
      assert.equal(ours[i] & 0x8000, (bits[i] >>> 16) & 0x8000, "sign kept");
    } else if (ours[i] !== bf16[i]) {
      mismatches.push(
        `0x${bits[i].toString(16)}: ours 0x${ours[i].toString(16)}, torch 0x${bf16[i].toString(16)}`,
      );
    }
  }
  assert.deepEqual(mismatches, []);
  assert.ok(nans >= 6);
  assert.ok(bf16.includes(0x7f80) && bf16.includes(0xff80), "overflow to ±Inf is in the golden data");
});

Deno.test("bf16ToF32() widens exactly and f32ToBf16() rounds ties to even", () => {
  const wide = bf16ToF32(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0x0001]));
  assert.deepEqual(Array.from(wide.slice(0, 3)), [1, -2, Infinity]);
  assert.equal(wide[3], 2 ** -133);
  const ties = new Float32Array(new Uint32Array([0x3f808000, 0x3f818000]).buffer);
  assert.deepEqual(Array.from(f32ToBf16(ties)), [0x3f80, 0x3f82]);
});

Deno.test("castBytes() round-trips F16 and BF16 through F32 exactly", () => {
  const halves = new Uint16Array(65536).map((_, i) => i);
  const finite = halves.filter((b) => !isNaN16(b));
  const wide = castBytes(new Uint8Array(finite.buffer), "F16", "F32", finite.length);
  assert.deepEqual(new Uint16Array(castBytes(wide, "F32", "F16", finite.length).buffer), finite);
  const brains = halves.filter((b) => !isNaNBf16(b));
  const wideB = castBytes(new Uint8Array(brains.buffer), "BF16", "F32", brains.length);
  assert.deepEqual(new Uint16Array(castBytes(wideB, "F32", "BF16", brains.length).buffer), brains);
});

Deno.test("castBytes() handles unaligned input and a caller's output buffer", () => {
  const values = new Float32Array([1.5, -3.25, 1e-3]);
  const unaligned = new Uint8Array(13).subarray(1);
  unaligned.set(new Uint8Array(values.buffer));
  const out = new Uint8Array(16);
  const result = castBytes(unaligned, "F32", "F16", 3, { out });
  assert.equal(result.buffer, out.buffer);
  assert.deepEqual(new Float16Array(out.buffer, 0, 3), new Float16Array(values));
});

Deno.test("castBytes() refuses integer dtypes", () => {
  assert.equal(canCast("F32", "BF16"), true);
  assert.equal(canCast("I32", "F32"), false);
  assert.throws(
    () => castBytes(new Uint8Array(4), "I32", "F32", 1),
    (e: Error) =>
      e instanceof UsageError &&
      /Cannot cast I32 to F32: only floating-point dtypes are cast/.test(e.message),
  );
});
