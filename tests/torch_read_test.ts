import assert from "node:assert/strict";
import { bytesSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { FormatError, LimitError, TruncatedError, UnsafePickleError } from "../lib/errors.ts";
import type { TensorFile } from "../lib/tensor.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import {
  dumpPickle,
  PickleGlobal,
  PickleObject,
  PicklePersistent,
  PickleTuple,
} from "../formats/pickle/mod.ts";
import { openTorch, type TorchFile } from "../formats/torch/mod.ts";
import { createZipWriter } from "../formats/zip/mod.ts";
import { DATA, listDir, runCli, tempDir } from "./_helpers.ts";

const TORCH = `${DATA}/torch`;

interface Expected {
  tensors: Record<string, { dtype: string; shape: number[]; hex?: string; sha256?: string }>;
  metadata: Record<string, string>;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(bytes: Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice())));
}

/** Every tensor's name, dtype, shape and every byte of its values, and the metadata, as torch wrote them. */
async function assertMatches(file: TensorFile, expected: Expected): Promise<void> {
  assert.deepEqual(file.tensors.map((t) => t.name).sort(), Object.keys(expected.tensors).sort());
  for (const entry of file.tensors) {
    const want = expected.tensors[entry.name];
    assert.equal(entry.dtype, want.dtype, entry.name);
    assert.deepEqual(entry.shape, want.shape, entry.name);
    const bytes = await entry.read();
    assert.equal(bytes.length, entry.byteLength, entry.name);
    if (want.hex !== undefined) assert.equal(hex(bytes), want.hex, entry.name);
    else assert.equal(await sha256(bytes), want.sha256, entry.name);
    // Reading into a caller's buffer gives the same bytes.
    const out = new Uint8Array(entry.byteLength + 8).fill(0xaa);
    assert.deepEqual(await entry.read(out), bytes, entry.name);
  }
  assert.deepEqual(Object.keys(file.metadata).sort(), Object.keys(expected.metadata).sort());
  for (const [key, value] of Object.entries(expected.metadata)) {
    assert.deepEqual(JSON.parse(file.metadata[key]), JSON.parse(value), key);
  }
}

async function expected(name: string): Promise<Expected> {
  return JSON.parse(await Deno.readTextFile(`${TORCH}/${name}.expected.json`));
}

Deno.test("openTensorFile() reads files written by torch.save, every value equal", async (t) => {
  const cases: [string, string, string, string][] = [
    ["a torchvision MobileNetV3 state dict", "mobilenet.pt", "mobilenet", "zip"],
    ["every storage dtype", "dtypes.pt", "dtypes", "zip"],
    ["views, strides, 0-d, empty and shared storages", "views.pt", "views", "zip"],
    ["the legacy format", "views_legacy.pt", "views_legacy", "legacy"],
    ["a training checkpoint with optimizer state and plain values", "checkpoint.pt", "checkpoint", "zip"],
  ];
  for (const [name, file, stem, layout] of cases) {
    await t.step(name, async () => {
      const opened = await openTensorFile(`${TORCH}/${file}`);
      try {
        assert.equal(opened.format, "torch");
        assert.equal((opened as TorchFile).layout, layout);
        await assertMatches(opened, await expected(stem));
      } finally {
        await opened.close();
      }
    });
  }
});

Deno.test("openTensorFile() reads plain pickles of numpy arrays (protocols 2 and 5)", async (t) => {
  for (const protocol of [2, 5]) {
    await t.step(`protocol ${protocol}`, async () => {
      const opened = await openTensorFile(`${TORCH}/numpy_p${protocol}.pkl`);
      try {
        assert.equal(opened.format, "pickle");
        await assertMatches(opened, await expected("numpy"));
      } finally {
        await opened.close();
      }
    });
  }
});

Deno.test("openTorch() with dedupeShared keeps one name per shared view and records the aliases", async () => {
  const file = await openTensorFile(`${TORCH}/views.pt`, { torch: { dedupeShared: true } });
  try {
    const names = file.tensors.map((t) => t.name);
    assert.ok(names.includes("tied_a") && !names.includes("tied_b"));
    // A different view of the same storage has different values: it stays.
    assert.ok(names.includes("offset_view"));
    assert.equal(file.metadata["tied_b"], "tied_a");
    assert.equal(names.length, 10);
  } finally {
    await file.close();
  }
});

