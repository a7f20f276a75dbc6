/**
 * Typed errors raised by ckpt. Every failure caused by a file's bytes is one of
 * these classes, so callers (and the CLI, which maps them to exit code 2) can
 * tell bad input apart from bugs.
 *
 * @module
 */

/**
 * Malformed bytes: a header that does not parse, an offset that points outside
 * the file, a value the format forbids. `offset` is the byte position in the
 * input where the problem was found (or -1 when it is not tied to one place).
 *
 * @example Catching a malformed file
 * ```ts
 * import assert from "node:assert/strict";
 * import { FormatError } from "./errors.ts";
 * const decode = () => {
 *   throw new FormatError("Cannot decode safetensors header: invalid JSON", { offset: 8, format: "safetensors" });
 * };
 * assert.throws(decode, FormatError);
 * assert.throws(decode, { format: "safetensors", offset: 8 });
 * ```
 */
export class FormatError extends SyntaxError {
  /** Byte offset in the input where the problem was found, or -1. */
  readonly offset: number;
  /** Short name of the format being decoded (e.g. `safetensors`). */
  readonly format: string;
  /** Create a format error. */
  constructor(
    message: string,
    options: { offset?: number; format?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "FormatError";
    this.offset = options.offset ?? -1;
    this.format = options.format ?? "";
  }
}

/**
 * A size, count or depth in the input is beyond a configured bound (or beyond
 * the real size of the file), so it was refused before anything was allocated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LimitError } from "./errors.ts";
 * const err = new LimitError("Cannot decode header: declared length 9000000000 exceeds the file (4096 bytes)", { limit: 4096, actual: 9000000000 });
 * assert.ok(err instanceof RangeError);
 * assert.deepEqual([err.name, err.limit, err.actual], ["LimitError", 4096, 9000000000]);
 * ```
 */
export class LimitError extends RangeError {
  /** The bound that was exceeded. */
  readonly limit: number;
  /** The value found in the input. */
  readonly actual: number;
  /** Create a limit error. */
  constructor(
    message: string,
    options: { limit?: number; actual?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "LimitError";
    this.limit = options.limit ?? NaN;
    this.actual = options.actual ?? NaN;
  }
}

/**
 * The input ends before a structure it declares. A kind of `RangeError`, as in
 * Deno's standard library.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TruncatedError } from "./errors.ts";
 * const err = new TruncatedError("Cannot read 8 bytes at offset 100: the input ends at 104", { offset: 100 });
 * assert.ok(err instanceof RangeError);
 * assert.equal(err.offset, 100);
 * ```
 */
export class TruncatedError extends RangeError {
  /** Byte offset where the missing data should have started. */
  readonly offset: number;
  /** Create a truncation error. */
  constructor(message: string, options: { offset?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "TruncatedError";
    this.offset = options.offset ?? -1;
  }
}

/**
 * A pickle refers to Python globals outside the allowlist. Nothing was
 * imported or called: the error only lists what the pickle asked for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnsafePickleError } from "./errors.ts";
 * const err = new UnsafePickleError(["os.system"]);
 * assert.deepEqual(err.globals, ["os.system"]);
 * assert.match(err.message, /^Refusing to load a pickle that imports os\.system:/);
 * ```
 */
export class UnsafePickleError extends Error {
  /** Every offending `module.name`, in order of first appearance. */
  readonly globals: readonly string[];
  /** Create an unsafe-pickle error naming the offending globals. */
  constructor(globals: readonly string[], message?: string) {
    super(
      message ??
        `Refusing to load a pickle that imports ${
          globals.join(", ")
        }: these globals are outside the allowlist (pass permissive to read them as inert placeholders)`,
    );
    this.name = "UnsafePickleError";
    this.globals = [...globals];
  }
}

/**
 * Wrong usage: an unknown option value, a missing argument, an unsupported
 * combination. The CLI prints its message and exits with code 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./errors.ts";
 * const err = new UsageError("Unknown scheme 'Q3'; known schemes: F16, BF16");
 * assert.ok(err instanceof TypeError);
 * assert.equal(err.name, "UsageError");
 * ```
 */
export class UsageError extends TypeError {
  /** Create a usage error. */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "UsageError";
  }
}

/**
 * True for the errors that mean "the input or the request was bad" rather
 * than "ckpt has a bug": the CLI exits with code 2 for these.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FormatError, isInputError } from "./errors.ts";
 * assert.equal(isInputError(new FormatError("bad")), true);
 * assert.equal(isInputError(new Error("bug")), false);
 * ```
 */
export function isInputError(error: unknown): boolean {
  return error instanceof FormatError || error instanceof LimitError ||
    error instanceof TruncatedError || error instanceof UnsafePickleError ||
    error instanceof UsageError;
}

/** An error as plain data, to cross a Worker boundary ({@linkcode errorToData}, {@linkcode errorFromData}). */
export interface ErrorData {
  /** The class name (`FormatError`, `TypeError`, …). */
  readonly name: string;
  /** The message. */
  readonly message: string;
  /** The stack, when there was one. */
  readonly stack?: string;
  /** Each class's own fields (`offset`, `format`, `limit`, `actual`, `globals`). */
  readonly fields: Readonly<Record<string, number | string | readonly string[]>>;
}

/**
 * An error as plain data that `postMessage` carries whole: its class name,
 * message, stack and every field of ckpt's typed errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorFromData, errorToData, FormatError } from "./errors.ts";
 * const back = errorFromData(structuredClone(errorToData(new FormatError("bad magic", { offset: 4, format: "gguf" }))));
 * assert.ok(back instanceof FormatError);
 * assert.deepEqual([back.offset, back.format, back.message], [4, "gguf", "bad magic"]);
 * ```
 */
export function errorToData(error: unknown): ErrorData {
  const e = error instanceof Error ? error : new Error(String(error));
  const fields: Record<string, number | string | readonly string[]> = {};
  if (e instanceof FormatError) Object.assign(fields, { offset: e.offset, format: e.format });
  if (e instanceof LimitError) Object.assign(fields, { limit: e.limit, actual: e.actual });
  if (e instanceof TruncatedError) fields.offset = e.offset;
  if (e instanceof UnsafePickleError) fields.globals = [...e.globals];
  return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), fields };
}

