/**
 * Append-only byte sinks. Encoders write through these; a file sink writes to
 * a temporary name in the destination folder and renames it into place only
 * when the whole output was written, so a failed run leaves nothing behind.
 *
 * @module
 */

import { refuseInputs, stagingName } from "./paths.ts";

/** Where an encoder writes its bytes, in order. */
export interface ByteSink {
  /** Bytes written so far. */
  readonly position: number;
  /** Append bytes. The sink may keep no reference to `chunk` after this resolves. */
  write(chunk: Uint8Array): Promise<void>;
  /** Finish: flush, and (for files) make the output appear under its name. */
  close(): Promise<void>;
  /** Give up: discard what was written (for files, remove the temporary). */
  abort(): Promise<void>;
}

/** A sink that collects bytes in memory; `bytes()` returns them after `close()`. */
export interface MemorySink extends ByteSink {
  /** Everything written, as one array. */
  bytes(): Uint8Array;
}

/**
 * A sink that keeps everything in memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memorySink } from "./byte_sink.ts";
 * const sink = memorySink();
 * await sink.write(new Uint8Array([1, 2]));
 * await sink.close();
 * assert.deepEqual(sink.bytes(), new Uint8Array([1, 2]));
 * ```
 */
export function memorySink(): MemorySink {
  let buffer = new Uint8Array(1024);
  let length = 0;
  return {
    get position() {
      return length;
    },
    write(chunk: Uint8Array): Promise<void> {
      if (length + chunk.length > buffer.length) {
        let capacity = buffer.length * 2;
        while (capacity < length + chunk.length) capacity *= 2;
        const grown = new Uint8Array(capacity);
        grown.set(buffer.subarray(0, length));
        buffer = grown;
      }
      buffer.set(chunk, length);
      length += chunk.length;
      return Promise.resolve();
    },
    close(): Promise<void> {
      return Promise.resolve();
    },
    abort(): Promise<void> {
      length = 0;
      return Promise.resolve();
    },
    bytes(): Uint8Array {
      return buffer.slice(0, length);
    },
  };
}

/** Options for {@linkcode fileSink}. */
export interface FileSinkOptions {
  /** Call fsync before the rename, so the output survives a crash. @default true */
  sync?: boolean;
  /** Paths the output must not replace (its inputs). @default [] */
  protect?: readonly string[];
}

/**
 * A sink that writes a file atomically: bytes go to a hidden temporary file
 * beside `path`, which is fsynced and renamed to `path` on `close()`, and
 * removed on `abort()` (needs `--allow-write`). Refuses to replace any path in
 * `options.protect`, so a command never overwrites its own input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileSink } from "./byte_sink.ts";
 * const dir = await Deno.makeTempDir();
 * const sink = await fileSink(`${dir}/out.bin`);
 * await sink.write(new Uint8Array([1, 2, 3]));
 * await assert.rejects(Deno.stat(`${dir}/out.bin`), Deno.errors.NotFound);
 * await sink.close(); // out.bin appears only now
 * assert.deepEqual(await Deno.readFile(`${dir}/out.bin`), new Uint8Array([1, 2, 3]));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function fileSink(path: string, options: FileSinkOptions = {}): Promise<ByteSink> {
  await refuseInputs([path], options.protect ?? []);
  const temp = stagingName(path);
  const file = await Deno.open(temp, { write: true, createNew: true });
  let position = 0;
  let state: "open" | "closed" | "aborted" = "open";
  const removeTemp = () => {
    try {
      Deno.removeSync(temp);
    } catch {
      // Already gone.
    }
  };
  // An interrupted process must not leave the temporary behind.
  const onUnload = () => removeTemp();
  globalThis.addEventListener("unload", onUnload);
  const sink: ByteSink = {
    get position() {
      return position;
    },
    async write(chunk: Uint8Array): Promise<void> {
      if (state !== "open") throw new TypeError(`Cannot write ${path}: the sink is ${state}`);
      let done = 0;
      while (done < chunk.length) done += await file.write(chunk.subarray(done));
      position += chunk.length;
    },
    async close(): Promise<void> {
      if (state !== "open") return;
      state = "closed";
      try {
        if (options.sync ?? true) await file.sync();
        file.close();
        await Deno.rename(temp, path);
      } catch (error) {
        removeTemp();
        throw error;
      } finally {
        globalThis.removeEventListener("unload", onUnload);
        openFileSinks.delete(sink);
      }
    },
    abort(): Promise<void> {
      if (state === "open") {
        state = "aborted";
        try {
          file.close();
        } catch {
          // Already closed.
        }
        removeTemp();
        globalThis.removeEventListener("unload", onUnload);
        openFileSinks.delete(sink);
      }
      return Promise.resolve();
    },
  };
  openFileSinks.add(sink);
  return sink;
}

// File sinks not yet closed or aborted, and cleanups registered by writers
// that stage several files, so an interrupt (SIGINT: Deno's "unload" event
// does not fire for it) can remove every temporary before the process exits.
const openFileSinks = new Set<ByteSink>();
const interruptCleanups = new Set<() => void | Promise<void>>();

/**
 * Register a cleanup to run when the process is interrupted mid-write (for
 * writers that stage finished files before renaming them all). Returns a
 * function that unregisters it; call that once the output is in place.
 *
 * @example
 * ```ts
 * import { onInterrupt } from "./byte_sink.ts";
 * const staged: string[] = [];
 * const done = onInterrupt(() => staged.forEach((p) => Deno.removeSync(p)));
 * // … write and rename the staged files …
 * done();
 * ```
 */
export function onInterrupt(cleanup: () => void | Promise<void>): () => void {
  interruptCleanups.add(cleanup);
  return () => interruptCleanups.delete(cleanup);
}

/**
 * Abort every open file sink (removing its temporary) and run every
 * registered interrupt cleanup. The CLI calls this on SIGINT before exiting,
 * so an interrupted command leaves its destination as it was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { abortAllSinks, fileSink } from "./byte_sink.ts";
 * const dir = await Deno.makeTempDir();
 * const sink = await fileSink(`${dir}/out.bin`);
 * await sink.write(new Uint8Array([1, 2, 3]));
 * await abortAllSinks(); // as on Ctrl-C: the half-written file is removed
 * assert.deepEqual([...Deno.readDirSync(dir)], []);
 * await Deno.remove(dir);
 * ```
 */
export async function abortAllSinks(): Promise<void> {
  const sinks = [...openFileSinks];
  openFileSinks.clear();
  const cleanups = [...interruptCleanups];
  interruptCleanups.clear();
  await Promise.allSettled([...sinks.map((s) => s.abort()), ...cleanups.map(async (c) => await c())]);
}

/**
 * Run `body` with a sink and close it on success or abort it on any error,
 * so callers can't forget either.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memorySink, withSink } from "./byte_sink.ts";
 * const sink = memorySink();
 * await withSink(sink, (s) => s.write(new Uint8Array([7])));
 * assert.deepEqual(sink.bytes(), new Uint8Array([7]));
 * ```
 */
export async function withSink<T>(sink: ByteSink, body: (sink: ByteSink) => Promise<T>): Promise<T> {
  try {
    const result = await body(sink);
    await sink.close();
    return result;
  } catch (error) {
    await sink.abort();
    throw error;
  }
}
