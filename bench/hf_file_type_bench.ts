/**
 * Hugging Face folder → Q8_0 and → Q4_K_M GGUF: `ckpt quantize MODEL_DIR`
 * (one pass; with its default of one job and with a Worker on every core)
 * against llama.cpp's route —
 * `convert_hf_to_gguf.py --outtype f32` to an intermediate file, then
 * `llama_model_quantize` on all cores (through the C harness the tests
 * build against node-llama-cpp's libllama). Wall time (the route's two steps
 * added) and peak resident memory (the larger of its two), one run each, on
 * the random sharded BF16 Llama that bench/hf_gguf_bench.ts makes. Checks
 * both wrote the same tensors (names, types, bytes; the converter's
 * model-card keys such as general.basename differ), then prints a markdown
 * table.
 *
 * Run: deno run -A bench/hf_file_type_bench.ts [--size-mb 400]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Measure, measureProcess } from "./_measure.ts";
import { llamaQuantizeExecutable } from "../tests/_ggml_oracle.ts";
import { GGUF_FILE_TYPES } from "../formats/gguf/file_type.ts";
import { openGguf } from "../formats/gguf/open_gguf.ts";
import { fileSource } from "../lib/byte_source.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ORACLES = Deno.env.get("CKPT_ORACLES") ?? `${ROOT}.oracles`;
const PY = `${ORACLES}/venv/bin/python`;
const { values } = parseArgs({ args: Deno.args, options: { "size-mb": { type: "string", default: "400" } } });
const sizeMb = Number(values["size-mb"]);
const model = `${ROOT}bench/data/hf-random-${sizeMb}mb`;
const src = `${ROOT}tests/out/llama-src`;
const cores = navigator.hardwareConcurrency || 1;

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

if (!(await exists(`${model}/config.json`)) || !(await exists(`${src}/convert_hf_to_gguf.py`))) {
  console.error(`run bench/hf_gguf_bench.ts --size-mb ${sizeMb} first: it makes the model and the converter`);
  Deno.exit(2);
}

/** Same tensor names, stored types and bytes, in the same order. */
async function sameTensors(a: string, b: string): Promise<boolean> {
  const [x, y] = [await openGguf(await fileSource(a)), await openGguf(await fileSource(b))];
  try {
    if (x.tensors.length !== y.tensors.length) return false;
    for (let i = 0; i < x.tensors.length; i++) {
      const [s, t] = [x.tensors[i], y.tensors[i]];
      if (s.name !== t.name || s.encoding !== t.encoding || s.dtype !== t.dtype) return false;
      const [p, q] = [await s.read(), await t.read()];
      if (p.length !== q.length || !p.every((v, j) => v === q[j])) return false;
    }
    return true;
  } finally {
    await x.close();
    await y.close();
  }
}

const out = await Deno.makeTempDir({ prefix: "hf-file-type-bench-" });
try {
  const f32 = `${out}/f32.gguf`;
  const job = { convert: [{ src, model, out: f32, outtype: "f32", pre: "llama-bpe" }] };
  const convert = await measureProcess([PY, `${ROOT}tests/data/hf/oracle.py`, JSON.stringify(job)]);
  const quantizer = await llamaQuantizeExecutable();
  console.log(`HF folder (${sizeMb} MB of BF16 safetensors) → GGUF file types, ${cores} cores\n`);
  console.log(
    "| file type | route | wall s | peak RSS MiB | ratio to llama.cpp (time, memory) | identical |",
  );
  console.log("|---|---|---:|---:|---|---|");
  for (const fileType of ["Q8_0", "Q4_K_M"]) {
    const ours = `${out}/ckpt-${fileType}.gguf`;
    const theirs = `${out}/llama-${fileType}.gguf`;
    const ckpt = (jobs: number) =>
      measureProcess([
        Deno.execPath(),
        "run",
        "-A",
        `${ROOT}cli/ckpt.ts`,
        "quantize",
        model,
        ours,
        "--scheme",
        fileType,
        "--jobs",
        String(jobs),
        "-q",
      ]);
    // The default (one job from a folder), then every core, as llama_model_quantize runs.
    const runs = [{ jobs: 1, m: await ckpt(1) }];
    if (cores > 1) runs.push({ jobs: cores, m: await ckpt(cores) });
    const quantize = await measureProcess([
      quantizer,
      f32,
      theirs,
      String(GGUF_FILE_TYPES[fileType].id),
      "0",
      String(cores),
    ]);
    const route: Measure = {
      seconds: convert.seconds + quantize.seconds,
      peakMiB: Math.max(convert.peakMiB, quantize.peakMiB),
    };
    const same = await sameTensors(ours, theirs);
    for (const { jobs, m } of runs) {
      console.log(
        `| ${fileType} | ckpt quantize MODEL_DIR --jobs ${jobs} | ${m.seconds.toFixed(2)} | ${
          m.peakMiB.toFixed(0)
        } | ${(m.seconds / route.seconds).toFixed(2)}×, ${
          (m.peakMiB / route.peakMiB).toFixed(2)
        }× | ${same} |`,
      );
    }
    console.log(
      `| ${fileType} | convert_hf_to_gguf.py f32 (${convert.seconds.toFixed(2)} s) + llama_model_quantize (${
        quantize.seconds.toFixed(2)
      } s) | ${route.seconds.toFixed(2)} | ${route.peakMiB.toFixed(0)} | 1× | |`,
    );
    await Deno.remove(ours);
    await Deno.remove(theirs);
  }
} finally {
  await Deno.remove(out, { recursive: true });
}