Deno.test("openTorch() refuses a whole pickled nn.Module unless permissive, then names tensors as state_dict()", async (t) => {
  const classes = [
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.batchnorm.BatchNorm1d",
  ];
  await t.step("refused by default, every class named", async () => {
    await assert.rejects(openTensorFile(`${TORCH}/full_model.pt`), (e: Error) => {
      assert.ok(e instanceof UnsafePickleError);
      assert.deepEqual(e.globals, classes);
      assert.match(
        e.message,
        /torch\.nn\.modules\.container\.Sequential, torch\.nn\.modules\.linear\.Linear/,
      );
      return true;
    });
  });
  await t.step("permissive", async () => {
    const file = await openTensorFile(`${TORCH}/full_model.pt`, { torch: { permissive: true } }) as TorchFile;
    try {
      assert.deepEqual(file.placeholders, classes);
      await assertMatches(file, await expected("full_model"));
    } finally {
      await file.close();
    }
  });
});

async function torchZip(pickle: Uint8Array, records: Record<string, Uint8Array> = {}): Promise<Uint8Array> {
  const sink = memorySink();
  const zip = createZipWriter(sink);
  await zip.add("archive/data.pkl", pickle, { align: 64 });
  for (const [name, data] of Object.entries(records)) await zip.add(`archive/${name}`, data, { align: 64 });
  await zip.finish();
  await sink.close();
  return sink.bytes();
}

function rebuild(
  key: string,
  numel: number,
  offset: number,
  size: number[],
  stride: number[],
  storage = "FloatStorage",
) {
  const pid = new PicklePersistent(
    new PickleTuple(["storage", new PickleGlobal("torch", storage), key, "cpu", numel]),
    undefined,
  );
  return new PickleObject("torch._utils", "_rebuild_tensor_v2", [
    pid,
    offset,
    new PickleTuple(size),
    new PickleTuple(stride),
    false,
    new PickleObject("collections", "OrderedDict", []),
  ]);
}

function stateDict(entries: Record<string, PickleObject>): PickleObject {
  const od = new PickleObject("collections", "OrderedDict", []);
  for (const [k, v] of Object.entries(entries)) od.dictItems.set(k, v);
  return od;
}

