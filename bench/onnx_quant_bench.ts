// ckpt's ONNX q8 and q4 variants against onnxruntime's Python quantizers
// (quantize_dynamic, MatMulNBitsQuantizer) on a BERT of about 100 MB made by
// tests/data/onnx/make_variant_models.py --bench: median wall time and peak
// memory of --runs runs each (interleaved), as separate processes, and each
// ckpt figure as a ratio to its onnxruntime counterpart. Not a timed test:
//
//   deno run --allow-all bench/onnx_quant_bench.ts [--runs 3]
//
// Needs the oracles' venv (.oracles/venv: onnx, onnxruntime, torch, transformers).

import { parseArgs } from "node:util";
import { type Measure, measureProcess, median } from "./_measure.ts";

const { values: args } = parseArgs({ args: Deno.args, options: { runs: { type: "string", default: "3" } } });
const RUNS = Number(args.runs);

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const VENV = `${REPO}/.oracles/venv/bin/python`;
const dir = await Deno.makeTempDir({ prefix: "ckpt-onnx-bench-" });
try {
  const made = await new Deno.Command(VENV, {
    args: [`${REPO}/tests/data/onnx/make_variant_models.py`, dir, "--bench"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!made.success) throw new Error(new TextDecoder().decode(made.stderr));
  const model = `${dir}/bench/onnx/model.onnx`;
  const size = (await Deno.stat(model)).size;
  const ckpt = (scheme: string, out: string) => [
    Deno.execPath(),
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    `${REPO}/cli/ckpt.ts`,
    "quantize",
    model,
    out,
    "--scheme",
    scheme,
    "-q",
  ];
  const python = (source: string, out: string) => [
    VENV,
    "-c",
    `import logging, sys; logging.disable(logging.WARNING)\n${source}`,
    model,
    out,
  ];
  const q8 = `${dir}/ckpt_q8.onnx`, q4 = `${dir}/ckpt_q4.onnx`;
  const ortQ8 = `${dir}/ort_q8.onnx`, ortQ4 = `${dir}/ort_q4.onnx`;
  const pairs: { ours: [string, string[], string]; theirs: [string, string[], string] }[] = [
    {
      ours: ["ckpt q8 (int8 dynamic)", ckpt("q8", q8), q8],
      theirs: [
        "onnxruntime quantize_dynamic",
        python(
          "from onnxruntime.quantization import quantize_dynamic, QuantType\n" +
            "quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)",
          ortQ8,
        ),
        ortQ8,
      ],
    },
    {
      ours: ["ckpt q4 (MatMulNBits)", ckpt("q4", q4), q4],
      theirs: [
        "onnxruntime MatMulNBitsQuantizer",
        python(
          "import onnx\nfrom onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer\n" +
            "q = MatMulNBitsQuantizer(onnx.load(sys.argv[1]), block_size=32, is_symmetric=True)\n" +
            "q.process(); q.model.save_model_to_file(sys.argv[2])",
          ortQ4,
        ),
        ortQ4,
      ],
    },
  ];
  const runs = pairs.flatMap((p) => [p.ours, p.theirs]);
  const measured = new Map<string, Measure[]>(runs.map(([label]) => [label, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const [label, cmd] of runs) measured.get(label)!.push(await measureProcess(cmd));
  }
  const figure = (label: string) => {
    const ms = measured.get(label)!;
    return { seconds: median(ms.map((m) => m.seconds)), peakMiB: median(ms.map((m) => m.peakMiB)) };
  };
  console.log(`model: ${(size / 2 ** 20).toFixed(1)} MiB of float32 BERT; median of ${RUNS} runs each`);
  console.log("");
  console.log("| run | wall s | peak MiB | output MiB | time, memory vs onnxruntime |");
  console.log("|---|---:|---:|---:|---|");
  for (const { ours, theirs } of pairs) {
    const a = figure(ours[0]);
    const b = figure(theirs[0]);
    for (
      const [[label, , out], m, ratio] of [
        [ours, a, `${(a.seconds / b.seconds).toFixed(2)}×, ${(a.peakMiB / b.peakMiB).toFixed(2)}×`],
        [theirs, b, "1×"],
      ] as const
    ) {
      const bytes = (await Deno.stat(out)).size;
      console.log(
        `| ${label} | ${m.seconds.toFixed(2)} | ${m.peakMiB.toFixed(0)} | ${
          (bytes / 2 ** 20).toFixed(1)
        } | ${ratio} |`,
      );
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
