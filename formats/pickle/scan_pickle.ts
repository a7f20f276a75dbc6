/**
 * List what a pickle would import, without running it, and judge it: an
 * opcode walk over every pickle in the bytes (including ones after the first
 * STOP and ones nested as bytes inside another).
 *
 * @module
 */

import { runMachine } from "./_machine.ts";
import { weightsOnlyRefusal } from "./_weights_only.ts";
import { OP } from "./opcodes.ts";
import { sniffPickle } from "./sniff_pickle.ts";
import { DEFAULT_ALLOWED_GLOBALS, globalName } from "./allowlist.ts";
import { MAX_MEMO_ENTRIES, MAX_PICKLE_DEPTH } from "./load_pickle.ts";

/**
 * How a global, a pickle or a file is judged: `safe` exactly when
 * `torch.load(weights_only=True)` would load it, `dangerous` for a known
 * code-execution, file or network route, `unknown` for anything else torch
 * refuses, `error` when the bytes cannot be read whole.
 */
export type ScanVerdict = "safe" | "unknown" | "dangerous" | "error";

/** One global named by a pickle. */
export interface ScannedGlobal {
  /** `module.name` (Python 2 module names renamed as Python 3 does). */
  readonly name: string;
  /** Byte offset of the opcode that named it, in the scanned bytes. */
  readonly offset: number;
  /** How it is judged. */
  readonly verdict: "safe" | "unknown" | "dangerous";
}

/** What {@linkcode scanPickle} found. */
export interface PickleScan {
  /** Worst verdict: dangerous, then unknown, then error, then safe. */
  readonly verdict: ScanVerdict;
  /** Every global named, in order (repeats removed). */
  readonly globals: readonly ScannedGlobal[];
  /** Notes on anything unusual: several pickles, nested pickles, errors. */
  readonly findings: readonly string[];
  /** Number of pickles read (nested ones included). */
  readonly pickles: number;
  /** Offset just past the last pickle read. */
  readonly end: number;
}

/** Options for {@linkcode scanPickle}. */
export interface ScanPickleOptions {
  /** Extra `module.name` globals to count as safe. @default [] */
  allowGlobals?: readonly string[];
  /** Read at most this many consecutive pickles, then stop (for formats that follow pickles with data). @default Infinity */
  maxPickles?: number;
  /** Offset to start at. @default 0 */
  offset?: number;
  /** Added to reported offsets (where `bytes` sits in a larger file). @default 0 */
  baseOffset?: number;
  /** Where the bytes came from, for findings. @default "pickle" */
  name?: string;
  /**
   * Judge each pickle as `torch.load(weights_only=True)` (torch 2.x) would: a
   * pickle it refuses (an opcode outside its subset, BUILD on a dict, a
   * persistent id that is not a storage, …) is `unknown` even when every
   * global is allowlisted. @default true
   */
  weightsOnly?: boolean;
}

// Whole modules (and their submodules) that give code execution, file or
// network access: the union of picklescan's and modelscan's blocklists and more.
const DANGEROUS_MODULES = [
  "os",
  "posix",
  "nt",
  "sys",
  "subprocess",
  "_posixsubprocess",
  "runpy",
  "importlib",
  "marshal",
  "pickle",
  "_pickle",
  "shutil",
  "socket",
  "_socket",
  "ssl",
  "pty",
  "pdb",
  "bdb",
  "ctypes",
  "_ctypes",
  "asyncio",
  "pip",
  "venv",
  "webbrowser",
  "urllib",
  "http",
  "requests",
  "aiohttp",
  "httpx",
  "ftplib",
  "smtplib",
  "telnetlib",
  "cloudpickle",
  "dill",
  "joblib",
  "torch._inductor",
  "code",
  "codeop",
  "multiprocessing",
  "signal",
  "_thread",
  "threading",
  // Standard-library and torch helpers that run code, commands or files,
  // found in published scanner bypasses.
  "profile",
  "cProfile",
  "trace",
  "timeit",
  "pkgutil",
  "ensurepip",
  "doctest",
  "idlelib",
  "lib2to3",
  "distutils",
  "_aix_support",
  "_osx_support",
  "_pyrepl",
  "test.support",
  "numpy.f2py",
  "torch._dynamo",
  "torch.fx",
  "torch.jit",
  "torch.utils.collect_env",
  "torch.utils.bottleneck",
  "torch.utils._config_module",
  "torch.utils.data.datapipes",
];

