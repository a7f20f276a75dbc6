/**
 * Random-access byte sources: a file, bytes in memory, or an HTTP(S) URL read
 * with Range requests. Decoders read headers through these and read tensor
 * bytes only when asked.
 *
 * @module
 */

import { FormatError, TruncatedError, UsageError } from "./errors.ts";

/** Random-access, read-only bytes of known size. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A name for messages (a path or a URL). */
  readonly name: string;
  /**
   * Read exactly `length` bytes at `offset`. Throws `TruncatedError` when the
   * range goes past the end. When `out` is given, the bytes are written into
   * it and a view of it is returned.
   */
  read(offset: number, length: number, out?: Uint8Array): Promise<Uint8Array>;
  /** Release handles. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Throw `TruncatedError` unless `[offset, offset + length)` lies within a
 * source of `size` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRange } from "./byte_source.ts";
 * import { TruncatedError } from "./errors.ts";
 * checkRange("model.bin", 100, 0, 10); // fine
 * assert.throws(() => checkRange("model.bin", 100, 96, 8), TruncatedError);
 * assert.throws(() => checkRange("model.bin", 100, 96, 8), {
 *   message: "Cannot read 8 bytes at offset 96 of model.bin: it has 100 bytes",
 *   offset: 96,
 * });
 * ```
 */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
    offset + length > size
  ) {
    throw new TruncatedError(
      `Cannot read ${length} bytes at offset ${offset} of ${name}: it has ${size} bytes`,
      { offset },
    );
  }
}

/**
 * A source over bytes already in memory. Reads return views (no copies)
 * unless `out` is given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesSource } from "./byte_source.ts";
 * const src = bytesSource(new Uint8Array([1, 2, 3, 4]));
 * assert.deepEqual(await src.read(1, 2), new Uint8Array([2, 3]));
 * ```
 */
export function bytesSource(bytes: Uint8Array, name = "<memory>"): ByteSource {
  return {
    size: bytes.byteLength,
    name,
    read(offset: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
      try {
        checkRange(name, bytes.byteLength, offset, length);
      } catch (error) {
        return Promise.reject(error);
      }
      const view = bytes.subarray(offset, offset + length);
      if (!out) return Promise.resolve(view);
      const target = out.subarray(0, length);
      target.set(view);
      return Promise.resolve(target);
    },
    close(): Promise<void> {
      return Promise.resolve();
    },
  };
}

/**
 * Open a file as a random-access source (needs `--allow-read`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileSource } from "./byte_source.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3, 4]));
 * const src = await fileSource(path);
 * assert.equal(src.size, 4);
 * assert.deepEqual(await src.read(1, 2), new Uint8Array([2, 3]));
 * await src.close();
 * await Deno.remove(path);
 * ```
 */
export async function fileSource(path: string | URL): Promise<ByteSource> {
  const file = await Deno.open(path, { read: true });
  const { size, isFile } = await file.stat();
  const name = String(path);
  if (!isFile) {
    file.close();
    throw new UsageError(`Cannot read ${name}: it is not a regular file`);
  }
  let closed = false;
  // Reads go through pread-style positioned calls; one file handle serves all.
  let queue: Promise<unknown> = Promise.resolve();
  async function readAt(offset: number, target: Uint8Array): Promise<void> {
    await file.seek(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < target.length) {
      const n = await file.read(target.subarray(done));
      if (n === null) {
        throw new TruncatedError(`Unexpected end of ${name} at offset ${offset + done}`, {
          offset: offset + done,
        });
      }
      done += n;
    }
  }
  return {
    size,
    name,
    read(offset: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
      try {
        checkRange(name, size, offset, length);
      } catch (error) {
        return Promise.reject(error);
      }
      if (closed) return Promise.reject(new UsageError(`Cannot read ${name}: it is closed`));
      const target = out ? out.subarray(0, length) : new Uint8Array(length);
      if (out && out.length < length) {
        return Promise.reject(
          new RangeError(`Output buffer of ${out.length} bytes is smaller than ${length}`),
        );
      }
      // seek+read is not atomic: serialize reads on this handle.
      const run = queue.then(() => readAt(offset, target)).then(() => target);
      queue = run.catch(() => {});
      return run;
    },
    close(): Promise<void> {
      if (!closed) {
        closed = true;
        return queue.then(() => file.close());
      }
      return Promise.resolve();
    },
  };
}

