import assert from "node:assert/strict";
import { schemeByName } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import { dequantizeBlocks } from "../lib/ggml_blocks.ts";
import { DATA } from "./_helpers.ts";

const index = JSON.parse(await Deno.readTextFile(`${DATA}/quant/quant_golden.json`)) as {
  parts: Record<string, [number, number]>;
};
const blob = await Deno.readFile(`${DATA}/quant/quant_golden.bin`);
function part(name: string): Uint8Array {
  const [offset, length] = index.parts[name];
  return blob.slice(offset, offset + length);
}
const input = new Float32Array(part("input").buffer);
const minmaxInput = new Float32Array(part("input_minmax").buffer);

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} != ${b[i]}`;
  return "";
}

Deno.test("ggml block quantizers write the bytes of the numpy port of quantize_row_*_ref", async (t) => {
  for (const name of ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]) {
    await t.step(name, () => {
      const scheme = schemeByName(name);
      const plan = scheme.plan([input.length / 32, 32], DEFAULT_SETTINGS);
      const result = scheme.quantize(plan, input);
      assert.equal(firstDifference(result.data, part(name)), "");
    });
  }
});

Deno.test("ggml block dequantizers agree with the ggml block table", async (t) => {
  for (const name of ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]) {
    await t.step(name, () => {
      const scheme = schemeByName(name);
      const plan = scheme.plan([input.length], DEFAULT_SETTINGS);
      const ours = scheme.dequantize(plan, { data: part(name), companions: [] });
      const table = dequantizeBlocks(name, part(name), input.length);
      assert.deepEqual(ours, table);
    });
  }
});

Deno.test("NF4 and FP4 codes and absmax equal the numpy port of bitsandbytes' blockwise kernel", async (t) => {
  const x = input.subarray(0, input.length - 3);
  for (const name of ["NF4", "FP4"]) {
    await t.step(name, () => {
      const scheme = schemeByName(name);
      const plan = scheme.plan([x.length], DEFAULT_SETTINGS);
      const result = scheme.quantize(plan, x);
      const golden = part(name);
      assert.equal(firstDifference(result.data, golden.subarray(0, plan.byteLength)), "");
      assert.equal(firstDifference(result.companions[0], golden.subarray(plan.byteLength)), "");
    });
  }
});

Deno.test("minmax1 to minmax8 pack the codes of the numpy port LSB first", async (t) => {
  const x = minmaxInput.subarray(0, minmaxInput.length - 5);
  for (let k = 1; k <= 8; k++) {
    await t.step(`minmax${k}`, () => {
      const scheme = schemeByName(`minmax${k}`);
      const plan = scheme.plan([x.length], DEFAULT_SETTINGS);
      const result = scheme.quantize(plan, x);
      const golden = part(`minmax${k}`);
      assert.equal(plan.byteLength, Math.ceil((x.length * k) / 8));
      assert.equal(firstDifference(result.data, golden.subarray(0, plan.byteLength)), "");
      assert.equal(
        firstDifference(result.companions[0], golden.subarray(plan.byteLength, plan.byteLength + 4)),
        "",
      );
      assert.equal(firstDifference(result.companions[1], golden.subarray(plan.byteLength + 4)), "");
    });
  }
});

Deno.test("every scheme dequantizes close to its input", async (t) => {
  const x = new Float32Array(4096).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
  const bound: Record<string, number> = {
    F16: 0.01,
    BF16: 0.05,
    F8_E4M3: 0.5,
    F8_E5M2: 1,
    int8: 0.05,
    Q8_0: 0.05,
    Q4_0: 0.9,
    Q4_1: 0.6,
    Q5_0: 0.45,
    Q5_1: 0.3,
    NF4: 1.2,
    FP4: 1.6,
  };
  for (let k = 1; k <= 8; k++) bound[`minmax${k}`] = 14 / (2 ** k - 1);
  for (const [name, limit] of Object.entries(bound)) {
    await t.step(name, () => {
      const scheme = schemeByName(name);
      const plan = scheme.plan([128, 32], DEFAULT_SETTINGS);
      const y = scheme.dequantize(plan, scheme.quantize(plan, x));
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
      assert.ok(worst <= limit, `${name}: max error ${worst} > ${limit}`);
    });
  }
});

Deno.test("schemeByName() rejects an unknown scheme and lists the known ones", () => {
  assert.throws(() => schemeByName("IQ2_XXS"), (e: Error) => {
    assert.equal(e.name, "UsageError");
    assert.match(
      e.message,
      /^Unknown scheme 'IQ2_XXS'; known schemes: F16, BF16, F8_E4M3, F8_E5M2, int8, minmax1/,
    );
    return true;
  });
});
