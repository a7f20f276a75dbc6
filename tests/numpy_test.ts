import assert from "node:assert/strict";
import { bytesSource, fileSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import { FormatError, LimitError, TruncatedError, UsageError } from "../lib/errors.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { openSource } from "../formats/open_tensor_file.ts";
import { encodeNpyHeader, openNpy, openNpz, writeNpy, writeNpz } from "../formats/numpy/mod.ts";
import { createZipWriter } from "../formats/zip/create_zip_writer.ts";
import { DATA, runPython, skipUnlessPython, tempDir } from "./_helpers.ts";
import { runVenv, skipUnlessVenv } from "./_oracles.ts";

const DIR = `${DATA}/numpy`;
const EXPECTED: Record<string, { descr: string; shape: number[]; hex: string }> = JSON.parse(
  await Deno.readTextFile(`${DIR}/expected.json`),
);
const DTYPE_OF: Record<string, string> = {
  b1: "BOOL",
  u1: "U8",
  i1: "I8",
  u2: "U16",
  i2: "I16",
  u4: "U32",
  i4: "I32",
  u8: "U64",
  i8: "I64",
  f2: "F16",
  f4: "F32",
  f8: "F64",
  c8: "C64",
};

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** An .npy built by hand: magic, version, header text padded like numpy's. */
function rawNpy(header: string, data: Uint8Array = new Uint8Array(0), major = 1, minor = 0): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  let text = header;
  while ((prefix + text.length + 1) % 64 !== 0) text += " ";
  text += "\n";
  const out = new Uint8Array(prefix + text.length + data.length);
  out.set(latin1("\x93NUMPY"));
  out[6] = major;
  out[7] = minor;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(latin1(text), prefix);
  out.set(data, prefix + text.length);
  return out;
}

const npyFiles = Object.keys(EXPECTED).filter((k) => k.endsWith(".npy"));

Deno.test("openNpy() reads every golden file numpy wrote with its exact values", async (t) => {
  for (const name of npyFiles) {
    await t.step(name, async () => {
      const want = EXPECTED[name];
      const file = await openNpy(await fileSource(`${DIR}/${name}`));
      try {
        const [entry] = file.tensors;
        assert.equal(entry.dtype, DTYPE_OF[want.descr.slice(1)]);
        assert.deepEqual(entry.shape, want.shape);
        const bytes = await entry.read();
        assert.equal(bytes.length, entry.byteLength);
        assert.equal(hex(bytes), want.hex);
        // Reading into a caller's buffer gives the same bytes.
        const out = new Uint8Array(entry.byteLength + 3);
        assert.equal(hex(await entry.read(out)), want.hex);
      } finally {
        await file.close();
      }
    });
  }
});

Deno.test("openNpz() reads savez and savez_compressed archives lazily with exact values", async (t) => {
  for (const archive of ["savez.npz", "savez_compressed.npz"]) {
    await t.step(archive, async () => {
      const file = await openSource(await fileSource(`${DIR}/${archive}`));
      try {
        assert.equal(file.format, "npz");
        const names = file.tensors.map((e) => e.name).sort();
        assert.deepEqual(names, ["bias", "layer.0.norm", "weight"]);
        for (const entry of file.tensors) {
          const want = EXPECTED[`${archive}:${entry.name}`];
          assert.deepEqual(entry.shape, want.shape);
          assert.equal(entry.dtype, DTYPE_OF[want.descr.slice(1)]);
          assert.equal(hex(await entry.read()), want.hex);
        }
      } finally {
        await file.close();
      }
    });
  }
});

Deno.test("writeNpy() writes the same bytes as np.save for little-endian C-order arrays", async (t) => {
  const cases = npyFiles.filter((n) => /^(dtype_|scalar|empty|vector|v2|v3)/.test(n));
  for (const name of cases) {
    await t.step(name, async () => {
      const original = await Deno.readFile(`${DIR}/${name}`);
      const file = await openNpy(bytesSource(original));
      const sink = memorySink();
      const version = name.startsWith("v2") ? 2 : name.startsWith("v3") ? 3 : undefined;
      await writeNpy(file, sink, { version });
      assert.deepEqual(sink.bytes(), original);
    });
  }
});

Deno.test("encodeNpyHeader() pads to 64 bytes with spaces and a newline, leaving numpy's growth room", () => {
  const bytes = encodeNpyHeader("F32", [3, 4]);
  const text = new TextDecoder().decode(bytes.subarray(10));
  assert.equal(bytes.length % 64, 0);
  assert.equal(text.at(-1), "\n");
  assert.match(text, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3, 4\), \} +\n$/);
  // 21 - len("3") growth spaces after the dict, then padding.
  assert.ok(text.indexOf("} ") > 0 && text.slice(text.indexOf("}") + 1).length >= 20);
});

