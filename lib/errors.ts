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
 * import { FormatError } from "./errors.ts";
 * try {
 *   throw new FormatError("Cannot decode safetensors header: invalid JSON", { offset: 8, format: "safetensors" });
 * } catch (e) {
 *   if (e instanceof FormatError) console.log(e.format, e.offset);
 * }
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
 * import { LimitError } from "./errors.ts";
 * const err = new LimitError("Cannot decode header: declared length 9000000000 exceeds the file (4096 bytes)", { limit: 4096, actual: 9000000000 });
 * console.log(err.limit < err.actual);
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
 * import { TruncatedError } from "./errors.ts";
 * const err = new TruncatedError("Cannot read 8 bytes at offset 100: the input ends at 104", { offset: 100 });
 * console.log(err.offset);
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
 * import { UnsafePickleError } from "./errors.ts";
 * const err = new UnsafePickleError(["os.system"]);
 * console.log(err.globals); // ["os.system"]
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
 * import { UsageError } from "./errors.ts";
 * const err = new UsageError("Unknown scheme 'Q3'; known schemes: F16, BF16");
 * console.log(err.message);
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
 * import { FormatError, isInputError } from "./errors.ts";
 * console.log(isInputError(new FormatError("bad")), isInputError(new Error("bug")));
 * ```
 */
export function isInputError(error: unknown): boolean {
  return error instanceof FormatError || error instanceof LimitError ||
    error instanceof TruncatedError || error instanceof UnsafePickleError ||
    error instanceof UsageError;
}
