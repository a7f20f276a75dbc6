/**
 * `ckpt compare`: run two ONNX models on the same inputs and report how far
 * their answers differ.
 *
 * @module
 */

import { type Command, EXIT } from "./_command.ts";
import { expectPositionals, formatTable, parseCommandArgs, printJson } from "./_output.ts";
import { UsageError } from "../lib/errors.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import type { OnnxInputArray } from "../formats/onnx_runtime/compare_models.ts";

function number(text: string | undefined, option: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(`${option} must be a number from ${min} to ${max}, got '${text}'`);
  }
  return n;
}

async function readArrays(path: string): Promise<Record<string, OnnxInputArray>> {
  const file = await openTensorFile(path);
  try {
    const arrays: Record<string, OnnxInputArray> = {};
    for (const entry of file.tensors) {
      // npz members are named like the arrays' keys; drop a `.npy` suffix if a reader keeps it.
      const name = entry.name.replace(/\.npy$/, "");
      arrays[name] = { dtype: entry.dtype, shape: entry.shape, data: (await entry.read()).slice() };
    }
    if (Object.keys(arrays).length === 0) throw new UsageError(`${path} holds no arrays`);
    return arrays;
  } finally {
    await file.close();
  }
}

/** `ckpt compare A.onnx B.onnx [--inputs FILE.npz | --random N] [--seed S] [--min-agreement F] [--json]`. */
export const compareCommand: Command = {
  name: "compare",
  summary: "run two ONNX models on the same inputs and compare their answers",
  help: `ckpt compare — do two ONNX models give the same answers?

Usage: ckpt compare A.onnx B.onnx [--inputs FILE.npz | --random N] [--seed S]
                    [--output NAME] [--min-agreement F] [--json]

Runs both models with onnxruntime-node on the same inputs and compares one
output (the first, read as logits over its last axis): top-1 agreement, mean
and max absolute difference, and the largest change of a softmax probability.
The check to make before deploying a quantized or cast model.

Options:
  --inputs FILE     arrays to feed, by input name (an .npz, or any tensor file
                    ckpt reads); a single array feeds a single-input model.
                    The first dimension holds the samples.
  --random N        N seeded random samples (normal values; default 100)
  --seed S          seed for --random (default 0)
  --output NAME     the output to compare (default: the first)
  --min-agreement F top-1 agreement (0-1) below which the exit code is 1
                    (default 0.99)
  --json            print {"top1Agreement", "meanAbsDiff", "maxAbsDiff",
                    "maxProbDelta", "cosine", "inputs"}
  -h, --help        show this help

Exit codes: 0 when top-1 agreement is at least --min-agreement, 1 when it is
lower, 2 for bad input.

Example:
  ckpt compare model.onnx model-int8.onnx --random 200 --seed 1

Permissions: --allow-read --allow-ffi --allow-env (onnxruntime-node).`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, {
      inputs: { type: "string" },
      random: { type: "string" },
      seed: { type: "string" },
      output: { type: "string" },
      "min-agreement": { type: "string" },
      json: { type: "boolean" },
    });
    const [a, b] = expectPositionals(positionals, ["A.onnx", "B.onnx"]);
    if (values.inputs !== undefined && values.random !== undefined) {
      throw new UsageError("Give either --inputs or --random, not both");
    }
    const random = number(values.random as string | undefined, "--random", 1, 1e9);
    if (random !== undefined && !Number.isInteger(random)) {
      throw new UsageError("--random must be a whole number");
    }
    const seed = number(values.seed as string | undefined, "--seed", 0, 2 ** 32 - 1);
    const minAgreement = number(values["min-agreement"] as string | undefined, "--min-agreement", 0, 1) ??
      0.99;
    const inputs = values.inputs === undefined ? undefined : await readArrays(values.inputs as string);
    // Loaded on use: the ONNX codec needs env access that other commands do not.
    const { compareOnnxModels } = await import("../formats/onnx_runtime/compare_models.ts");
    const result = await compareOnnxModels(a, b, {
      inputs,
      random,
      seed,
      output: values.output as string | undefined,
    });
    if (values.json) printJson(result);
    else {
      console.log(`${a} vs ${b}: ${result.inputs} samples`);
      console.log(formatTable([
        ["top-1 agreement", `${(result.top1Agreement * 100).toFixed(2)}%`],
        ["mean abs diff", result.meanAbsDiff.toPrecision(4)],
        ["max abs diff", result.maxAbsDiff.toPrecision(4)],
        ["max prob change", result.maxProbDelta.toPrecision(4)],
        ["output cosine", result.cosine.toFixed(6)],
      ], { indent: "  " }));
      if (result.top1Agreement < minAgreement) {
        console.log(`top-1 agreement is below ${(minAgreement * 100).toFixed(2)}%`);
      }
    }
    return result.top1Agreement < minAgreement ? EXIT.findings : EXIT.ok;
  },
};
