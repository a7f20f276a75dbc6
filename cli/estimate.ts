/**
 * `ckpt estimate`: memory for inference and training of an ONNX model.
 *
 * @module
 */

import { type Command, EXIT } from "./_command.ts";
import { expectPositionals, formatTable, parseCommandArgs, printJson } from "./_output.ts";
import { type DType, elementCount } from "../lib/dtype.ts";
import { UsageError } from "../lib/errors.ts";
import { estimateMemory, OPTIMIZER_SLOTS, type OptimizerName } from "../lib/memory_estimate.ts";
import { formatBytes } from "../lib/units.ts";

const COMPUTE_DTYPES: readonly DType[] = ["F32", "F16", "BF16"];

function parseInputs(specs: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const spec of specs) {
    const match = /^(.+)=(\d+(?:x\d+)*)$/.exec(spec);
    if (!match) throw new UsageError(`Cannot parse --input '${spec}': use NAME=1x3x224x224`);
    out[match[1]] = match[2].split("x").map(Number);
  }
  return out;
}

function positiveInt(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${option} must be a positive integer, got '${text}'`);
  }
  return n;
}

/** `ckpt estimate MODEL.onnx [--input NAME=1x3x224x224] [--batch N] [--train] [--optimizer …] [--dtype …] [--json]`. */
export const estimateCommand: Command = {
  name: "estimate",
  summary: "estimate an ONNX model's memory for inference and training",
  help: `ckpt estimate — memory for inference and training of an ONNX model

Usage: ckpt estimate MODEL.onnx [--input NAME=1x3x224x224]... [--batch N]
                    [--train] [--optimizer adam|sgd|sgd-momentum]
                    [--dtype F32|F16|BF16] [--json]

Counts the bytes of the parameters (initializers), the input, every
intermediate activation, and for training the gradients (of parameters and
of activations) and the optimizer's slots (Adam 2x, SGD with momentum 1x,
SGD 0x the parameters). Activation shapes come from the model's value_info
when it gives every one statically, else from running the model once with
onnxruntime-node on seeded random inputs with every node output exposed.
Activations are counted as if all were alive at once (what training keeps
for the backward pass; an upper bound for inference).

Options:
  --input NAME=DIMS   shape of an input (repeatable); needed when the model
                      declares symbolic dimensions
  --batch N           batch size: replaces every input's first dimension
                      (above 2, extrapolated from runs at batch 1 and 2)
  --train             also print the training breakdown
  --optimizer NAME    adam (default), sgd or sgd-momentum
  --dtype DTYPE       count float tensors at F32, F16 or BF16
                      (default: each tensor's own dtype)
  --json              print {"parameterBytes", "inputBytes", "activationBytes",
                      "gradientBytes", "optimizerBytes", "inferenceBytes",
                      "trainingBytes"}
  -h, --help          show this help

Example:
  ckpt estimate resnet18.onnx --input input=1x3x224x224 --batch 32 --train

Permissions: --allow-read --allow-ffi --allow-env (onnxruntime-node), plus
--allow-write for models with external data (a temporary copy beside them).`,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs(args, {
      input: { type: "string", multiple: true },
      batch: { type: "string" },
      train: { type: "boolean" },
      optimizer: { type: "string" },
      dtype: { type: "string" },
      json: { type: "boolean" },
    });
    const [model] = expectPositionals(positionals, ["MODEL"]);
    const inputs = parseInputs((values.input as string[] | undefined) ?? []);
    const batch = positiveInt(values.batch as string | undefined, "--batch");
    const optimizer = (values.optimizer as string | undefined) ?? "adam";
    if (!Object.hasOwn(OPTIMIZER_SLOTS, optimizer)) {
      throw new UsageError(`Unknown optimizer '${optimizer}'; use adam, sgd or sgd-momentum`);
    }
    const dtype = values.dtype as string | undefined;
    if (dtype !== undefined && !COMPUTE_DTYPES.includes(dtype as DType)) {
      throw new UsageError(`Unknown --dtype '${dtype}'; use F32, F16 or BF16`);
    }
    // Loaded on use: the ONNX codec needs env access that other commands do not.
    const { measureOnnxActivations } = await import("../formats/onnx_runtime/activations.ts");
    const measured = await measureOnnxActivations(model, { inputs, batch });
    const size = (v: { dtype: DType | undefined; shape: readonly number[] }) => ({
      dtype: v.dtype ?? "U8",
      elements: elementCount(v.shape),
    });
    const estimate = estimateMemory({
      parameters: measured.graph.initializers.filter((i) => i.dtype !== undefined).map(size),
      inputs: measured.inputs.map(size),
      activations: measured.activations.map(size),
    }, { dtype: dtype as DType | undefined, optimizer: optimizer as OptimizerName });
    if (values.json) {
      printJson(estimate);
      return EXIT.ok;
    }
    const row = (label: string, bytes: number) => [label, formatBytes(bytes), String(bytes)];
    const rows = [
      row("parameters", estimate.parameterBytes),
      row("input", estimate.inputBytes),
      row(`activations (${measured.activations.length} values)`, estimate.activationBytes),
      row("inference total", estimate.inferenceBytes),
    ];
    if (values.train) {
      rows.push(
        row("gradients", estimate.gradientBytes),
        row(`optimizer (${optimizer})`, estimate.optimizerBytes),
        row("training total", estimate.trainingBytes),
      );
    }
    console.log(
      `${model}: ${measured.inputs.map((v) => `${v.name} [${v.shape.join("x")}]`).join(", ")}; ` +
        `shapes from ${measured.method === "runtime" ? "a run with onnxruntime" : "value_info"}` +
        (dtype ? `; floats counted as ${dtype}` : ""),
    );
    console.log(formatTable(rows, { align: ["left", "right", "right"], indent: "  " }));
    return EXIT.ok;
  },
};
