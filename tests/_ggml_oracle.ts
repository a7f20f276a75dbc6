// llama.cpp itself as an oracle: small C programs (tests/oracles/*.c) built
// with gcc into a temp folder on first use and linked against the prebuilt
// libggml-base / libllama that node-llama-cpp ships. Tests skip with a
// message when gcc or the libraries are missing.

import { NODE_ORACLES } from "./_oracles.ts";
import { REPO } from "./_helpers.ts";

/** Folder of node-llama-cpp's prebuilt CPU libraries. */
export const LLAMA_BINS: string = `${NODE_ORACLES}/@node-llama-cpp/linux-x64/bins/linux-x64`;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function hasGcc(): boolean {
  try {
    return new Deno.Command("gcc", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** Why the oracle cannot run here, or undefined when it can. */
export function ggmlOracleMissing(library = "libggml-base.so"): string | undefined {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return "the prebuilt libraries are linux-x64";
  }
  if (!exists(`${LLAMA_BINS}/${library}`)) return `${LLAMA_BINS}/${library} is not installed (see .ci/run)`;
  if (!hasGcc()) return "gcc is not on PATH";
  return undefined;
}

/** For `Deno.test({ ignore })`: true (with a message) when the oracle cannot run. */
export function skipUnlessGgmlOracle(library = "libggml-base.so"): boolean {
  const why = ggmlOracleMissing(library);
  if (why) console.warn(`skipping: llama.cpp oracle unavailable: ${why}`);
  return why !== undefined;
}

const built = new Map<string, Promise<string>>();

/** Build tests/oracles/NAME.c once per process; resolves to the executable's path. */
function build(name: string, libs: string[]): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      const dir = await Deno.makeTempDir({ prefix: "ckpt-oracle-" });
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch { /* already gone */ }
      });
      const exe = `${dir}/${name}`;
      const out = await new Deno.Command("gcc", {
        args: [
          "-O2",
          "-o",
          exe,
          `${REPO}/tests/oracles/${name}.c`,
          `-L${LLAMA_BINS}`,
          `-Wl,-rpath,${LLAMA_BINS}`,
          ...libs.map((l) => `-l:${l}`),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(`gcc failed for ${name}.c:\n${new TextDecoder().decode(out.stderr)}`);
      return exe;
    })();
    built.set(name, p);
  }
  return p;
}

/** One input for {@linkcode ggmlQuantize}: a ggml type id, the row length and the values. */
export interface GgmlJob {
  type: number;
  nPerRow: number;
  values: Float32Array;
}

async function run(exe: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(exe, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${exe} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function quantizeJobs(jobs: readonly GgmlJob[], repeat: number): Promise<[Uint8Array[], number[]]> {
  const exe = await build("ggml_quantize", ["libggml-base.so"]);
  const dir = await Deno.makeTempDir({ prefix: "ckpt-ggml-" });
  try {
    const args: string[] = repeat > 0 ? ["--time", String(repeat)] : [];
    for (const [i, job] of jobs.entries()) {
      const input = `${dir}/in${i}.f32`;
      await Deno.writeFile(
        input,
        new Uint8Array(job.values.buffer, job.values.byteOffset, job.values.byteLength),
      );
      args.push(String(job.type), String(job.nPerRow), input, `${dir}/out${i}.bin`);
    }
    const stdout = await run(exe, args);
    const outputs = await Promise.all(jobs.map((_, i) => Deno.readFile(`${dir}/out${i}.bin`)));
    const times = stdout.trim().split("\n").filter(Boolean).map((line) => Number(line.split(" ")[1]));
    return [outputs, times];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** ggml_quantize_chunk on each job, all in one process; the quantized bytes in job order. */
export async function ggmlQuantize(jobs: readonly GgmlJob[]): Promise<Uint8Array[]> {
  return (await quantizeJobs(jobs, 0))[0];
}

/** Like {@linkcode ggmlQuantize}, timing each job (best of `repeat` runs, one thread) in nanoseconds. */
export async function ggmlQuantizeTimed(
  jobs: readonly GgmlJob[],
  repeat: number,
): Promise<{ outputs: Uint8Array[]; ns: number[] }> {
  const [outputs, ns] = await quantizeJobs(jobs, Math.max(1, repeat));
  return { outputs, ns };
}

/** The built llama_model_quantize harness: `EXE INPUT OUTPUT FTYPE PURE(0|1) NTHREAD` (for benches). */
export function llamaQuantizeExecutable(): Promise<string> {
  return build("llama_quantize", ["libllama.v0.4.0.so", "libggml-base.so"]);
}

/** llama_model_quantize(input, output) for a llama_ftype number, without an importance matrix. */
export async function llamaModelQuantize(
  input: string,
  output: string,
  ftype: number,
  options: { pure?: boolean; nthread?: number } = {},
): Promise<void> {
  const exe = await build("llama_quantize", ["libllama.v0.4.0.so", "libggml-base.so"]);
  await run(exe, [input, output, String(ftype), options.pure ? "1" : "0", String(options.nthread ?? 1)]);
}