Deno.test("openTorch() rejects malformed checkpoints with a clear error", async (t) => {
  const good = await Deno.readFile(`${TORCH}/views.pt`);
  const legacy = await Deno.readFile(`${TORCH}/views_legacy.pt`);
  const cases: [string, () => Promise<Uint8Array>, new (...args: never[]) => Error, RegExp][] = [
    [
      "a truncated zip",
      () => Promise.resolve(good.subarray(0, 1500)),
      FormatError,
      /no end-of-central-directory record/,
    ],
    [
      "a truncated legacy file",
      () => Promise.resolve(legacy.subarray(0, legacy.length - 10)),
      TruncatedError,
      /storage '\d+' \(\d+ bytes at \d+\) runs past the end of the file/,
    ],
    [
      "a legacy file cut inside its pickles",
      () => Promise.resolve(legacy.subarray(0, 200)),
      TruncatedError,
      /Cannot unpickle .*(ends|needs)/,
    ],
    [
      "a zip without data.pkl",
      () =>
        torchZip(new Uint8Array(0)).then((z) => {
          const copy = z.slice();
          // Rename archive/data.pkl to archive/data.pkX in both headers.
          for (let i = 0; i < copy.length - 8; i++) {
            if (new TextDecoder().decode(copy.subarray(i, i + 8)) === "data.pkl") copy[i + 7] = 0x58;
          }
          return copy;
        }),
      FormatError,
      /the zip archive has no archive\/data\.pkl record/,
    ],
    [
      "a missing storage record",
      () => torchZip(dumpPickle(stateDict({ w: rebuild("0", 4, 0, [4], [1]) }))),
      FormatError,
      /storage record archive\/data\/0 is missing/,
    ],
    [
      "a storage record shorter than its elements",
      () =>
        torchZip(dumpPickle(stateDict({ w: rebuild("0", 4, 0, [4], [1]) })), { "data/0": new Uint8Array(8) }),
      FormatError,
      /storage record archive\/data\/0 has 8 bytes but 4 F32 elements need 16/,
    ],
    [
      "a view reaching past its storage",
      () =>
        torchZip(dumpPickle(stateDict({ w: rebuild("0", 4, 2, [2, 2], [2, 1]) })), {
          "data/0": new Uint8Array(16),
        }),
      FormatError,
      /a F32 tensor of size \[2,2\], stride \[2,1\] at offset 2 reaches past storage '0' \(16 bytes\)/,
    ],
    [
      "size and stride of different rank",
      () =>
        torchZip(dumpPickle(stateDict({ w: rebuild("0", 4, 0, [4], [1, 1]) })), {
          "data/0": new Uint8Array(16),
        }),
      FormatError,
      /size \[4\] and stride \[1,1\] of a tensor in storage '0' differ in rank/,
    ],
    [
      "a storage type torch's loader does not allow (complex32)",
      () => torchZip(dumpPickle(stateDict({ w: rebuild("0", 4, 0, [4], [1], "ComplexHalfStorage") }))),
      UnsafePickleError,
      /imports torch\.ComplexHalfStorage/,
    ],
    [
      "a negative size",
      () =>
        torchZip(dumpPickle(stateDict({ w: rebuild("0", 4, 0, [-4], [1]) })), {
          "data/0": new Uint8Array(16),
        }),
      FormatError,
      /size holds -4/,
    ],
    [
      "a plain pickle with persistent ids",
      () => Promise.resolve(dumpPickle(stateDict({ w: rebuild("0", 4, 0, [4], [1]) }))),
      FormatError,
      /a plain pickle refers to persistent ids/,
    ],
  ];
  for (const [name, make, cls, pattern] of cases) {
    await t.step(name, async () => {
      const bytes = await make();
      await assert.rejects(openTorch(bytesSource(bytes, "bad.pt")), (e: Error) => {
        assert.ok(e instanceof cls, `${e.name}: ${e.message}`);
        assert.match(e.message, pattern);
        return true;
      });
    });
  }
});

Deno.test("ckpt convert refuses truncated, garbage and unsafe files with exit 2 and leaves no output", async (t) => {
  await using dir = await tempDir();
  const good = await Deno.readFile(`${TORCH}/views.pt`);
  const files: [string, Uint8Array | string, RegExp][] = [
    ["truncated.pt", good.subarray(0, 1000), /no end-of-central-directory record/],
    ["garbage.pt", new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 0xff), /Cannot tell the format/],
    ["broken.pkl", new Uint8Array([0x80, 2, 0x7d, 0x71]), /Cannot unpickle/],
    ["full_model.pt", `${TORCH}/full_model.pt`, /torch\.nn\.modules\.container\.Sequential/],
  ];
  for (const [name, content, pattern] of files) {
    await t.step(name, async () => {
      const input = `${dir.path}/${name}`;
      if (typeof content === "string") await Deno.copyFile(content, input);
      else await Deno.writeFile(input, content);
      const out = `${dir.path}/out.safetensors`;
      const result = await runCli(["convert", input, out]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.match(result.stderr, pattern);
      assert.deepEqual(
        (await listDir(dir.path)).filter((f) => f.startsWith("out") || f.endsWith(".partial")),
        [],
      );
    });
  }
});

