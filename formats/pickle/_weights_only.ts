// What torch.load(weights_only=True) would refuse in a pickle, decided the way
// torch 2.x's torch/_weights_only_unpickler.py Unpickler.load decides it, over
// kinds of values instead of values: its opcode subset, its allowlist (looked
// up under torch's own Python 2 renames, with sys/os/posix/nt blocked), and its
// rules on what may be called, built, appended to and set items on. Nothing
// is called; only the kinds are tracked.

import { DEFAULT_ALLOWED_GLOBALS, torchGlobalName } from "./allowlist.ts";
import { OP, opcodeName } from "./opcodes.ts";

/** Why torch would refuse, and where. */
export interface WeightsOnlyRefusal {
  readonly reason: string;
  readonly offset: number;
}

// A value's kind: a container type, a global by name, or what calling one makes.
type Kind =
  | { t: "list" | "dict" | "set" | "scalar" | "storage" }
  | { t: "tuple"; first?: Kind }
  | { t: "str"; text: string }
  | { t: "global"; name: string }
  | { t: "instance"; of: string };

const BLOCKED_MODULES = new Set(["sys", "os", "posix", "nt"]);
const SCALAR: Kind = { t: "scalar" };

// Which class an allowed callable's result is an instance of (for BUILD/SETITEM rules).
function resultOf(name: string): Kind {
  if (name === "collections.OrderedDict" || name === "collections.Counter") {
    return { t: "instance", of: name };
  }
  if (name === "builtins.set") return { t: "set" };
  if (name === "torch.nn.parameter.Parameter" || name === "torch._utils._rebuild_parameter") {
    return { t: "instance", of: "torch.nn.parameter.Parameter" };
  }
  if (name.startsWith("torch._utils._rebuild_") || name === "torch._tensor._rebuild_from_type_v2") {
    return { t: "instance", of: "torch.Tensor" };
  }
  return { t: "instance", of: name };
}

/**
 * Walk one pickle from `start` as torch's weights-only unpickler would and
 * return why it refuses it (`allow`: names added as `add_safe_globals` would) (undefined when it would load it), and where STOP
 * ended (or -1 when it never got there).
 */
