import assert from "node:assert/strict";
import { INT8_SCHEME, int8QParams } from "../lib/quant/int8.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import type { QuantSettings } from "../lib/quant/scheme.ts";
import { DATA, hasPython, PYTHON, skipUnlessPython, tempDir } from "./_helpers.ts";

const CONFIGS: [string, Partial<QuantSettings>][] = [
  ["tensor_sym", {}],
  ["tensor_affine", { affine: true }],
  ["tensor_sym_reduce", { reduceRange: true }],
  ["tensor_affine_reduce", { affine: true, reduceRange: true }],
  ["channel_sym", { perChannel: true }],
  ["channel_affine", { perChannel: true, affine: true }],
  ["channel_sym_axis1", { perChannel: true, axis: 1 }],
  ["channel_affine_axis1_reduce", { perChannel: true, affine: true, reduceRange: true, axis: 1 }],
];

function compare(
  x: Float32Array,
  shape: number[],
  blob: Uint8Array,
  index: Record<string, [number, number][]>,
  name: string,
  settings: Partial<QuantSettings>,
): void {
  const s = { ...DEFAULT_SETTINGS, ...settings };
  const plan = INT8_SCHEME.plan(shape, s);
  const result = INT8_SCHEME.quantize(plan, x);
  const [codes, scales, zps] = index[name].map(([o, n]) => blob.slice(o, o + n));
  assert.deepEqual(new Float32Array(result.companions[0].slice().buffer), new Float32Array(scales.buffer));
  if (s.affine) {
    assert.deepEqual([...result.companions[1]], [...new Int32Array(zps.buffer)]);
  } else {
    assert.ok(new Int32Array(zps.buffer).every((z) => z === 0));
  }
  let mismatches = 0;
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] !== result.data[i]) mismatches++;
  }
  assert.equal(mismatches, 0, `${mismatches} codes differ from torch`);
}

Deno.test("int8 scales, zero points and codes equal torch 1.13's observers and quantize_per_*", async (t) => {
  const x = new Float32Array((await Deno.readFile(`${DATA}/quant/int8_input.bin`)).buffer);
  const blob = await Deno.readFile(`${DATA}/quant/int8_golden.bin`);
  const index = JSON.parse(await Deno.readTextFile(`${DATA}/quant/int8_golden.json`));
  for (const [name, settings] of CONFIGS) {
    await t.step(name, () => compare(x, [24, 40], blob, index, name, settings));
  }
});

Deno.test({
  name: "int8 matches torch installed here on fresh random tensors",
  ignore: skipUnlessPython("torch", "numpy"),
  async fn(t) {
    if (!hasPython("torch")) return;
    await using dir = await tempDir();
    const shapes = [[33, 17], [7, 300], [64, 9]];
    let seed = 11;
    const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
    for (const shape of shapes) {
      await t.step(`shape [${shape}]`, async () => {
        const n = shape[0] * shape[1];
        const x = new Float32Array(n).map(() => (rnd() - 0.3) * 2 ** (rnd() * 12 - 6));
        await Deno.writeFile(`${dir.path}/in.bin`, new Uint8Array(x.buffer));
        const out = await new Deno.Command(PYTHON, {
          args: [`${DATA}/quant/make_int8.py`, `${dir.path}/in.bin`, `${dir.path}/out.bin`, shape.join(",")],
          stdout: "piped",
          stderr: "null",
        }).output();
        assert.ok(out.success, "torch script failed");
        const index = JSON.parse(new TextDecoder().decode(out.stdout));
        const blob = await Deno.readFile(`${dir.path}/out.bin`);
        for (const [name, settings] of CONFIGS) compare(x, shape, blob, index, name, settings);
      });
    }
  },
});

Deno.test("int8QParams() follows MinMaxObserver's edge rules", async (t) => {
  await t.step("an all-zero tensor gets the eps floor as scale", () => {
    const p = int8QParams(new Float32Array([0]), new Float32Array([0]), {
      affine: false,
      reduceRange: false,
    });
    assert.equal(p.scale[0], 2 ** -23);
    assert.equal(p.zeroPoint[0], 0);
  });
  await t.step("an all-positive tensor still includes 0 in its affine range", () => {
    const p = int8QParams(new Float32Array([2]), new Float32Array([4]), { affine: true, reduceRange: false });
    assert.equal(p.scale[0], Math.fround(4 / 255));
    assert.equal(p.zeroPoint[0], 0);
  });
  await t.step("an empty channel (all NaN) gets scale 1 and zero point 0", () => {
    const p = int8QParams(new Float32Array([Infinity]), new Float32Array([-Infinity]), {
      affine: true,
      reduceRange: false,
    });
    assert.deepEqual([p.scale[0], p.zeroPoint[0]], [1, 0]);
  });
  await t.step("NaN is ignored by min/max and quantizes to qmin", () => {
    const plan = INT8_SCHEME.plan([1, 4], DEFAULT_SETTINGS);
    const r = INT8_SCHEME.quantize(plan, new Float32Array([NaN, 1, -1, 0.5]));
    assert.deepEqual([...new Int8Array(r.data.buffer)], [-128, 127, -127, 64]);
  });
});

Deno.test("int8 plan rejects an axis out of range", () => {
  assert.throws(
    () => INT8_SCHEME.plan([4, 4], { ...DEFAULT_SETTINGS, perChannel: true, axis: 2 }),
    (e: Error) => e.name === "UsageError" && e.message === "Axis 2 is out of range for a tensor of rank 2",
  );
});