Deno.test("openTorch() follows every rebuild function newer torch versions write", async (t) => {
  const floats = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const open = async (value: PickleObject) => {
    const zip = await torchZip(dumpPickle(stateDict({ w: value })), { "data/0": floats });
    const file = await openTorch(bytesSource(zip));
    assert.equal(file.tensors.length, 1);
    return file.tensors[0];
  };
  await t.step("_rebuild_parameter_with_state", async () => {
    const p = new PickleObject("torch._utils", "_rebuild_parameter_with_state", [
      rebuild("0", 4, 1, [3], [1]),
      true,
      new PickleObject("collections", "OrderedDict", []),
      new Map([["note", "x"]]),
    ]);
    const entry = await open(p);
    assert.deepEqual(new Float32Array((await entry.read()).slice().buffer), new Float32Array([2, 3, 4]));
  });
  await t.step("_rebuild_from_type_v2 around _rebuild_tensor_v2", async () => {
    const inner = rebuild("0", 4, 0, [2, 2], [1, 2]);
    const wrapped = new PickleObject("torch._tensor", "_rebuild_from_type_v2", [
      new PickleGlobal("torch._utils", "_rebuild_tensor_v2"),
      new PickleGlobal("torch", "Tensor"),
      new PickleTuple(inner.args),
      new Map(),
    ]);
    const entry = await open(wrapped);
    assert.deepEqual(entry.shape, [2, 2]);
    assert.deepEqual(new Float32Array((await entry.read()).slice().buffer), new Float32Array([1, 3, 2, 4]));
  });
  await t.step("_rebuild_tensor_v3 with an untyped storage and a dtype", async () => {
    const v3 = new PickleObject("torch._utils", "_rebuild_tensor_v3", [
      new PicklePersistent(
        new PickleTuple(["storage", new PickleGlobal("torch.storage", "UntypedStorage"), "0", "cpu", 16]),
        undefined,
      ),
      0,
      new PickleObject("torch", "Size", [new PickleTuple([8])]),
      new PickleTuple([1]),
      false,
      new PickleObject("collections", "OrderedDict", []),
      new PickleGlobal("torch", "bfloat16"),
    ]);
    const entry = await open(v3);
    assert.equal(entry.dtype, "BF16");
    assert.deepEqual(entry.shape, [8]);
    assert.deepEqual(await entry.read(), floats);
  });
});

Deno.test("openTorch() reads numpy pickles that name numpy 2's numpy._core", async () => {
  const bytes = await Deno.readFile(`${TORCH}/numpy_p2.pkl`);
  const text = String.fromCharCode(...bytes);
  assert.ok(text.includes("numpy.core.multiarray"));
  // Protocol 2 names globals on text lines, so the module can be renamed in place.
  const renamed = Uint8Array.from(
    text.replaceAll("numpy.core.multiarray", "numpy._core.multiarray"),
    (c) => c.charCodeAt(0),
  );
  const file = await openTorch(bytesSource(renamed));
  await assertMatches(file, await expected("numpy"));
});

Deno.test("openTorch() bounds a stride-0 view that would read far larger than the file", async () => {
  const path = `${TORCH}/expanded_huge.pt`;
  const file = await openTorch(bytesSource(await Deno.readFile(path)));
  try {
    const big = file.tensors.find((t) => t.name === "big")!;
    assert.deepEqual(big.shape, [65536, 65536]);
    assert.equal(big.byteLength, 2 ** 34);
    await assert.rejects(big.read(), (e: unknown) => {
      assert.ok(e instanceof LimitError);
      assert.match(e.message, /repeats 4 stored bytes into 17179869184 bytes.*maxExpandedViewBytes/);
      return true;
    });
    const small = file.tensors.find((t) => t.name === "small")!;
    assert.deepEqual(Array.from(new Float32Array((await small.read()).slice().buffer)), [0, 1, 2, 3]);
  } finally {
    await file.close();
  }
  // Within the limit the repeated elements are materialized (views.pt's small `expanded` reads as usual).
  const raised = await openTorch(bytesSource(await Deno.readFile(`${TORCH}/views.pt`)), {
    maxExpandedViewBytes: 8,
  });
  try {
    await assert.rejects(raised.tensors.find((t) => t.name === "expanded")!.read(), LimitError);
  } finally {
    await raised.close();
  }
  await using dir = await tempDir();
  const out = `${dir.path}/out.safetensors`;
  const run = await runCli(["convert", path, out]);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /^ckpt convert: Cannot read a F32 tensor of size \[65536,65536\]/m);
  assert.deepEqual(await listDir(dir.path), []);
});