/**
 * Rebuild an error from {@linkcode errorToData}: the same class with the same
 * fields, so the CLI maps it to the same exit code and message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorFromData, errorToData, UnsafePickleError } from "./errors.ts";
 * const back = errorFromData(errorToData(new UnsafePickleError(["os.system"])));
 * assert.ok(back instanceof UnsafePickleError);
 * assert.deepEqual(back.globals, ["os.system"]);
 * ```
 */
export function errorFromData(data: ErrorData): Error {
  const f = data.fields ?? {};
  const num = (key: string) => (typeof f[key] === "number" ? f[key] as number : undefined);
  let error: Error;
  switch (data.name) {
    case "FormatError":
      error = new FormatError(data.message, {
        offset: num("offset"),
        format: typeof f.format === "string" ? f.format : undefined,
      });
      break;
    case "LimitError":
      error = new LimitError(data.message, { limit: num("limit"), actual: num("actual") });
      break;
    case "TruncatedError":
      error = new TruncatedError(data.message, { offset: num("offset") });
      break;
    case "UnsafePickleError":
      error = new UnsafePickleError(Array.isArray(f.globals) ? f.globals : [], data.message);
      break;
    case "UsageError":
      error = new UsageError(data.message);
      break;
    case "TypeError":
      error = new TypeError(data.message);
      break;
    case "RangeError":
      error = new RangeError(data.message);
      break;
    case "SyntaxError":
      error = new SyntaxError(data.message);
      break;
    default: {
      // Deno's own errors (NotFound, PermissionDenied, …) keep their class too.
      const denoError =
        (Deno.errors as unknown as Record<string, (new (m: string) => Error) | undefined>)[data.name];
      error = denoError ? new denoError(data.message) : new Error(data.message);
      error.name = data.name;
    }
  }
  if (data.stack) error.stack = data.stack;
  return error;
}
