/**
 * The course notebook's 8-bit scheme as a container of its own: each tensor
 * stored as uint8 codes `round((w - min) / (max - min) * 255)` with its min
 * and max, under the magic `MNMX`, readable back to float32. Prints the
 * notebook's table — bits, file size, max error — for 32, 16 and 8 bits on
 * a small model it makes.
 *
 *     deno run --allow-read --allow-write examples/minmax8_format.ts [out-dir]
 */

import { definePackedFormat, type PackedCodec, type PackedFormat } from "../formats/packed/mod.ts";
import { fileSource } from "../lib/byte_source.ts";
import { fileSink } from "../lib/byte_sink.ts";
import { castBytes } from "../lib/cast.ts";
import { elementCount } from "../lib/dtype.ts";
import { cast, pipe } from "../lib/pipeline.ts";
import { type TensorEntry, tensorFromBytes, type TensorStream } from "../lib/tensor.ts";
import { formatBytes } from "../lib/units.ts";

const f32 = (bytes: Uint8Array) => new Float32Array(bytes.slice().buffer);

// The codec: per-tensor min and max kept as attributes, one byte per weight.
const minmax8: PackedCodec = {
  encode(_entry, bytes) {
    const w = f32(bytes);
    let min = Infinity, max = -Infinity;
    for (const x of w) (min = Math.min(min, x), max = Math.max(max, x));
    const scale = max > min ? 255 / (max - min) : 0;
    const codes = Uint8Array.from(w, (x) => Math.round((x - min) * scale));
    return { bytes: codes, attributes: { min, max } };
  },
  decode(record, codes) {
    const { min, max } = record.attributes as { min: number; max: number };
    const step = (max - min) / 255;
    return new Uint8Array(Float32Array.from(codes, (q) => min + q * step).buffer);
  },
};

const plainFormat = definePackedFormat({ name: "plain", extensions: [".bin"], magic: "PLNT" });
const minmax8Format = definePackedFormat({
  name: "minmax8",
  extensions: [".mm8"],
  magic: "MNMX",
  codec: minmax8,
});

// A small MLP with Gaussian-ish weights from a fixed seed.
function makeModel(): TensorEntry[] {
  let seed = 42;
  const uniform = () => ((seed = (seed * 1103515245 + 12345) >>> 0) + 0.5) / 2 ** 32;
  const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const layer = (name: string, shape: number[], std: number) => {
    const w = Float32Array.from({ length: elementCount(shape) }, () => gauss() * std);
    return tensorFromBytes(name, "F32", shape, new Uint8Array(w.buffer));
  };
  return [
    layer("fc1.weight", [256, 784], 0.05),
    layer("fc1.bias", [256], 0.01),
    layer("fc2.weight", [10, 256], 0.1),
  ];
}

async function save(format: PackedFormat, stream: TensorStream, path: string): Promise<number> {
  const sink = await fileSink(path);
  try {
    await format.write(stream, sink);
    await sink.close();
  } catch (error) {
    await sink.abort();
    throw error;
  }
  return (await Deno.stat(path)).size;
}

async function maxError(format: PackedFormat, path: string, original: TensorEntry[]): Promise<number> {
  const file = await format.open(await fileSource(path));
  let worst = 0;
  for (const [i, entry] of file.tensors.entries()) {
    const back = f32(castBytes(await entry.read(), entry.dtype, "F32", elementCount(entry.shape)));
    const want = f32(await original[i].read());
    for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(back[j] - want[j]));
  }
  await file.close();
  return worst;
}

const dir = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "minmax8-" });
const model = makeModel();
const rows: [number, number, number][] = [];
for (
  const [bits, format, stream] of [
    [32, plainFormat, { metadata: {}, tensors: model }],
    [16, plainFormat, pipe({ metadata: {}, tensors: model }, cast("F16"))],
    [8, minmax8Format, { metadata: {}, tensors: model }],
  ] as const
) {
  const path = `${dir}/model-${bits}bit${format.extensions[0]}`;
  const size = await save(format, stream, path);
  rows.push([bits, size, await maxError(format, path, model)]);
}

console.log("bits  file size   max error");
for (const [bits, size, error] of rows) {
  console.log(`${String(bits).padStart(4)}  ${formatBytes(size).padStart(9)}   ${error.toExponential(3)}`);
}
console.log(`files in ${dir}`);
