// Shared test utilities: temp folders, running the CLI, and real Python
// (Debian's /usr/bin/python3 with torch, numpy, onnx) for interop tests.

export const REPO: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const DATA: string = `${REPO}/tests/data`;
export const PYTHON = "/usr/bin/python3";

const pythonChecks = new Map<string, boolean>();

/** True when the Python at `python` can import every module named (asked once per set). */
export function pythonCanImport(python: string, modules: readonly string[]): boolean {
  const key = `${python}:${modules.join(",")}`;
  if (!pythonChecks.has(key)) {
    let ok = false;
    try {
      ok = new Deno.Command(python, {
        args: ["-c", modules.map((m) => `import ${m}`).join("; ") || "pass"],
        stdout: "null",
        stderr: "null",
      }).outputSync().success;
    } catch {
      ok = false;
    }
    pythonChecks.set(key, ok);
  }
  return pythonChecks.get(key)!;
}

/** True when Debian's python3 can import every module named. */
export function hasPython(...modules: string[]): boolean {
  return pythonCanImport(PYTHON, modules);
}

/** Reason string for `Deno.test({ ignore })` messages. */
export function skipUnlessPython(...modules: string[]): boolean {
  const missing = !hasPython(...modules);
  if (missing) console.warn(`skipping: ${PYTHON} with ${modules.join(", ")} is not installed`);
  return missing;
}

/** Run a Python script (source text) with arguments; throws with stderr on failure. */
export async function runPython(source: string, args: string[] = []): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", source, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`python failed (${out.code}):\n${new TextDecoder().decode(out.stderr)}\n${stdout}`);
  }
  return stdout;
}

/** A fresh temporary folder, removed by the returned dispose function. */
export async function tempDir(prefix = "ckpt-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `cli/ckpt.ts` in a subprocess with the given Deno permission flags
 * (default: read and write only, as the README documents).
 */
export async function runCli(
  args: string[],
  options: { permissions?: string[]; cwd?: string; script?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...(options.permissions ?? ["--allow-read", "--allow-write"]),
      `${REPO}/${options.script ?? "cli/ckpt.ts"}`,
      ...args,
    ],
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Bytes of a typed array, as a Uint8Array view. */
export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Names of the files in a folder (to assert no partial output was left). */
export async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}
