/**
 * Unpickle bytes into plain values without running anything: globals are
 * checked against an allowlist, and calls become inert records.
 *
 * @module
 */

import { UnsafePickleError } from "../../lib/errors.ts";
import { runMachine } from "./_machine.ts";
import { DEFAULT_ALLOWED_GLOBALS, globalName } from "./allowlist.ts";
import type { PickleValue } from "./values.ts";

/** Default bound on memo entries: far more than any checkpoint's pickle uses. */
export const MAX_MEMO_ENTRIES = 4_194_304;
/** Default bound on nested MARKs (container nesting while building). */
export const MAX_PICKLE_DEPTH = 1000;

/** Options for {@linkcode loadPickle}. */
export interface LoadPickleOptions {
  /** Turn globals outside the allowlist into inert placeholders instead of refusing. @default false */
  permissive?: boolean;
  /** Extra `module.name` globals to allow. @default [] */
  allowGlobals?: readonly string[];
  /** Offset of the pickle in `bytes`. @default 0 */
  offset?: number;
  /** Turns persistent ids into values (PyTorch storages). @default undefined (ids stay as they are) */
  persistentLoad?: (pid: PickleValue, offset: number) => unknown;
  /** Out-of-band buffers for protocol 5's NEXT_BUFFER, in order. @default [] */
  buffers?: Iterable<Uint8Array>;
  /** Most memo entries. @default 4194304 */
  maxMemo?: number;
  /** Most nested MARKs. @default 1000 */
  maxDepth?: number;
  /** Name for messages. @default "pickle" */
  name?: string;
}

/** What {@linkcode loadPickle} returns. */
export interface LoadedPickle {
  /** The value. */
  readonly value: PickleValue;
  /** Offset just past the pickle's STOP opcode. */
  readonly end: number;
  /** The pickle protocol (0 when the stream has no PROTO opcode). */
  readonly protocol: number;
  /** Every global the pickle names, `module.name`, in order of first appearance. */
  readonly globals: readonly string[];
  /** The globals outside the allowlist (read as placeholders; empty unless permissive). */
  readonly placeholders: readonly string[];
}

/**
 * Unpickle one pickle. Globals outside the allowlist make it throw
 * `UnsafePickleError` naming all of them (the whole stream is read first,
 * so none is missed), unless `permissive`, when they become inert
 * `PickleObject` placeholders. Nothing is imported, called or evaluated.
 *
 * @example
 * ```ts
 * import { loadPickle } from "./load_pickle.ts";
 * // pickle.dumps({"a": 1}, protocol=2)
 * const bytes = new Uint8Array([0x80, 2, 0x7d, 0x71, 0, 0x58, 1, 0, 0, 0, 0x61, 0x71, 1, 0x4b, 1, 0x73, 0x2e]);
 * const { value } = loadPickle(bytes);
 * console.log(value); // Map(1) { "a" => 1 }
 * ```
 */
export function loadPickle(bytes: Uint8Array, options: LoadPickleOptions = {}): LoadedPickle {
  const extra = new Set(options.allowGlobals ?? []);
  const seen = new Set<string>();
  const unsafe = new Set<string>();
  let result;
  try {
    result = runMachine(
      bytes,
      options.offset ?? 0,
      {
        global(module: string, name: string): boolean {
          const full = globalName(module, name);
          seen.add(full);
          const allowed = DEFAULT_ALLOWED_GLOBALS.has(full) || extra.has(full);
          if (!allowed) unsafe.add(full);
          return allowed;
        },
        persistentLoad: options.persistentLoad,
        buffers: options.buffers?.[Symbol.iterator](),
      },
      { maxMemo: options.maxMemo ?? MAX_MEMO_ENTRIES, maxDepth: options.maxDepth ?? MAX_PICKLE_DEPTH },
      options.name ?? "pickle",
    );
  } catch (error) {
    // A stream that names unsafe globals and then breaks is reported as unsafe first.
    if (unsafe.size > 0 && !options.permissive) throw new UnsafePickleError([...unsafe]);
    throw error;
  }
  if (unsafe.size > 0 && !options.permissive) throw new UnsafePickleError([...unsafe]);
  return {
    value: result.value,
    end: result.end,
    protocol: result.protocol,
    globals: [...seen],
    placeholders: [...unsafe],
  };
}
