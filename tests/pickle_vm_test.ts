import assert from "node:assert/strict";
import { FormatError, LimitError, TruncatedError, UnsafePickleError } from "../lib/errors.ts";
import {
  classifyGlobal,
  loadPickle,
  PickleGlobal,
  PickleObject,
  type PicklePersistent,
  pickleToJson,
  PickleTuple,
  type PickleValue,
} from "../formats/pickle/mod.ts";
import { DATA } from "./_helpers.ts";

/** Bytes from opcodes: numbers are bytes, strings are latin1 text. */
function b(...parts: (number | string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") { for (const c of p) out.push(c.charCodeAt(0)); }
    else out.push(...p);
  }
  return new Uint8Array(out);
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function u64(n: number): number[] {
  return [...u32(n), 0, 0, 0, 0];
}

Deno.test("loadPickle() reads CPython's pickles of every protocol (0-5) to the same values", async (t) => {
  await t.step("protocols 0-2 name builtins.bytes for b'', refused by default", async () => {
    assert.throws(() => loadPickle(Deno.readFileSync(`${DATA}/pickle/values_p2.pkl`)), (e: Error) => {
      assert.ok(e instanceof UnsafePickleError);
      assert.deepEqual(e.globals, ["builtins.bytes"]);
      return true;
    });
    await Promise.resolve();
  });
  const expected = JSON.parse(await Deno.readTextFile(`${DATA}/pickle/values.expected.json`));
  for (let protocol = 0; protocol <= 5; protocol++) {
    await t.step(`protocol ${protocol}`, async () => {
      const bytes = await Deno.readFile(`${DATA}/pickle/values_p${protocol}.pkl`);
      // Protocols 0-2 pickle b"" as a call of builtins.bytes, which is not on the allowlist.
      const loaded = loadPickle(bytes, { allowGlobals: protocol < 3 ? ["builtins.bytes"] : [] });
      assert.equal(loaded.protocol, protocol < 2 ? 0 : protocol);
      assert.equal(loaded.end, bytes.length);
      assert.deepEqual(pickleToJson(loaded.value), expected);
      const value = loaded.value as Map<PickleValue, PickleValue>;
      // Tuples stay tuples, int keys stay numbers, shared objects stay shared.
      const tuples = value.get("tuples") as PickleValue[];
      assert.ok(tuples.every((x) => x instanceof PickleTuple));
      const nested = value.get("nested") as Map<PickleValue, PickleValue>;
      assert.deepEqual([...nested.keys()], ["list", 7, -3]);
      const shared = value.get("shared") as PickleValue[][];
      assert.equal(shared[0], shared[1]);
      assert.equal(typeof (value.get("bigints") as PickleValue[])[0], "bigint");
      assert.ok(
        value.get("bytes") instanceof Array && (value.get("bytes") as PickleValue[])[1] instanceof Uint8Array,
      );
      assert.ok(value.get("set") instanceof Set);
      assert.ok(value.get("ordered") instanceof Map);
    });
  }
});

Deno.test("loadPickle() interprets the opcodes CPython 3 does not emit", async (t) => {
  const cases: [string, Uint8Array, unknown][] = [
    ["STRING with escapes", b("S'a\\n\\x41\\101\\''\n."), "a\nAA'"],
    ["BINSTRING", b(0x54, u32(3), "abc", "."), "abc"],
    ["SHORT_BINSTRING", b(0x55, 2, [0xe9, 0x41], "."), "\u00e9A"],
    ["UNICODE raw-unicode-escape", b("V\\u00e9\\U0001f600x\n."), "é😀x"],
    ["BINUNICODE8", b(0x80, 4, 0x8d, u64(2), "hi", "."), "hi"],
    ["BINBYTES8", b(0x80, 4, 0x8e, u64(2), [1, 2], "."), { $bytes: "AQI=" }],
    ["LONG4", b(0x80, 2, 0x8b, u32(2), [0x00, 0x80], "."), -32768],
    ["LONG text", b("L12345678901234567890L\n."), "12345678901234567890"],
    ["INT bools", b("(I01\nI00\nl."), [true, false]],
    ["DUP and POP", b("K", 1, "2", "0", "."), 1],
    ["POP_MARK", b("K", 5, "(K", 1, "K", 2, "1."), 5],
    ["DICT", b("(U", 1, "aK", 1, "d."), { a: 1 }],
    ["FROZENSET", b(0x80, 4, "(K", 1, "K", 2, 0x91, "."), [1, 2]],
    ["MEMOIZE and GET text", b(0x80, 4, "K", 9, 0x94, "0g0\n."), 9],
    ["FRAME", b(0x80, 4, 0x95, u64(3), "K", 3, "."), 3],
    ["READONLY_BUFFER after NEXT_BUFFER", b(0x80, 5, 0x97, 0x98, "."), { $bytes: "Bwg=" }],
  ];
  for (const [name, bytes, expected] of cases) {
    await t.step(name, () => {
      const { value } = loadPickle(bytes, { buffers: [new Uint8Array([7, 8])] });
      assert.deepEqual(pickleToJson(value), expected);
    });
  }
  await t.step("PERSID and BINPERSID go through persistentLoad", () => {
    const seen: PickleValue[] = [];
    const { value } = loadPickle(b("(Pkey-1\nU", 1, "2", 0x85, "Ql."), {
      persistentLoad: (pid) => {
        seen.push(pid);
        return `loaded:${pickleToJson(pid)}`;
      },
    });
    const list = value as PicklePersistent[];
    assert.equal(list[0].pid, "key-1");
    assert.equal(list[0].value, "loaded:key-1");
    assert.ok(list[1].pid instanceof PickleTuple);
    assert.equal(seen.length, 2);
  });
  await t.step("INST, OBJ, NEWOBJ and NEWOBJ_EX become inert records", () => {
    const { value } = loadPickle(
      b(
        "(",
        "(K",
        1,
        "icollections\nOrderedDict\n",
        "(ccollections\nOrderedDict\no",
        0x80,
        2,
        "ctorch\ndevice\n",
        "U",
        3,
        "cpu",
        0x85,
        0x81,
        "ctorch\ndevice\n)}",
        0x92,
        "l.",
      ),
    );
    const [inst, obj, newobj, newobjEx] = value as PickleValue[];
    assert.ok(inst instanceof Map && obj instanceof Map);
    assert.ok(newobj instanceof PickleObject && newobj.fullName === "torch.device");
    assert.deepEqual(newobj.args, ["cpu"]);
    assert.ok(newobjEx instanceof PickleObject && newobjEx.kwargs instanceof Map);
  });
});

function expectError(
  bytes: Uint8Array,
  cls: new (...args: never[]) => Error,
  pattern: RegExp,
  options = {},
): void {
  assert.throws(() => loadPickle(bytes, options), (e: Error) => {
    assert.ok(e instanceof cls, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("loadPickle() rejects malformed streams with a clear error", async (t) => {
  const cases: [string, Uint8Array, new (...args: never[]) => Error, RegExp, object?][] = [
    ["empty input", b(), TruncatedError, /the stream ends at offset 0 before STOP/],
    ["no STOP", b(0x80, 2, "K", 1), TruncatedError, /the stream ends at offset 4 before STOP/],
    ["unknown opcode", b(0x80, 2, 0xff), FormatError, /unknown opcode 0xff \(opcode at offset 2\)/],
    ["unsupported protocol", b(0x80, 6, "."), FormatError, /unsupported pickle protocol 6/],
    ["stack underflow", b(0x80, 2, "."), FormatError, /stack underflow \(opcode at offset 2\)/],
    ["pop below a mark", b("(0."), FormatError, /stack underflow|no MARK/],
    ["missing memo key", b(0x80, 2, "h", 5, "."), FormatError, /memo key 5 is not set/],
    [
      "BINUNICODE longer than the input",
      b(0x80, 2, "X", u32(0xfffffff0), "ab"),
      TruncatedError,
      /BINUNICODE needs 4294967280 bytes at offset 7 but only 2 remain/,
    ],
    [
      "BINBYTES8 longer than the input",
      b(0x80, 4, 0x8e, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      TruncatedError,
      /BINBYTES8 needs \d+ bytes at offset 11 but only 0 remain/,
    ],
    ["LONG4 negative length", b(0x80, 2, 0x8b, u32(0xffffffff)), FormatError, /negative length -1 for LONG4/],
    ["line without newline", b("cos"), TruncatedError, /GLOBAL module has no end of line after offset 1/],
    ["unquoted STRING", b("Sabc\n."), FormatError, /STRING argument is not quoted: abc/],
    ["invalid INT", b("I12x\n."), FormatError, /invalid INT '12x'/],
    ["STOP with an open MARK", b("(K", 1, "."), FormatError, /STOP with an open MARK/],
    ["SETITEMS on a list", b("](K", 1, "K", 2, "u."), FormatError, /cannot set items on a list/],
    ["APPEND to an int", b("K", 1, "K", 2, "a."), FormatError, /cannot append to number/],
    [
      "STACK_GLOBAL with non-strings",
      b(0x80, 4, "K", 1, "K", 2, 0x93, "."),
      FormatError,
      /STACK_GLOBAL needs two strings, got number and number/,
    ],
    ["EXT1", b(0x80, 2, 0x82, 7, "."), FormatError, /extension code 7 is not registered/],
    [
      "NEXT_BUFFER without buffers",
      b(0x80, 5, 0x97, "."),
      FormatError,
      /NEXT_BUFFER with no out-of-band buffer/,
    ],
    [
      "too many memo entries",
      b(0x80, 4, "K", 1, 0x94, 0x94, 0x94, "."),
      LimitError,
      /more than 2 memo entries/,
      { maxMemo: 2 },
    ],
    ["MARKs nested too deep", b("((((K", 1, "t"), LimitError, /more than 3 nested MARKs \(offset 3\)/, {
      maxDepth: 3,
    }],
    [
      "call arguments not a tuple",
      b("ccollections\nOrderedDict\nK", 1, "R."),
      FormatError,
      /call arguments must be a tuple, not number/,
    ],
  ];
  for (const [name, bytes, cls, pattern, options] of cases) {
    await t.step(name, () => expectError(bytes, cls, pattern, options));
  }
});

Deno.test("loadPickle() refuses globals outside the allowlist, naming every one", async (t) => {
  await t.step("GLOBAL, STACK_GLOBAL, a memo'd global and INST in one stream", () => {
    const bytes = b(
      0x80,
      4,
      "(cos\nsystem\n",
      0x8c,
      8,
      "builtins",
      0x94,
      0x8c,
      4,
      "eval",
      0x93,
      "h",
      0,
      0x8c,
      7,
      "getattr",
      0x93,
      "isubprocess\nPopen\n",
      "l.",
    );
    assert.throws(() => loadPickle(bytes), (e: Error) => {
      assert.ok(e instanceof UnsafePickleError);
      assert.deepEqual(e.globals, ["os.system", "builtins.eval", "builtins.getattr", "subprocess.Popen"]);
      assert.match(
        e.message,
        /Refusing to load a pickle that imports os.system, builtins.eval, builtins.getattr, subprocess.Popen/,
      );
      return true;
    });
  });
  await t.step("a stream that breaks after an unsafe global still names it", () => {
    assert.throws(() => loadPickle(b("cposix\nsystem\n(S'x'\ntR", 0xff)), (e: Error) => {
      assert.ok(e instanceof UnsafePickleError);
      assert.deepEqual(e.globals, ["posix.system"]);
      return true;
    });
  });
  await t.step("Python 2 module names are renamed before the check", () => {
    assert.throws(() => loadPickle(b("c__builtin__\neval\n.")), (e: Error) => {
      assert.ok(e instanceof UnsafePickleError);
      assert.deepEqual(e.globals, ["builtins.eval"]);
      return true;
    });
  });
  await t.step("allowGlobals adds names", () => {
    const { value } = loadPickle(b("cmy.module\nThing\n."), { allowGlobals: ["my.module.Thing"] });
    assert.ok(value instanceof PickleGlobal && value.fullName === "my.module.Thing");
  });
});

Deno.test("loadPickle() with permissive keeps unknown globals as inert placeholders", () => {
  // Net.__new__ via NEWOBJ, then BUILD with its state, then REDUCE of os.system on a string.
  const bytes = b(
    0x80,
    2,
    "(cmymodel\nNet\n)",
    0x81,
    "}U",
    1,
    "wK",
    3,
    "sb",
    "cos\nsystem\nU",
    2,
    "id",
    0x85,
    "R",
    "l.",
  );
  const loaded = loadPickle(bytes, { permissive: true });
  assert.deepEqual(loaded.placeholders, ["mymodel.Net", "os.system"]);
  const [net, call] = loaded.value as PickleObject[];
  assert.ok(net.placeholder && net.fullName === "mymodel.Net");
  assert.deepEqual(pickleToJson(net.state!), { w: 3 });
  assert.ok(call.placeholder && call.fullName === "os.system");
  assert.deepEqual(call.args, ["id"]);
});

Deno.test("classifyGlobal() sorts globals into safe, unknown and dangerous", () => {
  const table: [string, string][] = [
    ["torch._utils._rebuild_tensor_v2", "safe"],
    ["collections.OrderedDict", "safe"],
    ["numpy._core.multiarray._reconstruct", "unknown"], // read by ckpt, refused by torch's weights-only loader
    ["torch._utils._rebuild_qtensor", "safe"],
    ["collections.Counter", "safe"],
    ["builtins.frozenset", "unknown"],
    ["torch.Float8_e4m3fnStorage", "unknown"],
    ["torch.UntypedStorage", "unknown"],
    ["torch.storage.UntypedStorage", "safe"],
    ["torch.nn.modules.linear.Linear", "unknown"],
    ["os.system", "dangerous"],
    ["posix.system", "dangerous"],
    ["nt.system", "dangerous"],
    ["os.path.join", "dangerous"],
    ["subprocess.Popen", "dangerous"],
    ["builtins.eval", "dangerous"],
    ["__builtin__.exec", "dangerous"],
    ["builtins.getattr", "dangerous"],
    ["builtins.print", "unknown"],
    ["runpy._run_code", "dangerous"],
    ["importlib.import_module", "dangerous"],
    ["marshal.loads", "dangerous"],
    ["pickle.loads", "dangerous"],
    ["_pickle.loads", "dangerous"],
    ["socket.create_connection", "dangerous"],
    ["operator.attrgetter", "dangerous"],
    ["functools.partial", "dangerous"],
    ["types.CodeType", "dangerous"],
    ["pydoc.pipepager", "dangerous"],
    ["io.FileIO", "dangerous"],
    ["logging.FileHandler", "dangerous"],
    ["torch.serialization.load", "dangerous"],
    ["torch._inductor.codecache.compile_file", "dangerous"],
    ["webbrowser.open", "dangerous"],
    ["requests.api.get", "dangerous"],
    ["cloudpickle.cloudpickle._make_function", "dangerous"],
    ["cProfile.run", "dangerous"],
    ["pkgutil.resolve_name", "dangerous"],
    ["idlelib.pyshell.ModifiedInterpreter.runcode", "dangerous"],
    ["torch.utils.collect_env.run", "dangerous"],
    ["uuid._get_command_stdout", "dangerous"],
    ["uuid.UUID", "unknown"],
  ];
  for (const [name, verdict] of table) assert.equal(classifyGlobal(name), verdict, name);
});
