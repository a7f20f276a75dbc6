import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import {
  dumpPickle,
  loadPickle,
  PickleGlobal,
  PickleObject,
  pickleToJson,
  PickleTuple,
} from "../formats/pickle/mod.ts";
import { runPython, skipUnlessPython, tempDir } from "./_helpers.ts";

const value = new Map<unknown, unknown>([
  ["ints", [0, 255, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, 2n ** 64n, -(2n ** 70n)]],
  ["float", 0.5],
  ["text", "unicode é 😀"],
  ["bytes", new Uint8Array([0, 128, 255])],
  ["tuples", [new PickleTuple([]), new PickleTuple([1]), new PickleTuple([1, 2, 3, 4])]],
  [7, "int key"],
  ["set", new Set([1, 2])],
  ["od", Object.assign(new PickleObject("collections", "OrderedDict", []), {})],
  ["global", new PickleGlobal("torch", "float32")],
]) as Parameters<typeof dumpPickle>[0];
((value as Map<unknown, unknown>).get("od") as PickleObject).dictItems.set("k", 1);

Deno.test("dumpPickle() output reads back identically in loadPickle()", () => {
  const bytes = dumpPickle(value);
  assert.equal(bytes[0], 0x80);
  assert.equal(bytes[1], 2);
  const back = loadPickle(bytes).value;
  assert.deepEqual(pickleToJson(back), {
    ints: [
      0,
      255,
      65535,
      65536,
      -1,
      -(2 ** 31),
      2 ** 31,
      2 ** 53 - 1,
      "18446744073709551616",
      "-1180591620717411303424",
    ],
    float: 0.5,
    text: "unicode é 😀",
    bytes: { $bytes: "AID/" },
    tuples: [[], [1], [1, 2, 3, 4]],
    "7": "int key",
    set: [1, 2],
    od: { k: 1 },
    global: { $global: "torch.float32" },
  });
});

Deno.test("dumpPickle() output is read by CPython's pickle", { ignore: skipUnlessPython() }, async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/v.pkl`;
  // torch.float32 needs torch to unpickle; leave the global out for plain Python.
  const plain = new Map(value as Map<never, never>);
  plain.delete("global" as never);
  await Deno.writeFile(path, dumpPickle(plain));
  const out = await runPython(
    `import pickle, sys
v = pickle.load(open(sys.argv[1], "rb"))
print(repr(v))`,
    [path],
  );
  assert.equal(
    out.trim(),
    "{'ints': [0, 255, 65535, 65536, -1, -2147483648, 2147483648, 9007199254740991, 18446744073709551616, " +
      "-1180591620717411303424], 'float': 0.5, 'text': 'unicode é 😀', 'bytes': b'\\x00\\x80\\xff', " +
      "'tuples': [(), (1,), (1, 2, 3, 4)], 7: 'int key', 'set': {1, 2}, 'od': OrderedDict([('k', 1)])}",
  );
});

Deno.test("dumpPickle() refuses values that contain themselves", () => {
  const list: unknown[] = [];
  list.push(list);
  assert.throws(() => dumpPickle(list as never), (e: Error) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, "Cannot pickle a value that contains itself");
    return true;
  });
});
