/**
 * Write pickles (protocol 2, as PyTorch writes `data.pkl`) from the values
 * {@linkcode loadPickle} produces.
 *
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { OP } from "./opcodes.ts";
import { PickleGlobal, PickleObject, PicklePersistent, PickleTuple, type PickleValue } from "./values.ts";

const APPENDS_BATCH = 1000;
const TUPLE_N = [OP.EMPTY_TUPLE, OP.TUPLE1, OP.TUPLE2, OP.TUPLE3];

class Output {
  #buffer = new Uint8Array(4096);
  #length = 0;
  #view = new DataView(this.#buffer.buffer);
  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    let capacity = this.#buffer.length * 2;
    while (capacity < this.#length + extra) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
  byte(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }
  bytes(data: Uint8Array): void {
    this.#reserve(data.length);
    this.#buffer.set(data, this.#length);
    this.#length += data.length;
  }
  u16(value: number): void {
    this.#reserve(2);
    this.#view.setUint16(this.#length, value, true);
    this.#length += 2;
  }
  i32(value: number): void {
    this.#reserve(4);
    this.#view.setInt32(this.#length, value, true);
    this.#length += 4;
  }
  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value, true);
    this.#length += 4;
  }
  f64(value: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value, false);
    this.#length += 8;
  }
  result(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}

function encodeLong(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let v = value;
  // Two's complement, little-endian, shortest form that keeps the sign.
  while (true) {
    const byte = Number(v & 0xffn);
    out.push(byte);
    v >>= 8n;
    if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) break;
  }
  return new Uint8Array(out);
}

/**
 * Pickle `value` with protocol 2. Integers that are not safe JS integers go
 * as `bigint`; a `number` with no fractional part is written as an int.
 * Bytes are written as `_codecs.encode(text, "latin1")`, as Python does for
 * protocol 2. Globals are memoized so each is named once.
 *
 * @example
 * ```ts
 * import { dumpPickle } from "./dump_pickle.ts";
 * import { loadPickle } from "./load_pickle.ts";
 * const bytes = dumpPickle(new Map([["epoch", 3]]));
 * console.log(loadPickle(bytes).value); // Map(1) { "epoch" => 3 }
 * ```
 */
export function dumpPickle(value: PickleValue): Uint8Array {
  const out = new Output();
  const memo = new Map<string, number>();
  const utf8 = new TextEncoder();
  const active = new Set<unknown>();

  const writeGlobal = (module: string, name: string): void => {
    const key = `${module}\n${name}`;
    const index = memo.get(key);
    if (index !== undefined) {
      if (index < 256) {
        out.byte(OP.BINGET);
        out.byte(index);
      } else {
        out.byte(OP.LONG_BINGET);
        out.u32(index);
      }
      return;
    }
    out.byte(OP.GLOBAL);
    out.bytes(utf8.encode(`${module}\n${name}\n`));
    const slot = memo.size;
    memo.set(key, slot);
    if (slot < 256) {
      out.byte(OP.BINPUT);
      out.byte(slot);
    } else {
      out.byte(OP.LONG_BINPUT);
      out.u32(slot);
    }
  };

  const writeItems = (items: readonly PickleValue[], opcode: number): void => {
    for (let i = 0; i < items.length; i += APPENDS_BATCH) {
      out.byte(OP.MARK);
      for (const item of items.slice(i, i + APPENDS_BATCH)) write(item);
      out.byte(opcode);
    }
  };

  const writePairs = (map: Map<PickleValue, PickleValue>): void => {
    const flat: PickleValue[] = [];
    for (const [k, v] of map) flat.push(k, v);
    for (let i = 0; i < flat.length; i += 2 * APPENDS_BATCH) {
      out.byte(OP.MARK);
      for (const item of flat.slice(i, i + 2 * APPENDS_BATCH)) write(item);
      out.byte(OP.SETITEMS);
    }
  };

  const write = (v: PickleValue): void => {
    if (v === null) return out.byte(OP.NONE);
    if (v === true) return out.byte(OP.NEWTRUE);
    if (v === false) return out.byte(OP.NEWFALSE);
    if (typeof v === "number") {
      if (Number.isInteger(v)) {
        if (v >= 0 && v < 256) {
          out.byte(OP.BININT1);
          out.byte(v);
        } else if (v >= 0 && v < 65536) {
          out.byte(OP.BININT2);
          out.u16(v);
        } else if (v >= -0x80000000 && v <= 0x7fffffff) {
          out.byte(OP.BININT);
          out.i32(v);
        } else {
          write(BigInt(v));
        }
      } else {
        out.byte(OP.BINFLOAT);
        out.f64(v);
      }
      return;
    }
    if (typeof v === "bigint") {
      const data = encodeLong(v);
      if (data.length > 255) throw new UsageError(`Cannot pickle an integer of ${data.length} bytes`);
      out.byte(OP.LONG1);
      out.byte(data.length);
      out.bytes(data);
      return;
    }
    if (typeof v === "string") {
      const data = utf8.encode(v);
      out.byte(OP.BINUNICODE);
      out.u32(data.length);
      out.bytes(data);
      return;
    }
    if (v instanceof Uint8Array) {
      writeGlobal("_codecs", "encode");
      let text = "";
      for (let i = 0; i < v.length; i += 0x8000) text += String.fromCharCode(...v.subarray(i, i + 0x8000));
      write(new PickleTuple([text, "latin1"]));
      out.byte(OP.REDUCE);
      return;
    }
    if (active.has(v)) throw new UsageError("Cannot pickle a value that contains itself");
    active.add(v);
    try {
      if (Array.isArray(v)) {
        out.byte(OP.EMPTY_LIST);
        writeItems(v, OP.APPENDS);
      } else if (v instanceof PickleTuple) {
        const items = v.items;
        if (items.length === 0) out.byte(OP.EMPTY_TUPLE);
        else if (items.length <= 3) {
          for (const item of items) write(item);
          out.byte(TUPLE_N[items.length]);
        } else {
          out.byte(OP.MARK);
          for (const item of items) write(item);
          out.byte(OP.TUPLE);
        }
      } else if (v instanceof Map) {
        out.byte(OP.EMPTY_DICT);
        writePairs(v);
      } else if (v instanceof Set) {
        writeGlobal("builtins", "set");
        write(new PickleTuple([[...v]]));
        out.byte(OP.REDUCE);
      } else if (v instanceof PickleGlobal) {
        writeGlobal(v.module, v.name);
      } else if (v instanceof PicklePersistent) {
        write(v.pid);
        out.byte(OP.BINPERSID);
      } else {
        writeGlobal(v.module, v.name);
        write(new PickleTuple(v.args));
        out.byte(OP.REDUCE);
        if (v.listItems.length) writeItems(v.listItems, OP.APPENDS);
        if (v.dictItems.size) writePairs(v.dictItems);
        if (v.state !== undefined) {
          write(v.state);
          out.byte(OP.BUILD);
        }
      }
    } finally {
      active.delete(v);
    }
  };

  out.byte(OP.PROTO);
  out.byte(2);
  write(value);
  out.byte(OP.STOP);
  return out.result();
}

/**
 * A call record for {@linkcode dumpPickle}: `module.name(*args)`.
 *
 * @example
 * ```ts
 * import { pickleCall } from "./dump_pickle.ts";
 * const od = pickleCall("collections", "OrderedDict", []);
 * console.log(od.fullName); // collections.OrderedDict
 * ```
 */
export function pickleCall(module: string, name: string, args: readonly PickleValue[]): PickleObject {
  return new PickleObject(module, name, args);
}
