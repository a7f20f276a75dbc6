// 7z archives for the scanner, read by 7-Zip itself (the 7z-wasm build, in
// its own in-memory file system: nothing on disk is touched). Every method
// 7-Zip reads (stored, LZMA, LZMA2, PPMd, BCJ, …) is read; sizes are checked
// from the listing before anything is extracted.

import type { SevenZipModule, SevenZipModuleFactory } from "7z-wasm";

const SIGNATURE = [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c];
// A fixed password: an encrypted member then fails to extract instead of
// prompting on stdin.
const NO_PASSWORD = "-pckpt-scan";

/** True when `head` starts a 7z archive (`7z\xbc\xaf\x27\x1c`). */
export function sniff7z(head: Uint8Array): boolean {
  return head.length >= SIGNATURE.length && SIGNATURE.every((b, i) => head[i] === b);
}

/** A 7z archive's files, or why some could not be read. */
export interface Extracted7z {
  readonly files: { name: string; data: Uint8Array }[];
  readonly encrypted: string[];
  readonly problems: string[];
}

interface Listed {
  path: string;
  size: number;
  folder: boolean;
  encrypted: boolean;
}

function parseListing(lines: string[]): Listed[] {
  const out: Listed[] = [];
  const start = lines.findIndex((l) => l.startsWith("----------"));
  if (start < 0) return out;
  let current: Record<string, string> | undefined;
  const flush = (): void => {
    if (current?.Path !== undefined) {
      out.push({
        path: current.Path,
        size: Number(current.Size ?? "0"),
        folder: current.Folder === "+" || (current.Attributes ?? "").startsWith("D"),
        encrypted: current.Encrypted === "+",
      });
    }
    current = undefined;
  };
  for (const line of lines.slice(start + 1)) {
    const eq = line.indexOf(" = ");
    if (eq < 0) {
      if (line.trim() === "") flush();
      continue;
    }
    current ??= {};
    current[line.slice(0, eq)] = line.slice(eq + 3);
  }
  flush();
  return out;
}

/**
 * List and extract every file of a 7z archive held in `bytes`, refusing
 * (as a problem) archives whose files add up to more than `limit` bytes.
 */
export async function extract7z(bytes: Uint8Array, limit: number): Promise<Extracted7z> {
  // A CommonJS package: its default export is the factory at run time, whatever its types say.
  const SevenZip = (await import("7z-wasm")).default as unknown as SevenZipModuleFactory;
  const out: string[] = [];
  const err: string[] = [];
  const sz: SevenZipModule = await SevenZip({
    print: (s: string) => out.push(s),
    printErr: (s: string) => err.push(s),
    stdin: () => null as unknown as number,
  });
  // The emscripten runtime sets the process exit code when 7-Zip fails and
  // throws on some errors: keep the exit code ours, and count a throw as a failure.
  const run = (args: string[]): number => {
    const saved = Deno.exitCode;
    try {
      return (sz.callMain(args) as unknown as number | undefined) ?? 0;
    } catch (error) {
      err.push(`7-Zip stopped (${typeof error === "number" ? "internal error" : String(error)})`);
      return -1;
    } finally {
      Deno.exitCode = saved;
    }
  };
  const problems: string[] = [];
  sz.FS.writeFile("/archive.7z", bytes);
  const listed = run(["l", "-slt", NO_PASSWORD, "-bd", "/archive.7z"]);
  const entries = parseListing(out);
  if (listed !== 0 && entries.length === 0) {
    problems.push(`7-Zip cannot list it: ${err.filter((l) => l.trim()).join("; ") || `exit code ${listed}`}`);
    return { files: [], encrypted: [], problems };
  }
  if (listed !== 0) problems.push(`7-Zip lists it with errors: ${err.filter((l) => l.trim()).join("; ")}`);
  const files = entries.filter((e) => !e.folder);
  const total = files.reduce((sum, e) => sum + e.size, 0);
  if (!Number.isSafeInteger(total) || total > limit) {
    problems.push(`its files add up to ${total} bytes, over the limit of ${limit}`);
    return { files: [], encrypted: [], problems };
  }
  const encrypted = files.filter((e) => e.encrypted).map((e) => e.path);
  err.length = 0;
  const code = run(["x", "-o/out", NO_PASSWORD, "-y", "-bd", "/archive.7z"]);
  if (code !== 0) {
    problems.push(
      `7-Zip cannot extract all of it: ${err.filter((l) => l.trim()).join("; ") || `exit code ${code}`}`,
    );
  }
  const result: { name: string; data: Uint8Array }[] = [];
  for (const e of files) {
    if (e.encrypted) continue;
    const path = `/out/${e.path}`;
    try {
      const data = sz.FS.readFile(path) as Uint8Array;
      if (data.length !== e.size) {
        problems.push(`member '${e.path}' extracts to ${data.length} bytes, not ${e.size}`);
      }
      result.push({ name: e.path, data });
    } catch {
      problems.push(`member '${e.path}' could not be extracted`);
    }
  }
  return { files: result, encrypted, problems };
}