Deno.test("writeNpy() and writeNpz() output is read back by numpy with the same values", {
  ignore: skipUnlessPython("numpy"),
}, async () => {
  await using dir = await tempDir();
  const names: string[] = [];
  for (const name of npyFiles) {
    const file = await openNpy(await fileSource(`${DIR}/${name}`));
    const sink = memorySink();
    await writeNpy(file, sink);
    await file.close();
    await Deno.writeFile(`${dir.path}/${name}`, sink.bytes());
    names.push(name);
  }
  for (const [archive, compress] of [["stored.npz", false], ["compressed.npz", true]] as const) {
    const file = await openNpz(await fileSource(`${DIR}/savez.npz`));
    const sink = memorySink();
    await writeNpz(file, sink, { compress });
    await file.close();
    await Deno.writeFile(`${dir.path}/${archive}`, sink.bytes());
  }
  const out = await runPython(
    `
import json, sys, numpy as np, zipfile
d = sys.argv[1]
result = {}
for name in json.loads(sys.argv[2]):
    a = np.load(f"{d}/{name}")
    result[name] = [a.dtype.str, list(a.shape), np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"))).tobytes().hex()]
for archive in ("stored.npz", "compressed.npz"):
    with np.load(f"{d}/{archive}") as z:
        for k in z.files:
            a = z[k]
            result[f"{archive}:{k}"] = [a.dtype.str, list(a.shape), a.tobytes().hex()]
    with zipfile.ZipFile(f"{d}/{archive}") as zf:
        result[f"{archive}:methods"] = sorted({i.compress_type for i in zf.infolist()})
print(json.dumps(result))
`,
    [dir.path, JSON.stringify(names)],
  );
  const got = JSON.parse(out);
  for (const name of names) {
    const want = EXPECTED[name];
    // numpy reads ckpt's output as little-endian, C order, same values.
    assert.equal(got[name][0].slice(1), want.descr.slice(1), name);
    assert.deepEqual(got[name][1], want.shape, name);
    assert.equal(got[name][2], want.hex, name);
  }
  for (const archive of ["stored.npz", "compressed.npz"]) {
    for (const key of ["weight", "bias", "layer.0.norm"]) {
      assert.equal(got[`${archive}:${key}`][2], EXPECTED[`savez.npz:${key}`].hex);
    }
  }
  assert.deepEqual(got["stored.npz:methods"], [0]);
  assert.deepEqual(got["compressed.npz:methods"], [8]);
});

Deno.test("openNpy() rejects malformed and hostile headers with a clear error", async (t) => {
  const f4 = new Uint8Array(8);
  const cases: [string, Uint8Array, new (...a: never[]) => Error, RegExp][] = [
    [
      "a bad magic",
      latin1("\x93NUMPX\x01\x00\x00\x00"),
      FormatError,
      /invalid magic '\?NUMPX', expected '\?NUMPY'/,
    ],
    ["version 4.0", rawNpy("{}", f4, 4, 0), FormatError, /unsupported version 4\.0/],
    ["version 1.1", rawNpy("{}", f4, 1, 1), FormatError, /unsupported version 1\.1/],
    [
      "a header longer than the file",
      Uint8Array.from([...latin1("\x93NUMPY\x01\x00"), 0xff, 0xff, 0x7b]),
      LimitError,
      /header length 65535 at offset 8 exceeds the 1 bytes that remain/,
    ],
    [
      "a v2 header over the limit",
      Uint8Array.from([...latin1("\x93NUMPY\x02\x00"), 0, 0, 0, 0x40, ...new Uint8Array(16)]),
      LimitError,
      /header length 1073741824 at offset 8 exceeds the limit of 1048576 bytes/,
    ],
    [
      "a header that is not a dict",
      rawNpy("('<f4', False, (2,))", f4),
      FormatError,
      /the header is not a dict/,
    ],
    [
      "missing keys",
      rawNpy("{'descr': '<f4', 'shape': (2,)}", f4),
      FormatError,
      /exactly the keys descr, fortran_order and shape \(found descr,shape\)/,
    ],
    [
      "code instead of a literal",
      rawNpy("{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (2,)}", f4),
      FormatError,
      /invalid header dict: unexpected '_' at character 10/,
    ],
    [
      "a structured dtype",
      rawNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", f4),
      FormatError,
      /structured dtypes are not supported/,
    ],
    [
      "float128 (long double)",
      rawNpy("{'descr': '<f16', 'fortran_order': False, 'shape': (2,)}", f4),
      FormatError,
      /dtype '<f16' has no ckpt equivalent/,
    ],
    [
      "an object array",
      rawNpy("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", f4),
      FormatError,
      /dtype '\|O' has no ckpt equivalent/,
    ],
    [
      "a negative dimension",
      rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", f4),
      FormatError,
      /shape is not a tuple of non-negative integers/,
    ],
    [
      "a float dimension",
      rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}", f4),
      FormatError,
      /only integers are allowed/,
    ],
    [
      "an absurd shape",
      rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", f4),
      FormatError,
      /shape \(4294967296, 4294967296\) is too large/,
    ],
    [
      "data shorter than the shape",
      rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", f4),
      TruncatedError,
      /the array needs 12 bytes from offset 128 but <memory> has 136 bytes/,
    ],
    [
      "a truncated header",
      rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}").subarray(0, 30),
      LimitError,
      /header length 118 at offset 8 exceeds the 20 bytes that remain/,
    ],
  ];
  for (const [what, bytes, errorClass, message] of cases) {
    await t.step(what, async () => {
      const error = await openNpy(bytesSource(bytes)).then(() => undefined, (e) => e);
      assert.ok(error instanceof errorClass, `${what}: got ${error}`);
      assert.match(error.message, message);
    });
  }
});

