// The pickle virtual machine: every opcode of protocols 0-5 (cpython
// Lib/pickle.py and pickletools.py), building inert values. Globals go
// through a hook and calls become records; nothing is imported or called.

import { FormatError, LimitError, TruncatedError } from "../../lib/errors.ts";
import { renameModule } from "./allowlist.ts";
import { HIGHEST_PROTOCOL, OP, opcodeName } from "./opcodes.ts";
import { PickleGlobal, PickleObject, PicklePersistent, PickleTuple, type PickleValue } from "./values.ts";

/** How the machine asks about globals, persistent ids and buffers. */
export interface MachineHooks {
  /** Called for every GLOBAL, STACK_GLOBAL and INST; returns whether the name is allowed. */
  global(module: string, name: string, offset: number): boolean;
  /** Turns a persistent id into a value (PyTorch storages). */
  persistentLoad?(pid: PickleValue, offset: number): unknown;
  /** Called with every bytes or string payload, to look for nested pickles. */
  payload?(bytes: Uint8Array, offset: number): void;
  /** Out-of-band buffers for NEXT_BUFFER. */
  buffers?: Iterator<Uint8Array>;
}

/** Bounds on untrusted input. */
export interface MachineLimits {
  /** Most memo entries. */
  maxMemo: number;
  /** Most nested MARKs open at once. */
  maxDepth: number;
}

/** What one run over one pickle produced. */
export interface MachineResult {
  /** The unpickled value. */
  value: PickleValue;
  /** Offset just past the STOP opcode. */
  end: number;
  /** Protocol from the PROTO opcode (0 when absent). */
  protocol: number;
}

// Not TextDecoder("latin1"): the WHATWG label means windows-1252, which remaps 0x80-0x9f.
const latin1 = {
  decode(bytes: Uint8Array): string {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return text;
  },
};
const utf8 = new TextDecoder("utf-8");
const NEWLINE = 0x0a;

function describe(value: PickleValue): string {
  if (value === null) return "None";
  if (value instanceof PickleGlobal || value instanceof PickleObject) return value.fullName;
  if (value instanceof PickleTuple) return "a tuple";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Map) return "a dict";
  if (value instanceof Uint8Array) return "bytes";
  return typeof value;
}

/**
 * Run the machine over `bytes` from `start` to the first STOP.
 * Throws FormatError, TruncatedError or LimitError on bad input.
 */
