// Where the test oracles live: a Python venv (torch 2.x, transformers,
// onnxruntime, gguf, TensorFlow, Keras) and npm packages (node-llama-cpp,
// transformers.js), installed by .ci/run into .oracles/ (or CKPT_ORACLES).
// Tests that need one skip with a message when it is missing.

import { pythonCanImport, REPO } from "./_helpers.ts";

/** The oracle folder: `$CKPT_ORACLES`, else `.oracles/` in the repository. */
export const ORACLES: string = Deno.env.get("CKPT_ORACLES") ?? `${REPO}/.oracles`;
/** The venv's Python. */
export const VENV_PYTHON: string = `${ORACLES}/venv/bin/python`;
/** The npm oracles' node_modules folder. */
export const NODE_ORACLES: string = `${ORACLES}/node/node_modules`;

/** True when the venv's Python can import every module named. */
export function hasVenv(...modules: string[]): boolean {
  return pythonCanImport(VENV_PYTHON, modules);
}

/** For `Deno.test({ ignore })`: true (with a message) when the venv lacks a module. */
export function skipUnlessVenv(...modules: string[]): boolean {
  const missing = !hasVenv(...modules);
  if (missing) {
    console.warn(`skipping: ${VENV_PYTHON} with ${modules.join(", ")} is not installed (see .ci/run)`);
  }
  return missing;
}

/** Run Python source in the venv with arguments; throws with stderr on failure. */
export async function runVenv(
  source: string,
  args: string[] = [],
  env?: Record<string, string>,
): Promise<string> {
  const out = await new Deno.Command(VENV_PYTHON, {
    args: ["-c", source, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { TF_CPP_MIN_LOG_LEVEL: "3", PYTHONHASHSEED: "0", ...env },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`venv python failed (${out.code}):\n${new TextDecoder().decode(out.stderr)}\n${stdout}`);
  }
  return stdout;
}

/** True when the npm oracle package is installed. */
export function hasNodeOracle(pkg: string): boolean {
  try {
    return Deno.statSync(`${NODE_ORACLES}/${pkg}/package.json`).isFile;
  } catch {
    return false;
  }
}

/** For `Deno.test({ ignore })`: true (with a message) when an npm oracle is missing. */
export function skipUnlessNodeOracle(pkg: string): boolean {
  const missing = !hasNodeOracle(pkg);
  if (missing) console.warn(`skipping: npm oracle ${pkg} is not installed in ${NODE_ORACLES} (see .ci/run)`);
  return missing;
}
