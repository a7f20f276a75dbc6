/**
 * A format of your own, converted to and from safetensors with `pipe(...)`.
 * "tiny" files are: magic `TINY`, tensors deflated one by one, a JSON table.
 *
 *     deno run --allow-read --allow-write examples/custom_converter.ts [out-dir]
 */

import { definePackedFormat } from "../formats/packed/mod.ts";
import { openSafetensors, writeSafetensors } from "../formats/safetensors/mod.ts";
import { type ByteSink, fileSink } from "../lib/byte_sink.ts";
import { fileSource } from "../lib/byte_source.ts";
import { exclude, pipe, rename } from "../lib/pipeline.ts";
import { tensorFromBytes, type TensorStream } from "../lib/tensor.ts";

// The whole format definition.
const tiny = definePackedFormat({ name: "tiny", extensions: [".tiny"], magic: "TINY", deflate: true });

async function write(
  path: string,
  stream: TensorStream,
  encode: (s: TensorStream, sink: ByteSink) => Promise<void>,
) {
  const sink = await fileSink(path);
  await encode(stream, sink).then(() => sink.close(), (e) => sink.abort().then(() => Promise.reject(e)));
  return (await Deno.stat(path)).size;
}

const dir = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "tiny-" });
const ramp = (n: number) => new Uint8Array(Float32Array.from({ length: n }, (_, i) => (i % 64) / 64).buffer);
const model = {
  metadata: { format: "pt" },
  tensors: [
    tensorFromBytes("model.embed.weight", "F32", [512, 64], ramp(512 * 64)),
    tensorFromBytes("model.head.bias", "F32", [512], ramp(512)),
    tensorFromBytes("optimizer.step", "I64", [1], new Uint8Array(8)),
  ],
};
const original = await write(`${dir}/model.safetensors`, model, writeSafetensors);

// safetensors -> tiny: drop optimizer state, strip the "model." prefix.
const st = await openSafetensors(await fileSource(`${dir}/model.safetensors`));
const packed = await write(
  `${dir}/model.tiny`,
  pipe(st, exclude(/^optimizer\./), rename(/^model\./, "")),
  tiny.write,
);
await st.close();

// tiny -> safetensors: put the prefix back.
const back = await tiny.open(await fileSource(`${dir}/model.tiny`));
const restored = await write(
  `${dir}/restored.safetensors`,
  pipe(back, rename((n) => `model.${n}`)),
  writeSafetensors,
);
await back.close();

const check = await openSafetensors(await fileSource(`${dir}/restored.safetensors`));
let same = check.tensors.length === 2 && check.metadata.format === "pt";
for (const t of check.tensors) {
  const want = model.tensors.find((m) => m.name === t.name);
  same &&= want !== undefined && String(await t.read()) === String(await want.read());
}
await check.close();
console.log(`model.safetensors      ${original} bytes, 3 tensors`);
console.log(`model.tiny             ${packed} bytes, 2 tensors (deflated)`);
console.log(`restored.safetensors   ${restored} bytes, tensors equal the original: ${same}`);
