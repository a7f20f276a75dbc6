/**
 * Pickle opcodes by name (cpython Lib/pickletools.py), shared by the
 * virtual machine, the writer and every sniffer, so no opcode is a bare
 * number anywhere else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OP, opcodeName } from "./opcodes.ts";
 * assert.equal(OP.GLOBAL, 0x63); // "c"
 * assert.equal(opcodeName(0x93), "STACK_GLOBAL");
 * ```
 *
 * @module
 */

/** Every opcode of protocols 0-5. */
export const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  FLOAT: 0x46, // F
  INT: 0x49, // I
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  LONG: 0x4c, // L
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  PERSID: 0x50, // P
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  STRING: 0x53, // S
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  UNICODE: 0x56, // V
  BINUNICODE: 0x58, // X
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  EMPTY_DICT: 0x7d, // }
  APPENDS: 0x65, // e
  GET: 0x67, // g
  BINGET: 0x68, // h
  INST: 0x69, // i
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  EMPTY_LIST: 0x5d, // ]
  OBJ: 0x6f, // o
  PUT: 0x70, // p
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  EMPTY_TUPLE: 0x29, // )
  SETITEMS: 0x75, // u
  BINFLOAT: 0x47, // G
  // Protocol 2
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // Protocol 3
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  // Protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  // Protocol 5
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

/** The newest pickle protocol (PROTO's largest argument). */
export const HIGHEST_PROTOCOL = 5;

/** What follows an opcode in the stream. */
export type OpcodeArgument =
  | { readonly kind: "none" }
  | { readonly kind: "fixed"; readonly bytes: number }
  | { readonly kind: "lines"; readonly count: number }
  | { readonly kind: "sized"; readonly lengthBytes: 1 | 4 | 8; readonly signed: boolean };

/** How an opcode moves the stack: items taken (above the last MARK), items pushed, MARK use. */
export interface OpcodeEffect {
  /** Name as pickletools spells it. */
  readonly name: string;
  /** Bytes that follow the opcode. */
  readonly argument: OpcodeArgument;
  /** Items popped (above the top MARK). */
  readonly pops: number;
  /** Items pushed. */
  readonly pushes: number;
  /** Pushes a MARK (`push`) or pops everything back to the top MARK (`pop`). */
  readonly mark?: "push" | "pop";
}

const none = { kind: "none" } as const;
const fixed = (bytes: number): OpcodeArgument => ({ kind: "fixed", bytes });
const lines = (count: number): OpcodeArgument => ({ kind: "lines", count });
const sized = (lengthBytes: 1 | 4 | 8, signed = false): OpcodeArgument => ({
  kind: "sized",
  lengthBytes,
  signed,
});

// [argument, pops, pushes, mark]
const EFFECTS: Record<keyof typeof OP, [OpcodeArgument, number, number, ("push" | "pop")?]> = {
  MARK: [none, 0, 0, "push"],
  STOP: [none, 1, 0],
  POP: [none, 1, 0],
  POP_MARK: [none, 0, 0, "pop"],
  DUP: [none, 1, 2],
  FLOAT: [lines(1), 0, 1],
  INT: [lines(1), 0, 1],
  BININT: [fixed(4), 0, 1],
  BININT1: [fixed(1), 0, 1],
  LONG: [lines(1), 0, 1],
  BININT2: [fixed(2), 0, 1],
  NONE: [none, 0, 1],
  PERSID: [lines(1), 0, 1],
  BINPERSID: [none, 1, 1],
  REDUCE: [none, 2, 1],
  STRING: [lines(1), 0, 1],
  BINSTRING: [sized(4, true), 0, 1],
  SHORT_BINSTRING: [sized(1), 0, 1],
  UNICODE: [lines(1), 0, 1],
  BINUNICODE: [sized(4), 0, 1],
  APPEND: [none, 2, 1],
  BUILD: [none, 2, 1],
  GLOBAL: [lines(2), 0, 1],
  DICT: [none, 0, 1, "pop"],
  EMPTY_DICT: [none, 0, 1],
  APPENDS: [none, 0, 0, "pop"],
  GET: [lines(1), 0, 1],
  BINGET: [fixed(1), 0, 1],
  INST: [lines(2), 0, 1, "pop"],
  LONG_BINGET: [fixed(4), 0, 1],
  LIST: [none, 0, 1, "pop"],
  EMPTY_LIST: [none, 0, 1],
  OBJ: [none, 0, 1, "pop"],
  PUT: [lines(1), 1, 1],
  BINPUT: [fixed(1), 1, 1],
  LONG_BINPUT: [fixed(4), 1, 1],
  SETITEM: [none, 3, 1],
  TUPLE: [none, 0, 1, "pop"],
  EMPTY_TUPLE: [none, 0, 1],
  SETITEMS: [none, 0, 0, "pop"],
  BINFLOAT: [fixed(8), 0, 1],
  PROTO: [fixed(1), 0, 0],
  NEWOBJ: [none, 2, 1],
  EXT1: [fixed(1), 0, 1],
  EXT2: [fixed(2), 0, 1],
  EXT4: [fixed(4), 0, 1],
  TUPLE1: [none, 1, 1],
  TUPLE2: [none, 2, 1],
  TUPLE3: [none, 3, 1],
  NEWTRUE: [none, 0, 1],
  NEWFALSE: [none, 0, 1],
  LONG1: [sized(1), 0, 1],
  LONG4: [sized(4, true), 0, 1],
  BINBYTES: [sized(4), 0, 1],
  SHORT_BINBYTES: [sized(1), 0, 1],
  SHORT_BINUNICODE: [sized(1), 0, 1],
  BINUNICODE8: [sized(8), 0, 1],
  BINBYTES8: [sized(8), 0, 1],
  EMPTY_SET: [none, 0, 1],
  ADDITEMS: [none, 0, 0, "pop"],
  FROZENSET: [none, 0, 1, "pop"],
  NEWOBJ_EX: [none, 3, 1],
  STACK_GLOBAL: [none, 2, 1],
  MEMOIZE: [none, 1, 1],
  FRAME: [fixed(8), 0, 0],
  BYTEARRAY8: [sized(8), 0, 1],
  NEXT_BUFFER: [none, 0, 1],
  READONLY_BUFFER: [none, 1, 1],
};

const TABLE: (OpcodeEffect | undefined)[] = new Array(256);
for (const [name, [argument, pops, pushes, mark]] of Object.entries(EFFECTS)) {
  TABLE[OP[name as keyof typeof OP]] = { name, argument, pops, pushes, mark };
}

/**
 * The argument layout and stack effect of an opcode, or undefined for a byte that is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OP, opcodeEffect } from "./opcodes.ts";
 * assert.deepEqual(opcodeEffect(OP.GLOBAL)?.argument, { kind: "lines", count: 2 });
 * assert.equal(opcodeEffect(0xff), undefined);
 * ```
 */
export function opcodeEffect(code: number): OpcodeEffect | undefined {
  return TABLE[code];
}

/**
 * The pickletools name of an opcode (`0x..` for a byte that is not one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opcodeName } from "./opcodes.ts";
 * assert.equal(opcodeName(0x2e), "STOP");
 * assert.equal(opcodeName(0xff), "0xff");
 * ```
 */
export function opcodeName(code: number): string {
  return TABLE[code]?.name ?? `0x${code.toString(16).padStart(2, "0")}`;
}
