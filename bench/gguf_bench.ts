// GGUF header parsing for a file with many keys and tensors, and block
// dequantization throughput (Q4_0, Q8_0) over 4 Mi elements.
import { bytesSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { dequantizeBlocks, GGML_TYPES } from "../lib/ggml_blocks.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { openGguf, writeGguf } from "../formats/gguf/mod.ts";

async function makeHeaderHeavyFile(tensors: number, keys: number): Promise<Uint8Array> {
  const metadata: Record<string, string> = {};
  for (let i = 0; i < keys; i++) metadata[`bench.key_${i}`] = `value ${i}`;
  const entries = Array.from(
    { length: tensors },
    (_, i) => tensorFromBytes(`blk.${i >> 4}.t${i & 15}.weight`, "F16", [4, 8], new Uint8Array(64)),
  );
  const sink = memorySink();
  await writeGguf({ metadata, tensors: entries }, sink);
  return sink.bytes();
}

for (const [tensors, keys] of [[1_000, 100], [10_000, 1_000]]) {
  const bytes = await makeHeaderHeavyFile(tensors, keys);
  Deno.bench({
    name: `openGguf: ${tensors} tensors, ${keys} keys (${(bytes.length / 1024).toFixed(0)} KiB)`,
    group: "gguf header",
    baseline: tensors === 1_000,
    async fn() {
      await openGguf(bytesSource(bytes));
    },
  });
}

const COUNT = 4 * 1024 * 1024;
const out = new Float32Array(COUNT);
for (const name of ["Q8_0", "Q4_0"]) {
  const type = GGML_TYPES.find((t) => t.name === name)!;
  const blocks = new Uint8Array((COUNT / type.blockSize) * type.typeSize);
  for (let i = 0; i < blocks.length; i++) blocks[i] = (i * 2654435761) >>> 24;
  // Keep every block scale finite and small (fp16 0x2e66 ≈ 0.1).
  for (let p = 0; p < blocks.length; p += type.typeSize) (blocks[p] = 0x66, blocks[p + 1] = 0x2e);
  Deno.bench({
    name: `dequantize ${name}: 4 Mi elements (${(blocks.length / 2 ** 20).toFixed(2)} MiB of blocks)`,
    group: "dequantize",
    baseline: name === "Q8_0",
    fn() {
      dequantizeBlocks(name, blocks, COUNT, out);
    },
  });
}
