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
export const EXIT = Object.freeze({ ok: 0, findings: 1, badInput: 2 });

/**
 * Run a command body and map errors to exit codes: ckpt's typed errors (bad
 * input or usage) print one line and give 2; anything else is a bug and
 * prints its stack and gives 1... unless it's a permission or not-found error,
 * which are the user's to fix and give 2.
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
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) {
    // Plain errors of these kinds come from argument checks and malformed input.
    console.error(`ckpt ${commandName}: ${error.message}`);
    return EXIT.badInput;
  }
  console.error(`ckpt ${commandName}: internal error (please report it):`);
  console.error(error);
  return EXIT.findings;
}