// Single names elsewhere that run code, read or write files, or fetch attributes.
const DANGEROUS_NAMES = new Set([
  ...[
    "eval",
    "exec",
    "compile",
    "getattr",
    "setattr",
    "delattr",
    "apply",
    "open",
    "breakpoint",
    "__import__",
    "globals",
    "locals",
    "vars",
    "input",
    "execfile",
    "file",
    "reload",
  ].map((n) => `builtins.${n}`),
  "operator.attrgetter",
  "operator.itemgetter",
  "operator.methodcaller",
  "_operator.attrgetter",
  "_operator.itemgetter",
  "_operator.methodcaller",
  "functools.partial",
  "functools.reduce",
  "_functools.partial",
  "_functools.reduce",
  "types.CodeType",
  "types.FunctionType",
  "types.MethodType",
  "pydoc.pipepager",
  "pydoc.pager",
  "pydoc.tempfilepager",
  "pydoc.getpager",
  "pydoc.locate",
  "io.FileIO",
  "io.open",
  "_io.FileIO",
  "_io.open",
  "codecs.open",
  "logging.FileHandler",
  "logging.config.listen",
  "torch.load",
  "torch.serialization.load",
  "torch.hub.load",
  "torch.hub.load_state_dict_from_url",
  "torch.jit.load",
  "torch.package.PackageImporter",
  "numpy.load",
  "numpy.testing._private.utils.runstring",
  "copyreg._reconstructor_unsafe",
  "tempfile.NamedTemporaryFile",
  "tempfile.mkstemp",
  "imaplib.IMAP4_stream",
  "uuid._get_command_stdout",
]);

/**
 * Judge one global: `safe` when on the allowlist (or in `allow`),
 * `dangerous` when it is a known code-execution, file or network route,
 * otherwise `unknown`.
 *
 * @example
 * ```ts
 * import { classifyGlobal } from "./scan_pickle.ts";
 * console.log(classifyGlobal("os.system"), classifyGlobal("collections.OrderedDict")); // dangerous safe
 * console.log(classifyGlobal("__builtin__.eval"), classifyGlobal("mymodel.Net")); // dangerous unknown
 * ```
 */
export function classifyGlobal(
  name: string,
  allow: ReadonlySet<string> = new Set(),
): "safe" | "unknown" | "dangerous" {
  const dot = name.indexOf(".");
  const normalized = dot > 0 ? globalName(name.slice(0, dot), name.slice(dot + 1)) : name;
  if (DEFAULT_ALLOWED_GLOBALS.has(normalized) || allow.has(normalized)) return "safe";
  if (DANGEROUS_NAMES.has(normalized)) return "dangerous";
  // A module-qualified name can hide its module in the attribute part
  // (`os.path` + `join`, or `builtins` + `__import__`); check every prefix.
  const parts = normalized.split(".");
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join(".");
    if (DANGEROUS_MODULES.includes(prefix)) return "dangerous";
  }
  // Dotted attribute paths (`builtins.getattr.__call__`) are as dangerous as their head.
  for (let i = parts.length - 1; i >= 2; i--) {
    if (DANGEROUS_NAMES.has(parts.slice(0, i).join("."))) return "dangerous";
  }
  return "unknown";
}

/** How deep pickles nested as bytes inside pickles are followed. */
const MAX_NESTING = 4;

/**
 * Walk every pickle in `bytes` (all of them, one after another, not just up
 * to the first STOP) and every pickle nested as a bytes or string value,
 * listing the globals each names. Never executes anything. A stream that
 * breaks part-way still reports what it saw before.
 *
 * @example
 * ```ts
 * import { scanPickle } from "./scan_pickle.ts";
 * // cos\nsystem\n(S'echo hi'\ntR.
 * const evil = new TextEncoder().encode("cos\nsystem\n(S'echo hi'\ntR.");
 * const report = scanPickle(evil);
 * console.log(report.verdict, report.globals.map((g) => g.name)); // dangerous [ "os.system" ]
 * ```
 */