/** Bytes fetched from the start of a URL with the size probe and kept (64 KiB). */
const URL_HEAD_BYTES = 65536;

/** Options for {@linkcode urlSource}. */
export interface UrlSourceOptions {
  /** Extra request headers (e.g. `Authorization`). @default {} */
  headers?: Record<string, string>;
  /** The fetch function to use (for tests or proxies). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * A source over an HTTP(S) URL, reading with `Range` requests so listing a
 * remote file's tensors downloads only its header (needs `--allow-net`).
 * The size comes from the `Content-Range` of a first request for the first
 * 64 KiB, which are kept, so sniffing and small headers need no more requests.
 *
 * @example
 * ```ts ignore
 * import { urlSource } from "./byte_source.ts";
 * const src = await urlSource("https://example.com/model.safetensors");
 * const headerLength = new DataView((await src.read(0, 8)).buffer).getBigUint64(0, true);
 * ```
 *
 * @example Without the network: a `fetch` that answers Range requests from memory
 * ```ts
 * import assert from "node:assert/strict";
 * import { urlSource } from "./byte_source.ts";
 * const file = new Uint8Array(100_000).map((_, i) => i % 251);
 * const fetchRange = (_url: string | URL | Request, init?: RequestInit) => {
 *   const range = new Headers(init?.headers).get("range")!;
 *   const [from, to] = /bytes=(\d+)-(\d+)/.exec(range)!.slice(1).map(Number);
 *   const end = Math.min(to, file.length - 1);
 *   return Promise.resolve(new Response(file.slice(from, end + 1), {
 *     status: 206,
 *     headers: { "content-range": `bytes ${from}-${end}/${file.length}` },
 *   }));
 * };
 * const src = await urlSource("https://example.com/model.bin", { fetch: fetchRange });
 * assert.equal(src.size, 100_000);
 * assert.deepEqual(await src.read(99_998, 2), file.slice(99_998)); // past the kept 64 KiB: one more request
 * await src.close();
 * ```
 */
export async function urlSource(url: string | URL, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const headers = options.headers ?? {};
  const name = String(url);
  // The size probe also fetches the first bytes and keeps them: sniffing a
  // format and reading a small header then cost no further round trips.
  const probe = await doFetch(url, { headers: { ...headers, Range: `bytes=0-${URL_HEAD_BYTES - 1}` } });
  let size: number;
  let head = new Uint8Array(0);
  const contentRange = probe.headers.get("content-range");
  if (probe.status === 206 && contentRange && /\/(\d+)$/.test(contentRange)) {
    size = Number(/\/(\d+)$/.exec(contentRange)![1]);
    const body = new Uint8Array(await probe.arrayBuffer());
    if (body.length === Math.min(size, URL_HEAD_BYTES)) head = body;
  } else if (probe.ok) {
    await probe.body?.cancel();
    throw new UsageError(`Cannot read ${name} lazily: the server ignores Range requests`);
  } else {
    await probe.body?.cancel();
    throw new UsageError(`Cannot read ${name}: HTTP ${probe.status}`);
  }
  return {
    size,
    name,
    async read(offset: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
      checkRange(name, size, offset, length);
      const target = out ? out.subarray(0, length) : new Uint8Array(length);
      if (length === 0) return target;
      if (offset + length <= head.length) {
        target.set(head.subarray(offset, offset + length));
        return target;
      }
      const response = await doFetch(url, {
        headers: { ...headers, Range: `bytes=${offset}-${offset + length - 1}` },
      });
      if (response.status !== 206) {
        await response.body?.cancel();
        throw new FormatError(
          `Cannot read ${name} at ${offset}: HTTP ${response.status} to a Range request`,
          { offset },
        );
      }
      const body = new Uint8Array(await response.arrayBuffer());
      if (body.length !== length) {
        throw new TruncatedError(
          `Short read from ${name}: asked ${length} bytes at ${offset}, got ${body.length}`,
          {
            offset,
          },
        );
      }
      target.set(body);
      return target;
    },
    close(): Promise<void> {
      return Promise.resolve();
    },
  };
}
