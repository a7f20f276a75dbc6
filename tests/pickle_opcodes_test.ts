import assert from "node:assert/strict";
import { DEFAULT_ALLOWED_GLOBALS, OP, opcodeEffect, sniffPickle } from "../formats/pickle/mod.ts";
import { sniffTorch } from "../formats/torch/format.ts";
import { DATA, hasPython, runPython } from "./_helpers.ts";
import { runVenv, skipUnlessVenv } from "./_oracles.ts";

Deno.test({
  name: "OP names every opcode with the code CPython's pickletools gives it",
  ignore: !hasPython(),
  async fn() {
    const table = JSON.parse(
      await runPython(`import json, pickletools
print(json.dumps({o.name: ord(o.code.encode("latin-1")) for o in pickletools.opcodes}))`),
    );
    assert.deepEqual({ ...OP }, table);
    for (const code of Object.values(OP)) assert.ok(opcodeEffect(code), `0x${code.toString(16)}`);
  },
});

Deno.test({
  name: "DEFAULT_ALLOWED_GLOBALS is exactly torch 2.x's weights-only allowlist",
  ignore: skipUnlessVenv("torch"),
  async fn() {
    const torch = JSON.parse(
      await runVenv(`import json, torch
from torch._weights_only_unpickler import _get_allowed_globals
print(json.dumps(sorted(_get_allowed_globals())))`),
    ) as string[];
    assert.deepEqual([...DEFAULT_ALLOWED_GLOBALS].sort(), torch);
  },
});

Deno.test("sniffPickle() recognises CPython's pickles of every protocol and nothing else", async (t) => {
  for (const protocol of [0, 1, 2, 3, 4, 5]) {
    await t.step(`protocol ${protocol}, written by CPython`, async () => {
      const bytes = await Deno.readFile(`${DATA}/pickle/values_p${protocol}.pkl`);
      assert.equal(sniffPickle(bytes.subarray(0, 64), bytes.length), true);
      assert.equal(sniffTorch(bytes.subarray(0, 64), bytes.length), true);
    });
  }
  const text = (s: string) => new TextEncoder().encode(s);
  const others: [string, Uint8Array][] = [
    ["text", text("hello world\n")],
    ["JSON", text('{"a": 1}')],
    ["garbage", new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])],
    ["npy", text("\x93NUMPY\x01\x00v\x00{'descr': '<f4'")],
    ["ONNX", new Uint8Array([0x08, 0x07, 0x12, 0x07, 0x70, 0x79, 0x74, 0x6f, 0x72, 0x63, 0x68])],
    ["safetensors", new Uint8Array([0x58, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x22])],
    ["a POP on an empty stack", text("0N.")],
    ["PROTO 6", new Uint8Array([OP.PROTO, 6, OP.NONE, OP.STOP])],
    ["a negative BINSTRING length", new Uint8Array([OP.BINSTRING, 0xff, 0xff, 0xff, 0xff, OP.STOP])],
  ];
  for (const [name, bytes] of others) {
    await t.step(name, () => assert.equal(sniffPickle(bytes), false));
  }
  await t.step(
    "GGUF (whose 'G' is BINFLOAT, and an 11781-tensor count's second byte a STOP) goes to GGUF",
    () => {
      // GGUF, version 3, tensor count 0x2e05, kv count 1.
      const gguf = Uint8Array.from([
        ...text("GGUF"),
        3,
        0,
        0,
        0,
        0x05,
        0x2e,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
      ]);
      assert.equal(sniffPickle(gguf), true); // a valid pickle prefix indeed
      assert.equal(sniffTorch(gguf, 1 << 20), false);
    },
  );
  await t.step("a pickle cut short, or broken after naming a global, still sniffs as one", () => {
    assert.equal(sniffPickle(new Uint8Array([OP.PROTO, 2, OP.EMPTY_DICT, OP.BINPUT])), true);
    assert.equal(sniffPickle(text("cos\nsystem\n\xff")), true);
  });
});
