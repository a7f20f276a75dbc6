import assert from "node:assert/strict";
import { fileSource } from "../lib/byte_source.ts";
import { UsageError } from "../lib/errors.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { editSafetensorsMetadata } from "../formats/safetensors/edit_safetensors_metadata.ts";
import { encodeSafetensors } from "../formats/safetensors/encode_safetensors.ts";
import { openSafetensors, type SafetensorsFile } from "../formats/safetensors/open_safetensors.ts";
import { DATA, listDir, tempDir } from "./_helpers.ts";

const MODEL = `${DATA}/safetensors/small_model.safetensors`;

async function tensorsOf(file: SafetensorsFile): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const t of file.tensors) out.set(t.name, (await t.read()).slice());
  return out;
}

async function open(path: string): Promise<SafetensorsFile> {
  return await openSafetensors(await fileSource(path));
}

Deno.test("editSafetensorsMetadata() rewrites the header in place when it fits", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/m.safetensors`;
  // A header with room to spare: written with a 4096-byte aligned data section.
  const original = await open(MODEL);
  await Deno.writeFile(path, await encodeSafetensors(original, { align: 4096 }));
  const before = await Deno.readFile(path);
  const result = await editSafetensorsMetadata(path, { set: { license: "mit", format: "pt2" } });
  assert.equal(result.inPlace, true);
  assert.deepEqual(result.metadata, { format: "pt2", license: "mit" });
  const after = await Deno.readFile(path);
  assert.equal(after.length, before.length);
  const edited = await open(path);
  assert.deepEqual(edited.metadata, { format: "pt2", license: "mit" });
  assert.equal(edited.header.dataOffset, 4096);
  assert.deepEqual(after.subarray(4096), before.subarray(4096), "tensor bytes untouched");
  assert.deepEqual(await tensorsOf(edited), await tensorsOf(original));
  await edited.close();

  const deleted = await editSafetensorsMetadata(path, { delete: ["license"] });
  assert.equal(deleted.inPlace, true);
  const again = await open(path);
  assert.deepEqual(again.metadata, { format: "pt2" });
  await again.close();
  await original.close();
  assert.deepEqual(await listDir(dir.path), ["m.safetensors"]);
});

Deno.test("editSafetensorsMetadata() rewrites the file when the new header is larger", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/m.safetensors`;
  await Deno.copyFile(MODEL, path);
  const original = await open(MODEL);
  const long = "x".repeat(5000);
  const result = await editSafetensorsMetadata(path, { set: { notes: long } });
  assert.equal(result.inPlace, false);
  const edited = await open(path);
  assert.deepEqual(edited.metadata, { format: "pt", notes: long });
  assert.deepEqual(await tensorsOf(edited), await tensorsOf(original));
  assert.equal(edited.header.dataOffset % 8, 0);
  await edited.close();
  await original.close();
  assert.deepEqual(await listDir(dir.path), ["m.safetensors"]);
});

Deno.test("editSafetensorsMetadata() keeps a 4096-byte alignment when it must rewrite", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/m.safetensors`;
  const data = tensorFromBytes("w", "U8", [3], new Uint8Array([1, 2, 3]));
  await Deno.writeFile(path, await encodeSafetensors({ metadata: {}, tensors: [data] }, { align: 4096 }));
  await editSafetensorsMetadata(path, { set: { big: "y".repeat(6000) } });
  const edited = await open(path);
  assert.equal(edited.header.dataOffset % 4096, 0);
  assert.deepEqual(await edited.tensors[0].read(), new Uint8Array([1, 2, 3]));
  await edited.close();
});

Deno.test("editSafetensorsMetadata() refuses to delete a key that is not there", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/m.safetensors`;
  await Deno.copyFile(MODEL, path);
  await assert.rejects(
    editSafetensorsMetadata(path, { delete: ["nope"] }),
    (e: Error) =>
      e instanceof UsageError &&
      /Cannot delete metadata key 'nope' from .*m\.safetensors: it has no such key/.test(e.message),
  );
  assert.deepEqual(await Deno.readFile(path), await Deno.readFile(MODEL));
});
