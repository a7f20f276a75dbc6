/**
 * Shared CLI helpers: argument parsing that turns mistakes into usage
 * errors, aligned tables, JSON output.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../lib/errors.ts";

/** Option specs as `node:util` `parseArgs` takes them. */
export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** Parsed arguments: option values by name, and the positionals. */
export interface ParsedArgs {
  /** Option values (string, boolean, or arrays for `multiple` options). */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Arguments that are not options, in order. */
  positionals: string[];
}

/**
 * Parse a command's arguments strictly: an unknown option or a missing
 * value becomes a `UsageError` with one short line (exit code 2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommandArgs } from "./_output.ts";
 * const { values, positionals } = parseCommandArgs(["a.safetensors", "--json"], { json: { type: "boolean" } });
 * assert.equal(values.json, true);
 * assert.deepEqual(positionals, ["a.safetensors"]);
 * assert.throws(() => parseCommandArgs(["--jsn"], { json: { type: "boolean" } }), {
 *   name: "UsageError",
 *   message: "Unknown option '--jsn' (see --help)",
 * });
 * ```
 */
export function parseCommandArgs(args: string[], options: OptionSpecs): ParsedArgs {
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: parsed.values as ParsedArgs["values"], positionals: parsed.positionals };
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new UsageError(`Unknown option '${unknown[1]}' (see --help)`);
    const missing = /Option '([^']+)' argument missing/.exec(message);
    if (missing) {
      throw new UsageError(
        `Option '${missing[1].replace(/^-\w, /, "").replace(/ <value>$/, "")}' needs a value`,
      );
    }
    throw new UsageError(message.split("\n")[0]);
  }
}

/**
 * Throw a `UsageError` unless exactly `count` positional arguments were given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectPositionals } from "./_output.ts";
 * const [input] = expectPositionals(["model.safetensors"], ["FILE"]);
 * assert.equal(input, "model.safetensors");
 * assert.throws(() => expectPositionals([], ["FILE"]), {
 *   name: "UsageError",
 *   message: "Missing FILE (see --help)",
 * });
 * ```
 */
export function expectPositionals(positionals: string[], names: readonly string[]): string[] {
  if (positionals.length !== names.length) {
    throw new UsageError(
      positionals.length < names.length
        ? `Missing ${names.slice(positionals.length).join(" and ")} (see --help)`
        : `Unexpected argument '${positionals[names.length]}' (see --help)`,
    );
  }
  return positionals;
}

/** How a table column is aligned. */
export type ColumnAlign = "left" | "right";

/** Options for {@linkcode formatTable}. */
export interface TableOptions {
  /** Column titles, printed first. @default none */
  header?: readonly string[];
  /** Alignment per column. @default "left" for every column */
  align?: readonly ColumnAlign[];
  /** Spaces between columns. @default 2 */
  gap?: number;
  /** Prefix for every line. @default "" */
  indent?: string;
}

/**
 * Lay out rows as an aligned text table (numbers read best right-aligned).
 * Trailing spaces are trimmed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTable } from "./_output.ts";
 * const rows = [["w", "12"], ["bias", "3"]];
 * const table = formatTable(rows, { header: ["name", "n"], align: ["left", "right"] });
 * assert.equal(table, ["name   n", "w     12", "bias   3"].join("\n"));
 * ```
 */
export function formatTable(rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const all = options.header ? [options.header, ...rows] : rows;
  const columns = Math.max(0, ...all.map((row) => row.length));
  const widths = Array.from(
    { length: columns },
    (_, c) => Math.max(0, ...all.map((row) => width(row[c] ?? ""))),
  );
  const gap = " ".repeat(options.gap ?? 2);
  const indent = options.indent ?? "";
  return all.map((row) =>
    indent + widths.map((w, c) => {
      const cell = row[c] ?? "";
      const pad = " ".repeat(w - width(cell));
      return options.align?.[c] === "right" ? pad + cell : cell + pad;
    }).join(gap).trimEnd()
  ).join("\n");
}

/** Display width: code points (good enough for names and numbers). */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Print rows as an aligned table on stdout.
 *
 * @example
 * ```ts
 * import { printTable } from "./_output.ts";
 * printTable([["a", "1"]], { align: ["left", "right"] });
 * ```
 */
export function printTable(rows: readonly (readonly string[])[], options: TableOptions = {}): void {
  if (rows.length > 0 || options.header) console.log(formatTable(rows, options));
}

/**
 * Print one value as JSON on stdout (two-space indent).
 *
 * @example
 * ```ts
 * import { printJson } from "./_output.ts";
 * printJson({ ok: true });
 * ```
 */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
