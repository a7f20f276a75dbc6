import assert from "node:assert/strict";
import { fileSource } from "../lib/byte_source.ts";
import { FormatError, UsageError } from "../lib/errors.ts";
import { type TensorEntry, tensorFromBytes } from "../lib/tensor.ts";
import { encodeSafetensors } from "../formats/safetensors/encode_safetensors.ts";
import { openSafetensors } from "../formats/safetensors/open_safetensors.ts";
import { openSafetensorsIndex } from "../formats/safetensors/open_safetensors_index.ts";
import {
  DEFAULT_MAX_SHARD_BYTES,
  planShards,
  writeSafetensorsShards,
} from "../formats/safetensors/write_safetensors_shards.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { DATA, listDir, tempDir } from "./_helpers.ts";

const MODEL = `${DATA}/safetensors/small_model.safetensors`;

Deno.test("planShards() fills shards greedily in name order, as huggingface_hub does", () => {
  // huggingface_hub's own test state dict: sizes 6, 10, 30, 2, 2 with a limit of 10.
  const t = (name: string, n: number) => ({ name, byteLength: n });
  const shards = planShards([
    t("layer_3", 30),
    t("layer_1", 6),
    t("layer_5", 2),
    t("layer_2", 10),
    t("layer_4", 2),
  ], 10);
  assert.deepEqual(shards.map((s) => s.map((e) => e.name)), [["layer_1"], ["layer_3"], ["layer_2"], [
    "layer_4",
    "layer_5",
  ]]);
  assert.deepEqual(planShards([t("a", 3), t("b", 3)], 10).length, 1);
  assert.equal(DEFAULT_MAX_SHARD_BYTES, 5_000_000_000);
});

Deno.test("writeSafetensorsShards() writes numbered shards and an index that open as one file", async () => {
  await using dir = await tempDir();
  const model = await openSafetensors(await fileSource(MODEL));
  const result = await writeSafetensorsShards(model, `${dir.path}/model.safetensors`, { maxShardSize: 1200 });
  assert.deepEqual(await listDir(dir.path), [
    "model-00001-of-00003.safetensors",
    "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors",
    "model.safetensors.index.json",
  ]);
  assert.equal(result.index, `${dir.path}/model.safetensors.index.json`);
  const index = JSON.parse(await Deno.readTextFile(result.index!));
  const total = model.tensors.reduce((n, t) => n + t.byteLength, 0);
  assert.deepEqual(index.metadata, { total_size: total });
  assert.deepEqual(Object.keys(index.weight_map), model.tensors.map((t) => t.name).sort());
  for (const shard of result.shards) {
    const file = await openSafetensors(await fileSource(shard));
    const bytes = file.tensors.reduce((n, t) => n + t.byteLength, 0);
    assert.ok(bytes <= 1200 || file.tensors.length === 1, `${shard} holds ${bytes} bytes`);
    assert.deepEqual(file.metadata, { format: "pt" });
    for (const t of file.tensors) assert.equal(index.weight_map[t.name], shard.slice(dir.path.length + 1));
    await file.close();
  }
  // Reopened through the index (directly and by openTensorFile), then merged back into one file.
  const sharded = await openTensorFile(result.index!);
  assert.equal(sharded.format, "safetensors");
  assert.deepEqual(sharded.metadata, { format: "pt" });
  for (const entry of model.tensors) {
    const other = sharded.tensors.find((t) => t.name === entry.name)!;
    assert.deepEqual(await other.read(), await entry.read(), entry.name);
  }
  assert.deepEqual(await encodeSafetensors(sharded), await Deno.readFile(MODEL));
  await sharded.close();
  await model.close();
});

Deno.test("writeSafetensorsShards() writes a single file without an index when everything fits", async () => {
  await using dir = await tempDir();
  const model = await openSafetensors(await fileSource(MODEL));
  const result = await writeSafetensorsShards(model, `${dir.path}/model.safetensors`);
  assert.equal(result.index, undefined);
  assert.deepEqual(await listDir(dir.path), ["model.safetensors"]);
  assert.deepEqual(await Deno.readFile(`${dir.path}/model.safetensors`), await Deno.readFile(MODEL));
  await model.close();
});

