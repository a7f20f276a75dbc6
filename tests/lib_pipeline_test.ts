import assert from "node:assert/strict";
import { cast, castEntry, exclude, include, mapEntries, pipe, rename } from "../lib/pipeline.ts";
import { collectTensors, type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { bytesOf } from "./_helpers.ts";

function model(): { metadata: Record<string, string>; tensors: TensorEntry[] } {
  return {
    metadata: { format: "pt" },
    tensors: [
      tensorFromBytes("model.w", "F32", [2], bytesOf(new Float32Array([1.5, -0.1]))),
      tensorFromBytes("model.ids", "I64", [1], new Uint8Array(8)),
      tensorFromBytes("optimizer.m", "F32", [1], new Uint8Array(4)),
      { ...tensorFromBytes("q", "F32", [32], new Uint8Array(18)), encoding: "Q4_0" },
    ],
  };
}

Deno.test("include() and exclude() select tensors by name, also with global patterns", async () => {
  const kept = await collectTensors(pipe(model(), include(/^model\./g), exclude(/ids/g)));
  assert.deepEqual(kept.map((t) => t.name), ["model.w"]);
  const again = await collectTensors(pipe(model(), exclude(/^optimizer\./g)));
  assert.deepEqual(again.map((t) => t.name), ["model.w", "model.ids", "q"]);
});

Deno.test("rename() renames with a pattern or a function and keeps block encodings", async () => {
  const renamed = await collectTensors(pipe(model(), rename(/^model\./, ""), rename((n) => `x.${n}`)));
  assert.deepEqual(renamed.map((t) => t.name), ["x.w", "x.ids", "x.optimizer.m", "x.q"]);
  assert.equal(renamed[3].encoding, "Q4_0");
  assert.equal(renamed[3].byteLength, 18);
});

Deno.test("cast() converts floating-point tensors only, leaving integers and block encodings alone", async () => {
  const out = await collectTensors(pipe(model(), cast("BF16")));
  assert.deepEqual(out.map((t) => t.dtype), ["BF16", "I64", "BF16", "F32"]);
  assert.equal(out[3].encoding, "Q4_0");
  assert.deepEqual(new Uint16Array((await out[0].read()).slice().buffer), new Uint16Array([0x3fc0, 0xbdcd]));
  assert.throws(() => cast("I8"), /Cannot cast to I8: only floating-point targets are allowed/);
});

Deno.test("castEntry() reads lazily and writes into a caller's buffer", async () => {
  let reads = 0;
  const source: TensorEntry = {
    ...tensorFromBytes("w", "F32", [3], bytesOf(new Float32Array([1, 2, 3]))),
    read(out?: Uint8Array) {
      reads++;
      return tensorFromBytes("w", "F32", [3], bytesOf(new Float32Array([1, 2, 3]))).read(out);
    },
  };
  const half = castEntry(source, "F16");
  assert.equal(reads, 0);
  assert.equal(half.byteLength, 6);
  const out = new Uint8Array(8);
  const bytes = await half.read(out);
  assert.equal(bytes.buffer, out.buffer);
  assert.deepEqual(new Float16Array(out.buffer, 0, 3), new Float16Array([1, 2, 3]));
  assert.equal(reads, 1);
});

Deno.test("pipe() applies transforms left to right and keeps the metadata", async () => {
  const order: string[] = [];
  const tag = (label: string) =>
    mapEntries((e) => {
      order.push(`${label}:${e.name}`);
      return e;
    });
  const stream = pipe(model(), include(/^model\.w$/), tag("a"), tag("b"));
  assert.deepEqual(stream.metadata, { format: "pt" });
  await collectTensors(stream);
  assert.deepEqual(order, ["a:model.w", "b:model.w"]);
});