export function scanPickle(bytes: Uint8Array, options: ScanPickleOptions = {}): PickleScan {
  const allow = new Set(options.allowGlobals ?? []);
  const globals: ScannedGlobal[] = [];
  const seen = new Set<string>();
  const findings: string[] = [];
  let pickles = 0;
  let failed = false;
  let refused = false;
  const name = options.name ?? "pickle";

  const walk = (data: Uint8Array, start: number, base: number, depth: number, limit: number): number => {
    let offset = start;
    let count = 0;
    while (offset < data.length && count < limit) {
      const nested: [Uint8Array, number][] = [];
      try {
        const result = runMachine(
          data,
          offset,
          {
            global(module: string, attr: string, at: number): boolean {
              const full = globalName(module, attr);
              if (!seen.has(full)) {
                seen.add(full);
                globals.push({ name: full, offset: base + at, verdict: classifyGlobal(full, allow) });
              }
              return true;
            },
            payload(payload: Uint8Array, at: number): void {
              if (depth >= MAX_NESTING) return;
              const inner = nestedCandidate(payload);
              if (inner) nested.push([inner, at]);
            },
          },
          { maxMemo: MAX_MEMO_ENTRIES, maxDepth: MAX_PICKLE_DEPTH },
          name,
        );
        if (depth === 0 && options.weightsOnly !== false) {
          const check = weightsOnlyRefusal(data, offset, allow);
          if (check.refusal) {
            refused = true;
            findings.push(
              `torch.load(weights_only=True) would refuse the pickle at offset ${
                base + offset
              }: ${check.refusal.reason}`,
            );
          }
        }
        count++;
        pickles++;
        // Containers that hold several pickles by design say how many (maxPickles).
        if (count > 1 && options.maxPickles === undefined) {
          findings.push(`another pickle follows STOP at offset ${base + offset}`);
        }
        offset = result.end;
      } catch (error) {
        const message = (error as Error).message;
        if (depth > 0) {
          findings.push(`bytes at offset ${base} look like a pickle but do not parse: ${message}`);
        } else if (count > 0) {
          findings.push(
            `${data.length - offset} bytes after STOP at offset ${base + offset} are not a pickle`,
          );
        } else {
          failed = true;
          findings.push(message);
        }
        offset = data.length;
      }
      for (const [payload, at] of nested) {
        findings.push(`a pickle is nested in a bytes value at offset ${base + at}`);
        walk(payload, 0, base + at, depth + 1, Infinity);
      }
    }
    return offset;
  };

  const end = walk(bytes, options.offset ?? 0, options.baseOffset ?? 0, 0, options.maxPickles ?? Infinity);
  const verdicts = globals.map((g) => g.verdict);
  const verdict: ScanVerdict = verdicts.includes("dangerous")
    ? "dangerous"
    : verdicts.includes("unknown") || refused
    ? "unknown"
    : failed
    ? "error"
    : "safe";
  return { verdict, globals, findings, pickles, end };
}

// A payload that may be a pickle: raw bytes that sniff as one and end in
// STOP, or the same carried in a str as UTF-8 (`_codecs.encode(s, "latin1")`
// turns it back into bytes).
function nestedCandidate(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length >= 2 && payload[payload.length - 1] === OP.STOP && sniffPickle(payload)) return payload;
  if (payload.length >= 4 && payload[0] === 0xc2 && payload[1] === OP.PROTO) { // U+0080 as UTF-8
    const text = new TextDecoder().decode(payload);
    const latin = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0xff) return undefined;
      latin[i] = code;
    }
    return looksLikePickle(latin) ? latin : undefined;
  }
  return undefined;
}

/**
 * True when `bytes` starts like a pickle of any protocol (0-5): see
 * {@linkcode sniffPickle}, which this calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { looksLikePickle } from "./scan_pickle.ts";
 * assert.equal(looksLikePickle(new Uint8Array([0x80, 4, 0x95, 2, 0, 0, 0, 0, 0, 0, 0, 0x4e, 0x2e])), true);
 * assert.equal(looksLikePickle(new TextEncoder().encode("V\\u0041\n.")), true);
 * ```
 */
export function looksLikePickle(bytes: Uint8Array): boolean {
  return sniffPickle(bytes);
}
