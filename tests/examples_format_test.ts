import assert from "node:assert/strict";
import { decodeJsonHeader } from "../formats/packed/header_codec.ts";
import { FieldReader } from "../lib/binary/field_reader.ts";
import { listDir, runCli, tempDir } from "./_helpers.ts";

Deno.test("examples/minmax8_format.ts prints bits, file size and max error for 32, 16 and 8 bits", async () => {
  await using dir = await tempDir();
  const out = await runCli([dir.path], { script: "examples/minmax8_format.ts" });
  assert.equal(out.code, 0, out.stderr);
  const rows = out.stdout.split("\n").filter((l) => /^\s+\d+\s/.test(l)).map((l) => l.trim().split(/\s{2,}/));
  assert.deepEqual(rows.map((r) => r[0]), ["32", "16", "8"]);
  const files = await listDir(dir.path);
  assert.deepEqual(files, ["model-16bit.bin", "model-32bit.bin", "model-8bit.mm8"]);
  const size = async (f: string) => (await Deno.stat(`${dir.path}/${f}`)).size;
  const [s32, s16, s8] = [
    await size("model-32bit.bin"),
    await size("model-16bit.bin"),
    await size("model-8bit.mm8"),
  ];
  // Roughly 4, 2 and 1 bytes a weight, plus the table.
  assert.ok(s32 > 1.9 * s16 && s16 > 1.9 * s8, `${s32} ${s16} ${s8}`);
  const errors = rows.map((r) => Number(r[2]));
  assert.equal(errors[0], 0);
  assert.ok(errors[1] > 0 && errors[2] > errors[1], errors.join(" "));
  // The 8-bit error is at most half a step, (max - min) / 510, of the widest tensor.
  const bytes = await Deno.readFile(`${dir.path}/model-8bit.mm8`);
  const tableLength = Number(new FieldReader(bytes.subarray(bytes.length - 8)).u64());
  const table = decodeJsonHeader(bytes.subarray(bytes.length - 8 - tableLength, bytes.length - 8));
  const steps = (table.tensors as { attributes: { min: number; max: number } }[]).map((t) =>
    (t.attributes.max - t.attributes.min) / 510
  );
  assert.equal(steps.length, 3);
  assert.ok(errors[2] <= Math.max(...steps) * 1.001, `${errors[2]} > ${Math.max(...steps)}`);
});

Deno.test("examples/custom_converter.ts converts safetensors to its own format and back", async () => {
  await using dir = await tempDir();
  const out = await runCli([dir.path], { script: "examples/custom_converter.ts" });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /restored\.safetensors\s+\d+ bytes, tensors equal the original: true/);
  assert.deepEqual(await listDir(dir.path), ["model.safetensors", "model.tiny", "restored.safetensors"]);
  const tiny = await Deno.readFile(`${dir.path}/model.tiny`);
  assert.equal(new TextDecoder().decode(tiny.subarray(0, 4)), "TINY");
  const original = (await Deno.stat(`${dir.path}/model.safetensors`)).size;
  assert.ok(tiny.length < original / 10, "deflate shrinks the ramp data");
});
