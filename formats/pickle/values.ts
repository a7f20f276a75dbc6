/**
 * The plain values a pickle decodes to. Python types map as follows:
 *
 * | Python            | JavaScript                                    |
 * | ----------------- | --------------------------------------------- |
 * | `None`            | `null`                                        |
 * | `bool`            | `boolean`                                     |
 * | `int`             | `number` when a safe integer, else `bigint`   |
 * | `float`           | `number`                                      |
 * | `str`             | `string`                                      |
 * | `bytes`, `bytearray` | `Uint8Array` (a view into the input where possible) |
 * | `list`            | `PickleValue[]`                               |
 * | `tuple`           | {@linkcode PickleTuple}                       |
 * | `dict`, `OrderedDict` | `Map` (insertion order kept; int keys stay numbers) |
 * | `set`, `frozenset` | `Set`                                        |
 * | `complex`         | {@linkcode PickleObject} `builtins.complex` with args `[re, im]` |
 * | a global (class, function) | {@linkcode PickleGlobal}             |
 * | a call, `NEWOBJ`, `INST`, `BUILD` | {@linkcode PickleObject} recording name, args and state |
 * | a persistent id   | {@linkcode PicklePersistent}                  |
 *
 * Nothing here can run code: a `PickleObject` only records what Python would
 * have called.
 *
 * @module
 */

/** A decoded pickle value. See the module documentation for the mapping. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | PickleGlobal
  | PickleObject
  | PicklePersistent;

/**
 * A Python tuple, kept apart from lists.
 *
 * @example
 * ```ts
 * import { PickleTuple } from "./values.ts";
 * const t = new PickleTuple([1, 2]);
 * console.log(t.items.length, Array.isArray(t)); // 2 false
 * ```
 */
export class PickleTuple {
  /** The elements. */
  readonly items: readonly PickleValue[];
  /** Wrap `items` as a tuple. */
  constructor(items: readonly PickleValue[]) {
    this.items = items;
  }
}

/**
 * A reference to a Python global (`module.name`), never resolved to code.
 *
 * @example
 * ```ts
 * import { PickleGlobal } from "./values.ts";
 * console.log(new PickleGlobal("torch", "FloatStorage").fullName); // torch.FloatStorage
 * ```
 */
