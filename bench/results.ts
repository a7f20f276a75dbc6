// Regenerates bench/RESULTS.md in one run: bench/peers.ts writes its
// sections (conversion, decoding, parsing, int8 and cast against PyTorch),
// then every other comparison bench runs in turn and its table is appended
// under a heading that names the script and the date. Each bench prints its
// figures next to its named baseline, measured in the same run. Not a test:
//
//   deno task bench:results [--out bench/RESULTS.md] [--skip peers,gpu_bench]
//
// Needs the oracles (.oracles/: the venv with torch, transformers, onnxruntime
// and gguf-py; node-llama-cpp) and Debian's python3 with torch for peers.ts;
// a bench whose baseline is missing says so in its own output.

import { parseArgs } from "node:util";

const REPO = new URL("..", import.meta.url).pathname;
const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: `${REPO}bench/RESULTS.md` },
    skip: { type: "string", default: "" },
  },
});
const skip = new Set(args.skip!.split(",").filter(Boolean));
const today = new Date().toISOString().slice(0, 10);

interface Section {
  script: string;
  title: string;
  /** Said before the bench's own output. */
  intro?: string;
  /** The output is plain text, shown as a code block. */
  preformatted?: boolean;
  args?: string[];
}

const SECTIONS: Section[] = [
  { script: "hf_gguf_bench", title: "Hugging Face folder → F16 GGUF" },
  {
    script: "hf_file_type_bench",
    title: "Hugging Face folder → llama-quantize file types",
    intro: "llama.cpp's route is `convert_hf_to_gguf.py --outtype f32` to an intermediate file, then " +
      "`llama_model_quantize` (node-llama-cpp's libllama, all cores); ckpt's is one pass. " +
      '"identical": the same tensors, types and bytes.',
  },
  { script: "kernels_vs_ggml", title: "CPU kernels against ggml's C reference and PyTorch" },
  { script: "kquant_bench", title: "K-quant kernels against ggml's C reference", preformatted: true },
  { script: "onnx_quant_bench", title: "ONNX variants against onnxruntime's Python quantizers" },
  { script: "gpu_bench", title: "GPU kernels" },
];

async function run(script: string, extra: string[]): Promise<string> {
  console.error(`running bench/${script}.ts…`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${REPO}bench/${script}.ts`, ...extra],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) return `${text}\n\n(bench/${script}.ts exited with ${out.code})`;
  return text;
}

if (!skip.has("peers")) {
  console.error("running bench/peers.ts…");
  const peers = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${REPO}bench/peers.ts`, "--out", args.out!, "--with-others"],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!peers.success) Deno.exit(peers.code);
} else {
  await Deno.writeTextFile(args.out!, "# ckpt against its peers\n");
}
for (const s of SECTIONS) {
  if (skip.has(s.script)) continue;
  const output = await run(s.script, s.args ?? []);
  const body = s.preformatted ? "```\n" + output + "\n```" : output;
  const parts = [`## ${s.title} (bench/${s.script}.ts, ${today})`, s.intro, body].filter(Boolean);
  await Deno.writeTextFile(args.out!, "\n" + parts.join("\n\n") + "\n", { append: true });
}
console.error(`wrote ${args.out}`);
