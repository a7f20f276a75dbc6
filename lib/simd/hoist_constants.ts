/**
 * The one rewrite the kernel build makes to kernels.wat before assembling it:
 * every `(v128.const …)` in a function's body becomes a read of a local set
 * once at the function's entry.
 *
 * Why: V8's optimizing compiler materializes a vector constant at each use
 * (two 64-bit immediates moved into a register, several instructions), also
 * inside loops; a local set before the loop stays in a register across it.
 * On this project's kernels that made the casts 1.8–2.1× and the ggml
 * block kernels 1.1–1.2× faster, with the same bytes. The source keeps its
 * constants where they mean something.
 *
 * The rewrite relies on the layout kernels.wat keeps: each function starts at
 * a line `  (func …`, its parameters, results and locals come first, one or
 * more a line, and a vector constant's lanes hold no parentheses.
 *
 * @module
 */

const FUNC_START = /^ {2}\(func /;
/** Where a function ends: the next module field, or the module's closing line. */
const TOP_LEVEL = /^( {2}\(|\))/;
const DECLARATION = /^\((param|result|local) /;
const VECTOR_CONSTANT = /\(v128\.const [^()]*\)/g;
/** Local names the rewrite declares; the source must not use the prefix. */
const PREFIX = "$__v";

/**
 * kernels.wat with each function's vector constants read from locals set at
 * its entry (one local per distinct constant).
 *
 * @example
 * ```ts
 * import { hoistVectorConstants } from "./hoist_constants.ts";
 * import assert from "node:assert/strict";
 * const wat = [
 *   "(module",
 *   "  (func $twice (param $v v128) (result v128)",
 *   "    (f32x4.mul (local.get $v) (v128.const f32x4 2 2 2 2)))",
 *   ")",
 * ].join("\n");
 * assert.equal(hoistVectorConstants(wat), [
 *   "(module",
 *   "  (func $twice (param $v v128) (result v128)",
 *   "    (local $__v0 v128)",
 *   "    (local.set $__v0 (v128.const f32x4 2 2 2 2))",
 *   "    (f32x4.mul (local.get $v) (local.get $__v0)))",
 *   ")",
 * ].join("\n"));
 * ```
 */
export function hoistVectorConstants(source: string): string {
  if (source.includes(PREFIX)) throw new Error(`kernels.wat must not use local names starting ${PREFIX}`);
  const lines = source.split("\n");
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    if (!FUNC_START.test(lines[i])) {
      out.push(lines[i++]);
      continue;
    }
    let end = i + 1;
    while (end < lines.length && !TOP_LEVEL.test(lines[end])) end++;
    out.push(...hoistInFunction(lines.slice(i, end)));
    i = end;
  }
  return out.join("\n");
}

function hoistInFunction(fn: string[]): string[] {
  // The first line after the header that is neither a declaration, a comment nor blank.
  let body = 1;
  while (body < fn.length) {
    const t = fn[body].trim();
    if (t !== "" && !t.startsWith(";;") && !DECLARATION.test(t)) break;
    body++;
  }
  const constants: string[] = [];
  const rewritten = fn.slice(body).map((line) => {
    if (line.trim().startsWith(";;")) return line;
    return line.replace(VECTOR_CONSTANT, (c) => {
      const canonical = c.replace(/\s+/g, " ");
      let k = constants.indexOf(canonical);
      if (k < 0) k = constants.push(canonical) - 1;
      return `(local.get ${PREFIX}${k})`;
    });
  });
  if (constants.length === 0) return fn;
  const indent = " ".repeat(4);
  return [
    ...fn.slice(0, body),
    indent + constants.map((_, k) => `(local ${PREFIX}${k} v128)`).join(" "),
    ...constants.map((c, k) => `${indent}(local.set ${PREFIX}${k} ${c})`),
    ...rewritten,
  ];
}
