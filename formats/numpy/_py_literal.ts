// A strict parser for the Python literals an .npy header holds: dicts,
// tuples, lists, strings, integers, True/False/None. Never evaluates code.

/** A parsed Python literal. Tuples carry a marker so `(3,)` and `[3]` differ. */
export type PyValue =
  | string
  | number
  | boolean
  | null
  | { readonly tuple: PyValue[] }
  | PyValue[]
  | Map<string, PyValue>;

const MAX_DEPTH = 32;

export class PyLiteralError extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(message);
    this.position = position;
  }
}

export function parsePyLiteral(text: string): PyValue {
  let pos = 0;
  const fail = (message: string): never => {
    throw new PyLiteralError(`${message} at character ${pos}`, pos);
  };
  const ws = () => {
    while (pos < text.length && " \t\n\r".includes(text[pos])) pos++;
  };
  const value = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) fail("nesting too deep");
    ws();
    const c = text[pos];
    if (c === undefined) return fail("unexpected end");
    if (c === "{") return dict(depth);
    if (c === "(") return sequence(depth, ")");
    if (c === "[") return sequence(depth, "]");
    if (c === "'" || c === '"') return string();
    if (c === "-" || (c >= "0" && c <= "9")) return integer();
    for (const [word, v] of [["True", true], ["False", false], ["None", null]] as const) {
      if (text.startsWith(word, pos) && !/[A-Za-z0-9_]/.test(text[pos + word.length] ?? "")) {
        pos += word.length;
        return v;
      }
    }
    return fail(`unexpected '${c}'`);
  };
  const integer = (): number => {
    const m = /^-?\d+L?/.exec(text.slice(pos, pos + 40));
    if (!m) return fail("invalid number");
    pos += m[0].length;
    if (/^[.eExX_]/.test(text[pos] ?? "")) fail("only integers are allowed");
    const n = Number(m[0].replace(/L$/, ""));
    if (!Number.isSafeInteger(n)) fail(`integer ${m[0]} is too large`);
    return n;
  };
  const string = (): string => {
    const quote = text[pos++];
    let out = "";
    for (;;) {
      const c = text[pos++];
      if (c === undefined || c === "\n") return fail("unterminated string");
      if (c === quote) return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = text[pos++];
      const simple: Record<string, string> = {
        "\\": "\\",
        "'": "'",
        '"': '"',
        n: "\n",
        t: "\t",
        r: "\r",
        "0": "\0",
      };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === "x" || e === "u" || e === "U") {
        const width = e === "x" ? 2 : e === "u" ? 4 : 8;
        const hex = text.slice(pos, pos + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) fail("invalid escape");
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) fail("invalid code point");
        out += String.fromCodePoint(cp);
        pos += width;
      } else fail("invalid escape");
    }
  };
  const sequence = (depth: number, close: string): PyValue => {
    pos++;
    const items: PyValue[] = [];
    let sawComma = false;
    for (;;) {
      ws();
      if (text[pos] === close) {
        pos++;
        break;
      }
      items.push(value(depth + 1));
      ws();
      if (text[pos] === ",") {
        pos++;
        sawComma = true;
      } else if (text[pos] !== close) fail(`expected ',' or '${close}'`);
    }
    if (close === "]") return items;
    // `(x)` is just x in Python; a tuple of one needs the comma.
    if (items.length === 1 && !sawComma) return items[0];
    return { tuple: items };
  };
  const dict = (depth: number): PyValue => {
    pos++;
    const out = new Map<string, PyValue>();
    for (;;) {
      ws();
      if (text[pos] === "}") {
        pos++;
        break;
      }
      const key = value(depth + 1);
      if (typeof key !== "string") fail("dict keys must be strings");
      if (out.has(key as string)) fail(`duplicate key '${key}'`);
      ws();
      if (text[pos++] !== ":") fail("expected ':'");
      out.set(key as string, value(depth + 1));
      ws();
      if (text[pos] === ",") pos++;
      else if (text[pos] !== "}") fail("expected ',' or '}'");
    }
    return out;
  };
  const result = value(0);
  ws();
  if (pos !== text.length) fail("trailing characters");
  return result;
}