Deno.test("writeNpy() refuses inputs numpy can't hold", async (t) => {
  const cases: [string, () => Promise<void>, RegExp][] = [
    [
      "two tensors",
      () =>
        writeNpy({
          metadata: {},
          tensors: [
            tensorFromBytes("a", "U8", [1], new Uint8Array(1)),
            tensorFromBytes("b", "U8", [1], new Uint8Array(1)),
          ],
        }, memorySink()),
      /holds exactly one array but the input has 2 tensors/,
    ],
    [
      "bfloat16",
      () =>
        writeNpy(
          { metadata: {}, tensors: [tensorFromBytes("a", "BF16", [1], new Uint8Array(2))] },
          memorySink(),
        ),
      /Cannot write BF16 to npy: numpy has no such type/,
    ],
    [
      "duplicate names in an npz",
      () =>
        writeNpz({
          metadata: {},
          tensors: [
            tensorFromBytes("a", "U8", [1], new Uint8Array(1)),
            tensorFromBytes("a", "U8", [1], new Uint8Array(1)),
          ],
        }, memorySink()),
      /duplicate tensor name 'a'/,
    ],
  ];
  for (const [what, run, message] of cases) {
    await t.step(what, async () => {
      await assert.rejects(run, (e: Error) => e instanceof UsageError && message.test(e.message));
    });
  }
});

/** An npz whose one deflated member holds an npy header declaring `shape` and `payload` bytes of zeros. */
async function npzWith(shape: string, payload: number): Promise<Uint8Array> {
  const member = rawNpy(
    `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`,
    new Uint8Array(payload),
  );
  const sink = memorySink();
  const zip = createZipWriter(sink);
  await zip.add("x.npy", member, { method: "deflate" });
  await zip.finish();
  return sink.bytes();
}

function patchSizes(bytes: Uint8Array, size: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (let i = 0; i + 4 <= out.length; i++) {
    const sig = view.getUint32(i, true);
    if (sig === 0x04034b50) view.setUint32(i + 22, size, true);
    if (sig === 0x02014b50) view.setUint32(i + 24, size, true);
  }
  return out;
}

Deno.test("openNpz() refuses members whose sizes disagree and deflate bombs", async (t) => {
  await t.step("a member larger than its npy header says", async () => {
    const bytes = await npzWith("(2,)", 1 << 20);
    const error = await openNpz(bytesSource(bytes)).then(() => undefined, (e) => e);
    assert.ok(error instanceof FormatError);
    assert.match(error.message, /the zip declares 1048704 bytes but its npy header implies 136/);
  });
  await t.step("a zip that lies about a bomb's size", async () => {
    // The zip claims 136 bytes; the deflate stream holds a megabyte.
    const bytes = patchSizes(await npzWith("(2,)", 1 << 20), 136);
    const file = await openNpz(bytesSource(bytes));
    const error = await file.tensors[0].read().then(() => undefined, (e) => e);
    assert.ok(error instanceof FormatError);
    assert.match(error.message, /inflates past its declared size of 136 bytes/);
  });
  await t.step("a member whose header claims more than it holds", async () => {
    const bytes = patchSizes(await npzWith("(2,)", 0), 136);
    const error = await openNpz(bytesSource(bytes)).then((f) => f.tensors[0].read()).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof FormatError, String(error));
    assert.match(error.message, /inflates to 128 bytes, not the declared 136/);
  });
});

Deno.test("numpy formats are found by sniffing, not by extension", async () => {
  const npy = await openSource(bytesSource(await Deno.readFile(`${DIR}/dtype_f4.npy`)));
  assert.equal(npy.format, "npy");
  const npz = await openSource(bytesSource(await Deno.readFile(`${DIR}/savez_compressed.npz`)));
  assert.equal(npz.format, "npz");
});

Deno.test({
  name: "openNpy() reads numpy's complex128 arrays, big-endian ones too, as C128",
  ignore: skipUnlessVenv("numpy"),
  async fn() {
    await using dir = await tempDir();
    await runVenv(
      `import sys, numpy as np
a = np.array([1 + 2j, -3.5 - 4.25j, 1e300j], dtype=np.complex128)
np.save(sys.argv[1] + "/le.npy", a)
np.save(sys.argv[1] + "/be.npy", a.astype(">c16"))`,
      [dir.path],
    );
    const expected = new Float64Array([1, 2, -3.5, -4.25, 0, 1e300]);
    for (const name of ["le", "be"]) {
      const file = await openNpy(await fileSource(`${dir.path}/${name}.npy`));
      const [t] = file.tensors;
      assert.deepEqual([t.dtype, t.shape, t.byteLength], ["C128", [3], 48], name);
      assert.deepEqual(new Float64Array((await t.read()).slice().buffer), expected, name);
      await file.close();
    }
  },
});