Deno.test("writeSafetensorsShards() to an index path always writes an index", async () => {
  await using dir = await tempDir();
  const model = await openSafetensors(await fileSource(MODEL));
  await writeSafetensorsShards(model, `${dir.path}/m.safetensors.index.json`);
  assert.deepEqual(await listDir(dir.path), ["m-00001-of-00001.safetensors", "m.safetensors.index.json"]);
  const reopened = await openSafetensorsIndex(`${dir.path}/m.safetensors.index.json`);
  assert.equal(reopened.tensors.length, model.tensors.length);
  await reopened.close();
  await model.close();
});

Deno.test("writeSafetensorsShards() leaves nothing behind when a later shard fails", async () => {
  await using dir = await tempDir();
  const ok = (name: string) => tensorFromBytes(name, "U8", [8], new Uint8Array(8));
  const failing: TensorEntry = { ...ok("z"), read: () => Promise.reject(new Error("read failed")) };
  await assert.rejects(
    writeSafetensorsShards(
      { metadata: {}, tensors: [ok("a"), ok("b"), failing] },
      `${dir.path}/m.safetensors`,
      {
        maxShardSize: 8,
      },
    ),
    /read failed/,
  );
  assert.deepEqual(await listDir(dir.path), []);
});

Deno.test("writeSafetensorsShards() refuses to replace its input", async () => {
  await using dir = await tempDir();
  const input = `${dir.path}/m-00001-of-00002.safetensors`;
  await Deno.copyFile(MODEL, input);
  const model = await openSafetensors(await fileSource(input));
  await assert.rejects(
    writeSafetensorsShards(model, `${dir.path}/m.safetensors`, { maxShardSize: 2200, input }),
    (e: Error) =>
      e instanceof UsageError &&
      /Refusing to write .*m-00001-of-00002\.safetensors: it is also an input/.test(e.message),
  );
  await model.close();
  assert.deepEqual(await listDir(dir.path), ["m-00001-of-00002.safetensors"]);
});

Deno.test("openSafetensorsIndex() rejects inconsistent indexes", async (t) => {
  await using dir = await tempDir();
  const shard = await encodeSafetensors({
    metadata: {},
    tensors: [tensorFromBytes("a", "U8", [1], new Uint8Array(1))],
  });
  await Deno.writeFile(`${dir.path}/s.safetensors`, shard);
  const cases: [string, string, RegExp][] = [
    ["invalid JSON", "{", /invalid JSON/],
    ["a missing weight_map", '{"metadata":{}}', /it has no weight_map object/],
    [
      "a shard path outside the folder",
      '{"weight_map":{"a":"../s.safetensors"}}',
      /shard name '..\/s.safetensors' for tensor 'a' is not a plain file name/,
    ],
    ["a non-string shard name", '{"weight_map":{"a":3}}', /weight_map entry 'a' is not a file name/],
    [
      "a listed tensor missing from its shard",
      '{"weight_map":{"a":"s.safetensors","b":"s.safetensors"}}',
      /tensor 'b' is listed in s.safetensors, but that shard does not hold it/,
    ],
  ];
  for (const [name, text, message] of cases) {
    await t.step(name, async () => {
      const path = `${dir.path}/bad.safetensors.index.json`;
      await Deno.writeTextFile(path, text);
      await assert.rejects(
        openSafetensorsIndex(path),
        (e: Error) => e instanceof FormatError && message.test(e.message),
      );
    });
  }
  await t.step("a shard holding a tensor the index does not list", async () => {
    const two = await encodeSafetensors({
      metadata: {},
      tensors: [
        tensorFromBytes("a", "U8", [1], new Uint8Array(1)),
        tensorFromBytes("extra", "U8", [1], new Uint8Array(1)),
      ],
    });
    await Deno.writeFile(`${dir.path}/two.safetensors`, two);
    const path = `${dir.path}/two.safetensors.index.json`;
    await Deno.writeTextFile(path, '{"weight_map":{"a":"two.safetensors"}}');
    await assert.rejects(
      openSafetensorsIndex(path),
      (e: Error) =>
        e instanceof FormatError &&
        /shard two.safetensors holds tensor 'extra', which the index does not list/.test(e.message),
    );
  });
  await t.step("a missing shard file", async () => {
    const path = `${dir.path}/gone.safetensors.index.json`;
    await Deno.writeTextFile(path, '{"weight_map":{"a":"gone.safetensors"}}');
    await assert.rejects(openSafetensorsIndex(path), Deno.errors.NotFound);
  });
});
