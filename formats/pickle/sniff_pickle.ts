/**
 * Tell a pickle from other bytes by walking its first opcodes: every
 * protocol (0-5) is recognised, whatever opcode it opens with (`\x80` PROTO,
 * `c` GLOBAL, `(` MARK, `V` UNICODE, `S'…'` STRING, `}` EMPTY_DICT, …).
 *
 * @module
 */

import { HIGHEST_PROTOCOL, OP, opcodeEffect } from "./opcodes.ts";

/** Most opcodes walked before a prefix is judged a pickle. */
const SNIFF_OPCODES = 64;

const NEWLINE = 0x0a;
/** What int(), float() and Python 2's long literals accept: digits, signs, `_`, `0x…`, `.`, `e`, `nan`, `inf`, `L`. */
const NUMBERISH = /^[\s\w.+-]*$/;

/**
 * True when `head` (the first bytes of something `size` bytes long) is the
 * start of a pickle: up to 64 opcodes are walked with their arguments and
 * stack effects, and each must be a real opcode with a well-formed argument
 * that never takes more from the stack than is there. Bytes that run out
 * mid-argument count as a (truncated) pickle once at least one opcode was
 * whole, and so does a stream that breaks after naming a global.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sniffPickle } from "./sniff_pickle.ts";
 * const text = (s: string) => new TextEncoder().encode(s);
 * assert.equal(sniffPickle(text("cos\nsystem\n(S'id'\ntR.")), true); // protocol 0, GLOBAL first
 * assert.equal(sniffPickle(text("Vhello\np0\n.")), true); // protocol 0, UNICODE first
 * assert.equal(sniffPickle(new Uint8Array([0x80, 4, 0x95, 1, 0, 0, 0, 0, 0, 0, 0, 0x4e, 0x2e])), true);
 * assert.equal(sniffPickle(text("hello world")), false);
 * ```
 */
export function sniffPickle(head: Uint8Array, size: number = head.length): boolean {
  const named = { global: false };
  // A stream that names a global and then breaks is still a pickle: a
  // loader would have imported the global before reaching the damage.
  return walk(head, size, named) || named.global;
}

function walk(head: Uint8Array, size: number, named: { global: boolean }): boolean {
  const n = head.length;
  let pos = 0;
  let depth = 0; // items above the top MARK
  const marks: number[] = [];
  for (let count = 0; count < SNIFF_OPCODES; count++) {
    if (pos >= n) return count > 0;
    const code = head[pos];
    const effect = opcodeEffect(code);
    if (!effect) return false;
    let at = pos + 1;
    const arg = effect.argument;
    if (arg.kind === "fixed") {
      if (code === OP.PROTO && at < n && head[at] > HIGHEST_PROTOCOL) return false;
      at += arg.bytes;
      if (at > size) return count > 0; // cut short: a truncated pickle is still a pickle
    } else if (arg.kind === "sized") {
      if (at + arg.lengthBytes > n) return at + arg.lengthBytes <= size && count > 0;
      const view = new DataView(head.buffer, head.byteOffset + at, arg.lengthBytes);
      const length = arg.lengthBytes === 1
        ? view.getUint8(0)
        : arg.lengthBytes === 4
        ? (arg.signed ? view.getInt32(0, true) : view.getUint32(0, true))
        : Number(view.getBigUint64(0, true));
      if (length < 0) return false;
      if (at + arg.lengthBytes + length > size) return count > 0;
      at += arg.lengthBytes + length;
    } else if (arg.kind === "lines") {
      for (let l = 0; l < arg.count; l++) {
        const end = head.indexOf(NEWLINE, at);
        if (end < 0) return n < size && lineOk(code, head.subarray(at, n), true);
        if (!lineOk(code, head.subarray(at, end), false)) return false;
        at = end + 1;
      }
    }
    // Stack effects as the unpickler applies them: nothing may be taken that is not there.
    if (effect.mark === "pop") {
      if (marks.length === 0) return false;
      const below = marks.pop()!;
      if ((code === OP.APPENDS || code === OP.SETITEMS || code === OP.ADDITEMS) && below < 1) return false;
      depth = below;
    } else if (code === OP.POP && depth === 0) {
      // POP on an empty frame pops the MARK (pickle.py load_pop).
      if (marks.length === 0) return false;
      depth = marks.pop()!;
      pos = at;
      continue;
    }
    if (effect.pops > depth) return false;
    depth += effect.pushes - effect.pops;
    if (effect.mark === "push") {
      marks.push(depth);
      depth = 0;
    }
    if (code === OP.GLOBAL || code === OP.INST || code === OP.STACK_GLOBAL) named.global = true;
    if (code === OP.STOP) return true;
    // An argument that runs past the sniffed bytes (but not past the end) leaves a valid prefix.
    if (at > n) return true;
    pos = at;
  }
  return true;
}

// Lenient on purpose: a line Python accepts must never be refused here (a
// refused pickle would be taken for data), so only clear garbage fails.
function lineOk(code: number, bytes: Uint8Array, partial: boolean): boolean {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  switch (code) {
    case OP.GLOBAL:
    case OP.INST:
      return (partial || text.length > 0) && !hasControl(bytes);
    case OP.INT:
    case OP.LONG:
    case OP.FLOAT:
    case OP.GET:
    case OP.PUT:
      return NUMBERISH.test(text);
    case OP.STRING:
      return /^\s*['"]/.test(text);
    case OP.PERSID:
      return !/[\x80-\xff]/.test(text);
    default: // UNICODE: raw-unicode-escape takes any byte
      return true;
  }
}

// C0 controls other than tab and CR, or DEL.
function hasControl(bytes: Uint8Array): boolean {
  return bytes.some((b) => (b < 0x20 && b !== 0x09 && b !== 0x0d) || b === 0x7f);
}