export function runMachine(
  bytes: Uint8Array,
  start: number,
  hooks: MachineHooks,
  limits: MachineLimits,
  source = "pickle",
): MachineResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let pos = start;
  let op = start;
  let protocol = 0;
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();

  const fail = (message: string): never => {
    throw new FormatError(`Cannot unpickle ${source}: ${message} (opcode at offset ${op})`, {
      offset: op,
      format: "pickle",
    });
  };
  const need = (count: number, what: string): void => {
    if (count > n - pos) {
      throw new TruncatedError(
        `Cannot unpickle ${source}: ${what} needs ${count} bytes at offset ${pos} but only ${n - pos} remain`,
        { offset: pos },
      );
    }
  };
  const take = (count: number, what: string): Uint8Array => {
    need(count, what);
    const out = bytes.subarray(pos, pos + count);
    pos += count;
    return out;
  };
  const line = (what: string): string => {
    const end = bytes.indexOf(NEWLINE, pos);
    if (end < 0) {
      throw new TruncatedError(`Cannot unpickle ${source}: ${what} has no end of line after offset ${pos}`, {
        offset: pos,
      });
    }
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  };
  const size = (length: number | bigint, what: string): number => {
    if (typeof length === "bigint") {
      if (length > BigInt(n - pos)) need(Number.MAX_SAFE_INTEGER, what);
      return Number(length);
    }
    if (length < 0) fail(`negative length ${length} for ${what}`);
    need(length, what);
    return length;
  };
  const push = (value: PickleValue): void => {
    stack.push(value);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      fail("stack underflow");
    }
    return stack.pop()!;
  };
  const top = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      fail("stack underflow");
    }
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    const mark = marks.pop();
    if (mark === undefined) fail("no MARK to pop to");
    return stack.splice(mark!);
  };
  const memoPut = (index: number, value: PickleValue): void => {
    if (!memo.has(index) && memo.size >= limits.maxMemo) {
      throw new LimitError(
        `Cannot unpickle ${source}: more than ${limits.maxMemo} memo entries (offset ${op})`,
        { limit: limits.maxMemo, actual: memo.size + 1 },
      );
    }
    memo.set(index, value);
  };
  const memoGet = (index: number): PickleValue => {
    if (!memo.has(index)) fail(`memo key ${index} is not set`);
    return memo.get(index)!;
  };
  const intFromText = (text: string, what: string): number | bigint => {
    const t = text.trim();
    if (!/^[+-]?\d+$/.test(t)) fail(`invalid ${what} '${t.slice(0, 40)}'`);
    const big = BigInt(t);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  };
  const memoIndex = (value: number | bigint): number => {
    if (typeof value === "bigint" || value < 0) fail(`invalid memo key ${value}`);
    return value as number;
  };
  const allowedGlobals = new WeakMap<PickleGlobal, boolean>();
  const makeGlobal = (module: string, name: string): PickleGlobal => {
    const ref = new PickleGlobal(renameModule(module), name);
    allowedGlobals.set(ref, hooks.global(module, name, op));
    return ref;
  };
  const payload = (data: Uint8Array, at: number): void => {
    hooks.payload?.(data, at);
  };
  const str = (data: Uint8Array, at: number): string => {
    payload(data, at);
    return utf8.decode(data);
  };
  const decodeLong = (data: Uint8Array): number | bigint => {
    if (data.length === 0) return 0;
    let value = 0n;
    for (let i = data.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i]);
    if (data[data.length - 1] & 0x80) value -= 1n << BigInt(data.length * 8);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  };
  const call = (callable: PickleValue, args: PickleValue, kwargs?: PickleValue): PickleValue => {
    const list = args instanceof PickleTuple ? args.items : Array.isArray(args) ? args : fail(
      `call arguments must be a tuple, not ${describe(args)}`,
    );
    if (!(callable instanceof PickleGlobal)) {
      const record = new PickleObject("<call>", describe(callable), [callable, ...list], true);
      return record;
    }
    const allowed = allowedGlobals.get(callable) ?? false;
    const built = allowed ? builtin(callable.fullName, list as PickleValue[]) : undefined;
    if (built !== undefined) return built;
    const record = new PickleObject(callable.module, callable.name, list, !allowed);
    if (kwargs instanceof Map) record.kwargs = kwargs;
    return record;
  };
  const builtin = (name: string, args: PickleValue[]): PickleValue | undefined => {
    switch (name) {
      case "collections.OrderedDict": {
        const map = new Map<PickleValue, PickleValue>();
        const items = args[0];
        const pairs = items instanceof PickleTuple ? items.items : Array.isArray(items) ? items : [];
        for (const pair of pairs) {
          const kv = pair instanceof PickleTuple ? pair.items : Array.isArray(pair) ? pair : [];
          if (kv.length === 2) map.set(kv[0], kv[1]);
        }
        return map;
      }
      case "builtins.set":
      case "builtins.frozenset": {
        const items = args[0];
        const list = items instanceof PickleTuple ? items.items : Array.isArray(items) ? items : [];
        return new Set(list);
      }
      case "builtins.bytes":
      case "builtins.bytearray": {
        if (args.length === 0) return new Uint8Array(0);
        if (args[0] instanceof Uint8Array) return args[0].slice();
        if (typeof args[0] === "string") return encodeText(args[0], args[1]);
        if (Array.isArray(args[0]) && args[0].every((x) => typeof x === "number" && x >= 0 && x < 256)) {
          return new Uint8Array(args[0] as number[]);
        }
        return undefined;
      }
      case "_codecs.encode":
        return typeof args[0] === "string" ? encodeText(args[0], args[1]) : undefined;
      case "torch.Size": {
        const dims = args[0];
        if (dims instanceof PickleTuple) return dims;
        if (Array.isArray(dims)) return new PickleTuple(dims);
        return undefined;
      }
      default:
        return undefined;
    }
  };
  const encodeText = (text: string, encoding: PickleValue): Uint8Array => {
    const enc = typeof encoding === "string" ? encoding.toLowerCase().replace(/[-_]/g, "") : "utf8";
    if (enc === "latin1" || enc === "iso88591" || enc === "l1") {
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code > 0xff) fail(`character U+${code.toString(16)} cannot be encoded as latin1`);
        out[i] = code;
      }
      return out;
    }
    if (enc === "utf8" || enc === "ascii") return new TextEncoder().encode(text);
    return fail(`unsupported text encoding '${String(encoding)}'`);
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (items.length % 2 !== 0) fail("odd number of items for SETITEMS");
    const map = target instanceof Map ? target : target instanceof PickleObject ? target.dictItems : fail(
      `cannot set items on ${describe(target)}`,
    );
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]): void => {
    if (Array.isArray(target)) {
      for (const item of items) target.push(item);
    } else if (target instanceof PickleObject) {
      target.listItems.push(...items);
    } else if (target instanceof Set) {
      for (const item of items) target.add(item);
    } else {
      fail(`cannot append to ${describe(target)}`);
    }
  };

  while (true) {
    op = pos;
    if (pos >= n) {
      throw new TruncatedError(`Cannot unpickle ${source}: the stream ends at offset ${pos} before STOP`, {
        offset: pos,
      });
    }
    const code = bytes[pos++];
    switch (code) {
      case OP.PROTO: {
        protocol = take(1, "PROTO")[0];
        if (protocol > HIGHEST_PROTOCOL) fail(`unsupported pickle protocol ${protocol}`);
        break;
      }
      case OP.FRAME: // frames are transparent; only check the length fits
        need(8, "FRAME");
        size(view.getBigUint64(pos, true), "FRAME");
        pos += 8;
        break;
      case OP.STOP: {
        const value = pop();
        if (marks.length > 0) fail("STOP with an open MARK");
        return { value, end: pos, protocol };
      }
      case OP.MARK:
        if (marks.length >= limits.maxDepth) {
          throw new LimitError(
            `Cannot unpickle ${source}: more than ${limits.maxDepth} nested MARKs (offset ${op})`,
            { limit: limits.maxDepth, actual: marks.length + 1 },
          );
        }
        marks.push(stack.length);
        break;
      case OP.POP:
        if (stack.length > 0 && !(marks.length > 0 && stack.length <= marks[marks.length - 1])) stack.pop();
        else popMark();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        push(top());
        break;
      case OP.NONE:
        push(null);
        break;
      case OP.NEWTRUE:
        push(true);
        break;
      case OP.NEWFALSE:
        push(false);
        break;
      case OP.INT: {
        const text = line("INT");
        if (text === "01") push(true);
        else if (text === "00") push(false);
        else push(intFromText(text, "INT"));
        break;
      }
      case OP.BININT:
        need(4, "BININT");
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      case OP.BININT1:
        push(take(1, "BININT1")[0]);
        break;
      case OP.BININT2:
        need(2, "BININT2");
        push(view.getUint16(pos, true));
        pos += 2;
        break;
      case OP.LONG: {
        const text = line("LONG");
        push(intFromText(text.endsWith("L") ? text.slice(0, -1) : text, "LONG"));
        break;
      }
      case OP.LONG1:
        push(decodeLong(take(size(take(1, "LONG1")[0], "LONG1"), "LONG1")));
        break;
      case OP.LONG4: {
        need(4, "LONG4");
        const length = view.getInt32(pos, true);
        pos += 4;
        push(decodeLong(take(size(length, "LONG4"), "LONG4")));
        break;
      }
      case OP.FLOAT: {
        const text = line("FLOAT").trim();
        const value = Number(
          text === "nan" ? NaN : text === "inf" ? Infinity : text === "-inf" ? -Infinity : text,
        );
        if (Number.isNaN(value) && text !== "nan") fail(`invalid FLOAT '${text.slice(0, 40)}'`);
        push(value);
        break;
      }
      case OP.BINFLOAT:
        need(8, "BINFLOAT");
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case OP.STRING: {
        const text = line("STRING");
        push(decodeQuoted(text, fail));
        break;
      }
      case OP.BINSTRING: {
        need(4, "BINSTRING");
        const length = view.getInt32(pos, true);
        pos += 4;
        const at = pos;
        const data = take(size(length, "BINSTRING"), "BINSTRING");
        payload(data, at);
        push(latin1.decode(data));
        break;
      }
      case OP.SHORT_BINSTRING: {
        const length = take(1, "SHORT_BINSTRING")[0];
        const at = pos;
        const data = take(length, "SHORT_BINSTRING");
        payload(data, at);
        push(latin1.decode(data));
        break;
      }
      case OP.UNICODE:
        push(decodeRawUnicodeEscape(line("UNICODE")));
        break;
      case OP.BINUNICODE: {
        need(4, "BINUNICODE");
        const length = view.getUint32(pos, true);
        pos += 4;
        const at = pos;
        push(str(take(size(length, "BINUNICODE"), "BINUNICODE"), at));
        break;
      }
      case OP.SHORT_BINUNICODE: {
        const length = take(1, "SHORT_BINUNICODE")[0];
        const at = pos;
        push(str(take(length, "SHORT_BINUNICODE"), at));
        break;
      }
      case OP.BINUNICODE8: {
        need(8, "BINUNICODE8");
        const length = view.getBigUint64(pos, true);
        pos += 8;
        const at = pos;
        push(str(take(size(length, "BINUNICODE8"), "BINUNICODE8"), at));
        break;
      }
      case OP.BINBYTES: {
        need(4, "BINBYTES");
        const length = view.getUint32(pos, true);
        pos += 4;
        const at = pos;
        const data = take(size(length, "BINBYTES"), "BINBYTES");
        payload(data, at);
        push(data);
        break;
      }
      case OP.SHORT_BINBYTES: {
        const length = take(1, "SHORT_BINBYTES")[0];
        const at = pos;
        const data = take(length, "SHORT_BINBYTES");
        payload(data, at);
        push(data);
        break;
      }
      case OP.BINBYTES8:
      case OP.BYTEARRAY8: {
        const what = code === OP.BINBYTES8 ? "BINBYTES8" : "BYTEARRAY8";
        need(8, what);
        const length = view.getBigUint64(pos, true);
        pos += 8;
        const at = pos;
        const data = take(size(length, what), what);
        payload(data, at);
        push(data);
        break;
      }
      case OP.NEXT_BUFFER: {
        const next = hooks.buffers?.next();
        if (!next || next.done) fail("NEXT_BUFFER with no out-of-band buffer supplied");
        push(next!.value as Uint8Array);
        break;
      }
      case OP.READONLY_BUFFER: // buffers are plain bytes here
        top();
        break;
      case OP.EMPTY_TUPLE:
        push(new PickleTuple([]));
        break;
      case OP.TUPLE:
        push(new PickleTuple(popMark()));
        break;
      case OP.TUPLE1:
        push(new PickleTuple([pop()]));
        break;
      case OP.TUPLE2: {
        const b = pop();
        const a = pop();
        push(new PickleTuple([a, b]));
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PickleTuple([a, b, c]));
        break;
      }
      case OP.EMPTY_LIST:
        push([]);
        break;
      case OP.LIST:
        push(popMark());
        break;
      case OP.EMPTY_DICT:
        push(new Map());
        break;
      case OP.DICT: {
        const items = popMark();
        const map = new Map<PickleValue, PickleValue>();
        setItems(map, items);
        push(map);
        break;
      }
      case OP.EMPTY_SET:
        push(new Set());
        break;
      case OP.FROZENSET:
        push(new Set(popMark()));
        break;
      case OP.APPEND: {
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case OP.SETITEM: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.ADDITEMS: {
        const items = popMark();
        const target = top();
        if (target instanceof Set) { for (const item of items) target.add(item); }
        else if (target instanceof PickleObject) target.listItems.push(...items);
        else fail(`cannot add items to ${describe(target)}`);
        break;
      }
      case OP.GET:
        push(memoGet(memoIndex(intFromText(line("GET"), "memo key"))));
        break;
      case OP.BINGET:
        push(memoGet(take(1, "BINGET")[0]));
        break;
      case OP.LONG_BINGET:
        need(4, "LONG_BINGET");
        push(memoGet(view.getUint32(pos, true)));
        pos += 4;
        break;
      case OP.PUT:
        memoPut(memoIndex(intFromText(line("PUT"), "memo key")), top());
        break;
      case OP.BINPUT:
        memoPut(take(1, "BINPUT")[0], top());
        break;
      case OP.LONG_BINPUT:
        need(4, "LONG_BINPUT");
        memoPut(view.getUint32(pos, true), top());
        pos += 4;
        break;
      case OP.MEMOIZE:
        memoPut(memo.size, top());
        break;
      case OP.GLOBAL: {
        const module = line("GLOBAL module");
        const name = line("GLOBAL name");
        push(makeGlobal(module, name));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail(`STACK_GLOBAL needs two strings, got ${describe(module)} and ${describe(name)}`);
        }
        push(makeGlobal(module as string, name as string));
        break;
      }
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4: {
        const width = code === OP.EXT1 ? 1 : code === OP.EXT2 ? 2 : 4;
        need(width, "EXT");
        const ext = width === 1
          ? bytes[pos]
          : width === 2
          ? view.getUint16(pos, true)
          : view.getInt32(pos, true);
        pos += width;
        fail(`extension code ${ext} is not registered (copyreg extensions are not supported)`);
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const callable = pop();
        push(call(callable, args));
        break;
      }
      case OP.NEWOBJ: {
        const args = pop();
        const cls = pop();
        push(call(cls, args));
        break;
      }
      case OP.NEWOBJ_EX: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        push(call(cls, args, kwargs));
        break;
      }
      case OP.INST: {
        const module = line("INST module");
        const name = line("INST name");
        const args = popMark();
        push(call(makeGlobal(module, name), new PickleTuple(args)));
        break;
      }
      case OP.OBJ: {
        const items = popMark();
        if (items.length === 0) fail("OBJ without a class");
        push(call(items[0], new PickleTuple(items.slice(1))));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const target = top();
        if (target instanceof PickleObject) {
          if (target.state instanceof Map && state instanceof Map) {
            for (const [k, v] of state) target.state.set(k, v);
          } else {
            target.state = state;
          }
        }
        // State on plain containers (e.g. an OrderedDict's attributes) carries no data ckpt uses.
        break;
      }
      case OP.PERSID: {
        const pid = line("PERSID");
        push(new PicklePersistent(pid, hooks.persistentLoad?.(pid, op)));
        break;
      }
      case OP.BINPERSID: {
        const pid = pop();
        push(new PicklePersistent(pid, hooks.persistentLoad?.(pid, op)));
        break;
      }
      default:
        fail(`unknown opcode ${opcodeName(code)}`);
    }
  }
}

