/**
 * The `ckpt` command line: inspect, convert, edit and check tensor files.
 *
 * ```sh
 * deno run --allow-read --allow-write jsr:@ckpt/ckpt/cli inspect model.safetensors
 * ```
 *
 * @module
 */

import { VERSION } from "../lib/version.ts";
import { type Command, EXIT, runCommand } from "./_command.ts";
import { abortAllSinks } from "../lib/byte_sink.ts";

export type { Command };
import { inspectCommand } from "./inspect.ts";
import { convertCommand } from "./convert.ts";
import { metaCommand } from "./meta.ts";
import { reportCommand } from "./report.ts";
import { estimateCommand } from "./estimate.ts";
import { compareCommand } from "./compare.ts";
import { scanCommand } from "./scan.ts";
import { quantizeCommand } from "./quantize.ts";

/** Every subcommand, in the order `ckpt --help` lists them. */
export const COMMANDS: readonly Command[] = [
  inspectCommand,
  convertCommand,
  metaCommand,
  reportCommand,
  estimateCommand,
  compareCommand,
  scanCommand,
  quantizeCommand,
];

const USAGE = `ckpt — inspect, convert, shrink and check tensor files

Usage: ckpt <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)}${c.summary}`).join("\n")}

Run 'ckpt <command> --help' for a command's options and permissions.
Exit codes: 0 success, 1 findings (scan, compare) or internal error, 2 bad input or usage.`;

/**
 * Run the CLI with `args` (without the program name) and return the exit code.
 *
 * @example
 * ```ts ignore
 * import { main } from "./ckpt.ts";
 * const code = await main(["inspect", "model.safetensors", "--json"]);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name === undefined ? EXIT.badInput : EXIT.ok;
  }
  if (name === "--version") {
    console.log(`ckpt ${VERSION}`);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`ckpt: unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(", ")}`);
    return EXIT.badInput;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.help);
    return EXIT.ok;
  }
  return await runCommand(command, rest);
}

/** Exit code after SIGINT (128 + 2), as shells report it. */
const EXIT_INTERRUPTED = 130;

/**
 * On SIGINT, remove every temporary output before exiting with 130, so an
 * interrupted command leaves its destination as it was (Deno's "unload"
 * event does not fire on a signal).
 */
function exitCleanlyOnInterrupt(): void {
  let interrupted = false;
  const onInterrupt = async () => {
    if (interrupted) return;
    interrupted = true;
    await abortAllSinks();
    console.error("ckpt: interrupted; no output was written");
    Deno.exit(EXIT_INTERRUPTED);
  };
  try {
    Deno.addSignalListener("SIGINT", onInterrupt);
  } catch {
    // Signals unavailable (a sandbox without them): "unload" still cleans up on normal exits.
  }
}

if (import.meta.main) {
  exitCleanlyOnInterrupt();
  Deno.exit(await main(Deno.args));
}
