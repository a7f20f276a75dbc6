/**
 * Hugging Face folder → F16 GGUF: `ckpt convert` against llama.cpp's own
 * `convert_hf_to_gguf.py` (from the source bundled with node-llama-cpp, run
 * in the oracle venv), one run each, wall time and peak resident memory, on
 * a sharded BF16 Llama of a few hundred MB with random weights. Checks that
 * both wrote the same tensor bytes, then prints a markdown table.
 *
 * Run: deno run -A bench/hf_gguf_bench.ts [--size-mb 400]
 *
 * The model is generated under bench/data/ (gitignored) by
 * tests/data/hf/make_tiny_models.py and reused; llama.cpp's source is cloned
 * into tests/out/llama-src as tests/hf_gguf_test.ts does.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Measure, measureProcess } from "./_measure.ts";
import { fileSource } from "../lib/byte_source.ts";
import { openGguf } from "../formats/gguf/open_gguf.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ORACLES = Deno.env.get("CKPT_ORACLES") ?? `${ROOT}.oracles`;
const PY = `${ORACLES}/venv/bin/python`;
const { values } = parseArgs({ args: Deno.args, options: { "size-mb": { type: "string", default: "400" } } });
const sizeMb = Number(values["size-mb"]);
const model = `${ROOT}bench/data/hf-random-${sizeMb}mb`;
const src = `${ROOT}tests/out/llama-src`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

if (!(await exists(`${model}/config.json`))) {
  await run(PY, [`${ROOT}tests/data/hf/make_tiny_models.py`, model, "--random-size-mb", String(sizeMb)]);
}
if (!(await exists(`${src}/convert_hf_to_gguf.py`))) {
  await run("git", [
    "clone",
    "-q",
    "--no-checkout",
    `${ORACLES}/node/node_modules/node-llama-cpp/llama/gitRelease.bundle`,
    src,
  ]);
  await run("git", [
    "-C",
    src,
    "checkout",
    "-q",
    "HEAD",
    "--",
    "convert_hf_to_gguf.py",
    "conversion",
    "gguf-py",
  ]);
}
let inputBytes = 0;
for await (const e of Deno.readDir(model)) {
  if (e.name.endsWith(".safetensors")) inputBytes += (await Deno.stat(`${model}/${e.name}`)).size;
}

const out = await Deno.makeTempDir({ prefix: "hf-gguf-bench-" });
try {
  const ours = `${out}/ckpt.gguf`;
  const theirs = `${out}/llama-cpp.gguf`;
  const job = { convert: [{ src, model, out: theirs, outtype: "f16", pre: "llama-bpe" }] };
  const results: [string, Measure][] = [
    [
      "ckpt convert",
      await measureProcess([
        Deno.execPath(),
        "run",
        "-A",
        `${ROOT}cli/ckpt.ts`,
        "convert",
        model,
        ours,
        "--dtype",
        "F16",
        "-q",
      ]),
    ],
    [
      "convert_hf_to_gguf.py",
      await measureProcess([PY, `${ROOT}tests/data/hf/oracle.py`, JSON.stringify(job)]),
    ],
  ];
  // Same tensors, same bytes.
  const a = await openGguf(await fileSource(ours));
  const b = await openGguf(await fileSource(theirs));
  let same = a.tensors.length === b.tensors.length;
  for (const t of b.tensors) {
    const mine = a.tensors.find((x) => x.name === t.name);
    if (!mine || mine.byteLength !== t.byteLength) same = false;
    else {
      const [x, y] = [await mine.read(), await t.read()];
      for (let i = 0; i < x.length && same; i++) if (x[i] !== y[i]) same = false;
    }
  }
  await a.close();
  await b.close();
  console.log(
    `HF folder → F16 GGUF, ${
      (inputBytes / 1e6).toFixed(0)
    } MB of BF16 safetensors (${a.tensors.length} tensors, sharded); outputs identical: ${same}\n`,
  );
  console.log("| route | wall s | peak RSS MiB |\n|---|---:|---:|");
  for (const [name, m] of results) {
    console.log(`| ${name} | ${m.seconds.toFixed(2)} | ${m.peakMiB.toFixed(0)} |`);
  }
  const [c, p] = [results[0][1], results[1][1]];
  console.log(
    `\nckpt: ${(c.seconds / p.seconds).toFixed(2)}× the time, ${
      (c.peakMiB / p.peakMiB).toFixed(2)
    }× the memory`,
  );
} finally {
  await Deno.remove(out, { recursive: true });
}