export class PickleGlobal {
  /** The module, e.g. `torch._utils`. */
  readonly module: string;
  /** The attribute, e.g. `_rebuild_tensor_v2`. */
  readonly name: string;
  /** Create a reference. */
  constructor(module: string, name: string) {
    this.module = module;
    this.name = name;
  }
  /** `module.name`. */
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * What Python would have built by calling a global (REDUCE, NEWOBJ, INST,
 * OBJ), with what BUILD, APPEND and SETITEM later did to it. Inert: a record
 * of the name, the arguments and the state.
 *
 * @example
 * ```ts
 * import { PickleObject } from "./values.ts";
 * const o = new PickleObject("torch", "device", ["cpu"]);
 * console.log(o.fullName, o.args); // torch.device [ "cpu" ]
 * ```
 */
export class PickleObject {
  /** Module of the callable. */
  readonly module: string;
  /** Name of the callable. */
  readonly name: string;
  /** Positional arguments of the call. */
  readonly args: readonly PickleValue[];
  /** Keyword arguments (NEWOBJ_EX), if any. */
  kwargs: Map<PickleValue, PickleValue> | undefined;
  /** State given by BUILD (`__setstate__` or `__dict__`), if any. */
  state: PickleValue | undefined;
  /** Items appended with APPEND/APPENDS (list subclasses). */
  readonly listItems: PickleValue[] = [];
  /** Items set with SETITEM/SETITEMS (dict subclasses). */
  readonly dictItems: Map<PickleValue, PickleValue> = new Map();
  /** Whether the global was outside the allowlist (a permissive placeholder). */
  readonly placeholder: boolean;
  /** Record a call of `module.name` with `args`. */
  constructor(module: string, name: string, args: readonly PickleValue[], placeholder = false) {
    this.module = module;
    this.name = name;
    this.args = args;
    this.placeholder = placeholder;
  }
  /** `module.name`. */
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * A persistent id (PERSID/BINPERSID) and what the loader's `persistentLoad`
 * made of it (PyTorch uses these for tensor storages).
 *
 * @example
 * ```ts
 * import { PicklePersistent } from "./values.ts";
 * const p = new PicklePersistent("storage-0", undefined);
 * console.log(p.pid); // storage-0
 * ```
 */
export class PicklePersistent {
  /** The id as pickled. */
  readonly pid: PickleValue;
  /** What `persistentLoad` returned for it. */
  readonly value: unknown;
  /** Record a persistent id. */
  constructor(pid: PickleValue, value: unknown) {
    this.pid = pid;
    this.value = value;
  }
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** Most nested levels {@linkcode pickleToJson} follows before writing `"…"`. */
const MAX_JSON_DEPTH = 64;

/**
 * A JSON-compatible rendering of a pickle value, for metadata and display:
 * tuples and sets become arrays, dicts objects (keys as strings), bytes
 * `{"$bytes": base64}`, big ints and non-finite floats strings, globals
 * `{"$global": "module.name"}` and objects `{"$object": "module.name", "args", "state"}`.
 * Cycles become `"<cycle>"`.
 *
 * @example
 * ```ts
 * import { PickleTuple, pickleToJson, type PickleValue } from "./values.ts";
 * const groups = new Map<PickleValue, PickleValue>([["lr", 0.1], ["betas", new PickleTuple([0.9, 0.999])]]);
 * console.log(JSON.stringify(pickleToJson(groups)));
 * // {"lr":0.1,"betas":[0.9,0.999]}
 * ```
 */
export function pickleToJson(value: PickleValue): unknown {
  const active = new Set<unknown>();
  const convert = (v: PickleValue, depth: number): unknown => {
    if (v === null || typeof v === "boolean" || typeof v === "string") return v;
    if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return { $bytes: toBase64(v) };
    if (depth > MAX_JSON_DEPTH) return "…";
    if (active.has(v)) return "<cycle>";
    active.add(v);
    try {
      if (Array.isArray(v)) return v.map((x) => convert(x, depth + 1));
      if (v instanceof PickleTuple) return v.items.map((x) => convert(x, depth + 1));
      if (v instanceof Set) return [...v].map((x) => convert(x, depth + 1));
      if (v instanceof Map) {
        const out: Record<string, unknown> = {};
        for (const [k, x] of v) out[keyText(k)] = convert(x, depth + 1);
        return out;
      }
      if (v instanceof PickleGlobal) return { $global: v.fullName };
      if (v instanceof PicklePersistent) return { $persistent: convert(v.pid, depth + 1) };
      const out: Record<string, unknown> = {
        $object: v.fullName,
        args: v.args.map((x) => convert(x, depth + 1)),
      };
      if (v.state !== undefined) out.state = convert(v.state, depth + 1);
      if (v.listItems.length) out.items = v.listItems.map((x) => convert(x, depth + 1));
      if (v.dictItems.size) out.dict = convert(v.dictItems, depth + 1);
      return out;
    } finally {
      active.delete(v);
    }
  };
  return convert(value, 0);
}

/**
 * A dict key as a path segment: strings as they are, numbers in decimal,
 * anything else as its JSON rendering.
 *
 * @example
 * ```ts
 * import { keyText } from "./values.ts";
 * console.log(keyText("fc"), keyText(0)); // fc 0
 * ```
 */
export function keyText(key: PickleValue): string {
  if (typeof key === "string") return key;
  if (typeof key === "number" || typeof key === "bigint" || typeof key === "boolean" || key === null) {
    return String(key);
  }
  return JSON.stringify(pickleToJson(key));
}
