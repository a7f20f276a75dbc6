// ckpt's ONNX q8 and q4 variants against onnxruntime's Python quantizers
// (quantize_dynamic, MatMulNBitsQuantizer) on a BERT of about 100 MB made by
// tests/data/onnx/make_variant_models.py --bench: wall time and peak memory of
// one run each, as separate processes. Not a timed test; run it by hand:
//
//   deno run --allow-all bench/onnx_quant_bench.ts
//
// Needs the oracles' venv (.oracles/venv: onnx, onnxruntime, torch, transformers).

import { measureProcess } from "./_measure.ts";

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
  const runs: [string, string[]][] = [
    ["ckpt q8 (int8 dynamic)", ckpt("q8", `${dir}/ckpt_q8.onnx`)],
    [
      "onnxruntime quantize_dynamic",
      python(
        "from onnxruntime.quantization import quantize_dynamic, QuantType\n" +
          "quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)",
        `${dir}/ort_q8.onnx`,
      ),
    ],
    ["ckpt q4 (MatMulNBits)", ckpt("q4", `${dir}/ckpt_q4.onnx`)],
    [
      "onnxruntime MatMulNBitsQuantizer",
      python(
        "import onnx\nfrom onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer\n" +
          "q = MatMulNBitsQuantizer(onnx.load(sys.argv[1]), block_size=32, is_symmetric=True)\n" +
          "q.process(); q.model.save_model_to_file(sys.argv[2])",
        `${dir}/ort_q4.onnx`,
      ),
    ],
  ];
  console.log(`model: ${(size / 2 ** 20).toFixed(1)} MiB (${model})`);
  console.log("| run | wall s | peak MiB | output MiB |");
  console.log("|---|---:|---:|---:|");
  for (const [label, cmd] of runs) {
    const m = await measureProcess(cmd);
    const out = (await Deno.stat(cmd[cmd.length - (label.startsWith("ckpt") ? 4 : 1)])).size;
    console.log(
      `| ${label} | ${m.seconds.toFixed(2)} | ${m.peakMiB.toFixed(0)} | ${(out / 2 ** 20).toFixed(1)} |`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
