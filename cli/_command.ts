/**
 * What every `ckpt` subcommand provides, and how errors become exit codes.
 *
 * @module
 */

import { isInputError } from "../lib/errors.ts";

/** One `ckpt` subcommand. */
export interface Command {
  /** The word after `ckpt`, e.g. `inspect`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Full help text: usage, options, an example, the Deno permissions it needs. */
  readonly help: string;
  /** Run with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** Exit codes, as documented in the README. */
export const EXIT = Object.freeze({
  ok: 0,
  /** `scan` found something dangerous; `compare` found a difference. */
  findings: 1,
  /** A bug in ckpt (an error that is none of its typed ones). */
  internal: 1,
  /** Bad input, a bad request, a missing file or permission. */
  badInput: 2,
});

/**
 * Run a command body and map errors to exit codes: ckpt's typed errors (bad
 * input or usage), missing files and missing permissions are the user's to
 * fix: one line, exit 2. Anything else, plain TypeErrors and RangeErrors
 * included, is a bug in ckpt: its stack, a request to report it, exit 1.
 */
export async function runCommand(command: Command, args: string[]): Promise<number> {
  try {
    return await command.run(args);
  } catch (error) {
    return reportError(command.name, error);
  }
}

/** Print an error the way the CLI does and return its exit code. */
export function reportError(commandName: string, error: unknown): number {
  if (isInputError(error)) {
    console.error(`ckpt ${commandName}: ${(error as Error).message}`);
    return EXIT.badInput;
  }
  if (error instanceof Deno.errors.NotFound) {
    console.error(
      `ckpt ${commandName}: ${
        error.message.replace(/^No such file or directory \(os error 2\): /, "No such file: ")
      }`,
    );
    return EXIT.badInput;
  }
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    console.error(`ckpt ${commandName}: ${error.message}`);
    return EXIT.badInput;
  }
  console.error(`ckpt ${commandName}: internal error; please report it with the lines below:`);
  console.error(error);
  return EXIT.internal;
}