// Protocol 0 STRING: a Python bytes literal in quotes (escape_decode), kept as latin1 text.
function decodeQuoted(text: string, fail: (message: string) => never): string {
  const t = text.trimEnd();
  const q = t[0];
  if (t.length < 2 || (q !== "'" && q !== '"') || t[t.length - 1] !== q) {
    fail(`STRING argument is not quoted: ${t.slice(0, 40)}`);
  }
  const body = t.slice(1, -1);
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case "n":
        out += "\n";
        break;
      case "t":
        out += "\t";
        break;
      case "r":
        out += "\r";
        break;
      case "a":
        out += "\x07";
        break;
      case "b":
        out += "\b";
        break;
      case "f":
        out += "\f";
        break;
      case "v":
        out += "\v";
        break;
      case "x": {
        const hex = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail(`invalid \\x escape in STRING`);
        out += String.fromCharCode(parseInt(hex, 16));
        i += 2;
        break;
      }
      case "\n":
        break;
      default:
        if (e !== undefined && e >= "0" && e <= "7") {
          let digits = e;
          while (digits.length < 3 && body[i + 1] >= "0" && body[i + 1] <= "7") digits += body[++i];
          out += String.fromCharCode(parseInt(digits, 8) & 0xff);
        } else if (e === "\\" || e === "'" || e === '"') {
          out += e;
        } else {
          out += "\\" + (e ?? "");
        }
    }
  }
  return out;
}

// Protocol 0 UNICODE: raw-unicode-escape (only \uXXXX and \UXXXXXXXX are escapes).
function decodeRawUnicodeEscape(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4?: string, u8?: string) => {
    const cp = parseInt(u4 ?? u8!, 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
  });
}