export function weightsOnlyRefusal(
  bytes: Uint8Array,
  start: number,
  allow: ReadonlySet<string> = new Set(),
): { refusal?: WeightsOnlyRefusal; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let stack: Kind[] = [];
  const metastack: Kind[][] = [];
  const memo = new Map<number, Kind>();
  let pos = start;
  let op = start;
  class Refused extends Error {}
  const refuse = (reason: string): never => {
    throw new Refused(reason);
  };
  const need = (count: number): void => {
    if (count > n - pos) refuse(`the pickle ends inside ${opcodeName(bytes[op])} at offset ${op}`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const skip = (count: number): void => {
    need(count);
    pos += count;
  };
  const text = (count: number): string => {
    need(count);
    let out = "";
    for (let i = pos; i < pos + count; i++) out += String.fromCharCode(bytes[i]);
    pos += count;
    return out;
  };
  const readline = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    const stop = end < 0 ? n : end;
    let text = "";
    for (let i = pos; i < stop; i++) text += String.fromCharCode(bytes[i]);
    pos = end < 0 ? n : end + 1;
    return text;
  };
  const pop = (): Kind => {
    if (stack.length === 0) refuse(`${opcodeName(bytes[op])} at offset ${op} finds the stack empty`);
    return stack.pop()!;
  };
  const top = (): Kind => {
    if (stack.length === 0) refuse(`${opcodeName(bytes[op])} at offset ${op} finds the stack empty`);
    return stack[stack.length - 1];
  };
  const popMark = (): Kind[] => {
    const items = stack;
    const outer = metastack.pop();
    if (!outer) refuse(`${opcodeName(bytes[op])} at offset ${op} has no MARK`);
    stack = outer!;
    return items;
  };
  const isDict = (k: Kind): boolean =>
    k.t === "dict" ||
    (k.t === "instance" && (k.of === "collections.OrderedDict" || k.of === "collections.Counter"));

  try {
    while (true) {
      op = pos;
      if (pos >= n) refuse(`the pickle ends at offset ${pos} before STOP`);
      const code = bytes[pos++];
      switch (code) {
        case OP.GLOBAL: {
          const module = readline();
          const name = readline();
          const full = torchGlobalName(module, name);
          const head = full.slice(0, full.length - name.length - 1);
          if (BLOCKED_MODULES.has(head)) refuse(`GLOBAL ${full} at offset ${op}: module ${head} is blocked`);
          if (!DEFAULT_ALLOWED_GLOBALS.has(full) && !allow.has(full)) {
            refuse(`GLOBAL ${full} at offset ${op} is not an allowed global`);
          }
          stack.push({ t: "global", name: full });
          break;
        }
        case OP.NEWOBJ: {
          pop();
          const cls = pop();
          if (cls.t !== "global") refuse(`NEWOBJ at offset ${op} on something that is not an allowed class`);
          stack.push(resultOf((cls as { name: string }).name));
          break;
        }
        case OP.REDUCE: {
          pop();
          const func = top();
          if (func.t !== "global") {
            refuse(`REDUCE at offset ${op} calls something that is not an allowed global`);
          }
          stack[stack.length - 1] = resultOf((func as { name: string }).name);
          break;
        }
        case OP.BUILD: {
          pop();
          const inst = top();
          // Tensor, Parameter, OrderedDict, or an instance of an allowed class.
          if (!(inst.t === "instance" || inst.t === "set")) {
            refuse(`BUILD at offset ${op} on a ${inst.t}: only tensors, parameters and allowed classes`);
          }
          break;
        }
        case OP.APPEND: {
          pop();
          if (top().t !== "list") refuse(`APPEND at offset ${op} to something that is not a list`);
          break;
        }
        case OP.APPENDS: {
          popMark();
          if (top().t !== "list") refuse(`APPENDS at offset ${op} to something that is not a list`);
          break;
        }
        case OP.SETITEM: {
          pop();
          pop();
          if (!isDict(top())) refuse(`SETITEM at offset ${op} on something that is not a dict`);
          break;
        }
        case OP.SETITEMS: {
          popMark();
          if (!isDict(top())) refuse(`SETITEMS at offset ${op} on something that is not a dict`);
          break;
        }
        case OP.MARK:
          metastack.push(stack);
          stack = [];
          break;
        case OP.TUPLE: {
          const items = popMark();
          stack.push({ t: "tuple", first: items[0] });
          break;
        }
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const count = code - OP.TUPLE1 + 1;
          if (stack.length < count) refuse(`${opcodeName(code)} at offset ${op} finds too few items`);
          const items = stack.splice(stack.length - count);
          stack.push({ t: "tuple", first: items[0] });
          break;
        }
        case OP.NONE:
        case OP.NEWFALSE:
        case OP.NEWTRUE:
          stack.push(SCALAR);
          break;
        case OP.EMPTY_TUPLE:
          stack.push({ t: "tuple" });
          break;
        case OP.EMPTY_LIST:
          stack.push({ t: "list" });
          break;
        case OP.EMPTY_DICT:
          stack.push({ t: "dict" });
          break;
        case OP.EMPTY_SET:
          stack.push({ t: "set" });
          break;
        case OP.BININT:
          skip(4), stack.push(SCALAR);
          break;
        case OP.BININT1:
          skip(1), stack.push(SCALAR);
          break;
        case OP.BININT2:
          skip(2), stack.push(SCALAR);
          break;
        case OP.BINFLOAT:
          skip(8), stack.push(SCALAR);
          break;
        case OP.BINUNICODE:
          stack.push({ t: "str", text: text(u32()) });
          break;
        case OP.SHORT_BINSTRING:
          stack.push({ t: "str", text: text(u8()) });
          break;
        case OP.LONG1:
          skip(u8()), stack.push(SCALAR);
          break;
        case OP.BINPERSID: {
          const pid = pop();
          // Only ('storage', …) tuples get through: the unpickler lets ints by, but
          // torch.load's persistent_load then fails on them (it indexes the id).
          const first = pid.t === "tuple" ? pid.first : undefined;
          if (!(first?.t === "str" && first.text === "storage")) {
            refuse(`BINPERSID at offset ${op}: the persistent id is not a ('storage', …) tuple`);
          }
          stack.push({ t: "storage" });
          break;
        }
        case OP.BINGET:
        case OP.LONG_BINGET: {
          const index = code === OP.BINGET ? u8() : u32();
          const value = memo.get(index);
          if (!value) refuse(`${opcodeName(code)} at offset ${op} reads memo ${index}, which is unset`);
          stack.push(value!);
          break;
        }
        case OP.BINPUT:
        case OP.LONG_BINPUT: {
          const index = code === OP.BINPUT ? u8() : u32();
          memo.set(index, top());
          break;
        }
        case OP.PROTO:
          u8();
          break;
        case OP.STOP:
          pop();
          return { end: pos };
        default:
          refuse(`opcode ${opcodeName(code)} at offset ${op} is not one it supports`);
      }
    }
  } catch (error) {
    if (error instanceof Refused) return { refusal: { reason: error.message, offset: op }, end: -1 };
    throw error;
  }
}
