// Keras files (.keras, .weights.h5, legacy .h5) against what Keras 3 reads:
// the committed files and the expected.json that tests/data/keras/make_keras_files.py
// dumped with them, and, where the oracle venv has Keras, files Keras writes now.

import assert from "node:assert/strict";
import { bytesSource } from "../lib/byte_source.ts";
import { FormatError, LimitError, TruncatedError } from "../lib/errors.ts";
import type { TensorFile } from "../lib/tensor.ts";
import { openSource, openTensorFile } from "../formats/open_tensor_file.ts";
import { openKeras, openKerasH5 } from "../formats/keras/mod.ts";
import { openSafetensors } from "../formats/safetensors/mod.ts";
import { DATA, listDir, REPO, runCli, tempDir } from "./_helpers.ts";
import { runVenv, skipUnlessVenv } from "./_oracles.ts";

const DIR = `${DATA}/keras`;
const SCRIPT = `${DIR}/make_keras_files.py`;

interface Expected {
  name: string;
  dtype: string;
  shape: number[];
  hex: string;
}
type ExpectedFiles = Record<string, Expected[]>;

const committed: ExpectedFiles = JSON.parse(await Deno.readTextFile(`${DIR}/expected.json`)).files;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The tensor ckpt should list for each of Keras' variables. A .weights.h5
 * holds no config, so its optimizer variables are numbered in the order
 * Keras saved `optimizer.variables`.
 */
function ckptName(file: string, expected: Expected[], index: number): string {
  const e = expected[index];
  if (!file.endsWith(".weights.h5") || !e.name.startsWith("optimizer/")) return e.name;
  const first = expected.findIndex((x) => x.name.startsWith("optimizer/"));
  return `${e.name.split("/").slice(0, 2).join("/")}/${index - first}`;
}

async function assertMatches(file: TensorFile, name: string, expected: Expected[]): Promise<void> {
  const names = expected.map((_, i) => ckptName(name, expected, i));
  // A .weights.h5 has no config to say the model's layer order: its layers come in HDF5's (name) order.
  const ordered = !name.endsWith(".weights.h5");
  const actual = file.tensors.map((t) => t.name);
  assert.deepEqual(
    ordered ? actual : actual.toSorted(),
    ordered ? names : names.toSorted(),
    `${name}: names`,
  );
  for (const [i, e] of expected.entries()) {
    const t = file.tensors.find((x) => x.name === names[i])!;
    assert.equal(t.dtype, e.dtype, `${name}: ${t.name} dtype`);
    assert.deepEqual(t.shape, e.shape, `${name}: ${t.name} shape`);
    assert.equal(t.byteLength, e.hex.length / 2, `${name}: ${t.name} byteLength`);
    assert.equal(hex(await t.read()), e.hex, `${name}: ${t.name} bytes`);
  }
}

async function checkFolder(dir: string, files: ExpectedFiles): Promise<void> {
  for (const [name, expected] of Object.entries(files)) {
    // By path (lazy synchronous reads) and from bytes (an in-memory source).
    const byPath = await openTensorFile(`${dir}/${name}`);
    try {
      assert.equal(byPath.format, name.endsWith(".keras") ? "keras" : "keras-h5");
      await assertMatches(byPath, name, expected);
    } finally {
      await byPath.close();
    }
    const bytes = await Deno.readFile(`${dir}/${name}`);
    const bySource = await openSource(bytesSource(bytes, name));
    try {
      await assertMatches(bySource, name, expected);
    } finally {
      await bySource.close();
    }
  }
}

Deno.test("Keras files read back the names, dtypes, shapes and bytes Keras 3.15 reads (committed files)", async () => {
  assert.deepEqual(Object.keys(committed).sort(), [
    "deflated.keras",
    "functional.h5",
    "functional.keras",
    "functional.weights.h5",
    "legacy_weights.h5",
    "sequential.keras",
    "sequential.weights.h5",
    "tf_keras_style.h5",
  ]);
  await checkFolder(DIR, committed);
});

Deno.test("openKeras() names optimizer slots as Keras does and lists float16, bfloat16 and int64 variables", async () => {
  const file = await openKeras(`${DIR}/functional.keras`);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  assert.equal(byName.get("optimizer/adam/iteration")?.dtype, "I64");
  assert.deepEqual(byName.get("optimizer/adam/dense_kernel_velocity")?.shape, [12, 3]);
  assert.equal(byName.get("half/kernel")?.dtype, "F16");
  assert.equal(byName.get("optimizer/adam/half_kernel_momentum")?.dtype, "F16");
  // The iteration counter after one fit step on one batch.
  assert.deepEqual([
    ...new BigInt64Array((await byName.get("optimizer/adam/iteration")!.read()).slice().buffer),
  ], [1n]);
  await file.close();
  const seq = await openKeras(`${DIR}/sequential.keras`);
  assert.equal(seq.tensors.find((t) => t.name === "head_bf16/kernel")?.dtype, "BF16");
  assert.ok(
    !seq.tensors.some((t) => t.name.startsWith("optimizer/")),
    "an uncompiled model has no optimizer",
  );
  await seq.close();
});

Deno.test("openKerasH5() reads gzip-compressed chunked datasets, bool, big-endian and tf.keras ':0' names", async () => {
  const file = await openKerasH5(`${DIR}/tf_keras_style.h5`);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  assert.equal(byName.get("wide/kernel")?.dtype, "F64");
  assert.deepEqual([...(await byName.get("counts/mask")!.read())], [1, 0, 1]);
  const bias = new Float32Array((await byName.get("wide/bias")!.read()).slice().buffer);
  const expected = committed["tf_keras_style.h5"].find((e) => e.name === "wide/bias")!;
  assert.equal(hex(new Uint8Array(bias.buffer)), expected.hex);
  assert.deepEqual(file.metadata, { keras_version: "2.15.0", backend: "tensorflow" });
  await file.close();
});

Deno.test({
  name: "Keras files written now by the venv's Keras read back as Keras reads them",
  ignore: skipUnlessVenv("keras", "h5py", "tensorflow"),
  async fn() {
    await using tmp = await tempDir("ckpt-keras-");
    await runVenv(
      "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
      [
        SCRIPT,
        tmp.path,
      ],
    );
    const fresh: ExpectedFiles = JSON.parse(await Deno.readTextFile(`${tmp.path}/expected.json`)).files;
    assert.deepEqual(Object.keys(fresh).sort(), Object.keys(committed).sort());
    await checkFolder(tmp.path, fresh);
  },
});

Deno.test("ckpt inspect counts a .keras file's optimizer variables as optimizer state", async () => {
  const { code, stdout, stderr } = await runCli(["inspect", `${DIR}/functional.keras`, "--json"]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout);
  assert.equal(report.format, "keras");
  const expected = committed["functional.keras"];
  const optimizer = expected.filter((e) => e.name.startsWith("optimizer/"));
  assert.equal(report.groups.optimizer.tensors, optimizer.length);
  assert.equal(report.groups.optimizer.bytes, optimizer.reduce((n, e) => n + e.hex.length / 2, 0));
  assert.equal(report.groups.buffers.tensors, 2, "BatchNormalization's moving statistics");
  const text = await runCli(["inspect", `${DIR}/functional.h5`]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /optimizer\s+26 tensors/);
});

Deno.test("ckpt convert model.keras model.safetensors keeps every name and byte", async () => {
  await using tmp = await tempDir("ckpt-keras-");
  const out = `${tmp.path}/model.safetensors`;
  const { code, stderr } = await runCli(["convert", `${DIR}/functional.keras`, out]);
  assert.equal(code, 0, stderr);
  const file = await openSafetensors(bytesSource(await Deno.readFile(out)));
  const expected = committed["functional.keras"];
  assert.deepEqual(file.tensors.map((t) => t.name).sort(), expected.map((e) => e.name).sort());
  for (const e of expected) {
    const t = file.tensors.find((x) => x.name === e.name)!;
    assert.equal(t.dtype, e.dtype);
    assert.deepEqual(t.shape, e.shape);
    assert.equal(hex(await t.read()), e.hex, e.name);
  }
  await file.close();
});

Deno.test({
  name: "safetensors reads a converted legacy .h5 file back with the values Keras loads",
  ignore: skipUnlessVenv("safetensors", "numpy"),
  async fn() {
    await using tmp = await tempDir("ckpt-keras-");
    const out = `${tmp.path}/model.safetensors`;
    const { code, stderr } = await runCli(["convert", `${DIR}/legacy_weights.h5`, out]);
    assert.equal(code, 0, stderr);
    const printed = await runVenv(
      "import json, sys; from safetensors.numpy import load_file\n" +
        "print(json.dumps({k: v.tobytes().hex() for k, v in load_file(sys.argv[1]).items()}))",
      [out],
    );
    const loaded = JSON.parse(printed);
    const expected = committed["legacy_weights.h5"];
    assert.deepEqual(Object.keys(loaded).sort(), expected.map((e) => e.name).sort());
    for (const e of expected) assert.equal(loaded[e.name], e.hex, e.name);
  },
});

/**
 * functional.weights.h5 with one global-heap object (the string "block", an
 * attribute value) whose size field claims 153 bytes instead of 5: HDF5
 * 1.14's heap decoder then loops and never returns.
 */
function loopingHeap(bytes: Uint8Array): Uint8Array {
  const pattern = [5, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode("block")];
  const at = bytes.findIndex((_, i) => pattern.every((b, k) => bytes[i + k] === b));
  assert.ok(at > 0, "the heap object is in the committed file");
  const corrupt = bytes.slice();
  corrupt[at] = 0x99;
  return corrupt;
}

async function badFiles(dir: string): Promise<Record<string, string>> {
  const weights = await Deno.readFile(`${DIR}/functional.weights.h5`);
  const keras = await Deno.readFile(`${DIR}/functional.keras`);
  const corrupt = weights.slice();
  for (let i = 800; i < 3000; i++) corrupt[i] ^= 0x5a;
  const files: Record<string, Uint8Array> = {
    "truncated.keras": keras.subarray(0, keras.length - 100),
    "truncated.weights.h5": weights.subarray(0, weights.length >> 1),
    "corrupt.weights.h5": corrupt,
  };
  const paths: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}`, bytes);
    paths[name] = `${dir}/${name}`;
  }
  for (
    const name of ["bad_no_weights.keras", "bad_declared_shape.h5", "bad_absurd_dims.h5", "not_keras.h5"]
  ) {
    paths[name] = `${DIR}/${name}`;
  }
  return paths;
}

const BAD: Record<string, { error: new (...args: never[]) => Error; message: RegExp }> = {
  "truncated.keras": { error: FormatError, message: /truncated\.keras: no end-of-central-directory record/ },
  "truncated.weights.h5": { error: TruncatedError, message: /truncated\.weights\.h5: it is truncated/ },
  "corrupt.weights.h5": { error: FormatError, message: /corrupt\.weights\.h5/ },
  "bad_no_weights.keras": {
    error: FormatError,
    message: /bad_no_weights\.keras: it has no model\.weights\.h5/,
  },
  "bad_declared_shape.h5": {
    error: LimitError,
    message:
      /tensor 'dense\/kernel' .*bad_declared_shape\.h5: shape \[1000, 1000\] declares 4000000 bytes but the file has/,
  },
  "bad_absurd_dims.h5": {
    error: LimitError,
    message: /tensor 'dense\/kernel' .*bad_absurd_dims\.h5: shape \[2147483648, 2147483648, 1048576\]/,
  },
  "not_keras.h5": { error: FormatError, message: /not_keras\.h5: it is an HDF5 file but not Keras weights/ },
};

Deno.test("Keras openers refuse bad input with typed errors naming the file and the tensor", async (t) => {
  await using tmp = await tempDir("ckpt-keras-");
  const paths = await badFiles(tmp.path);
  for (const [name, { error, message }] of Object.entries(BAD)) {
    await t.step(name, async () => {
      await assert.rejects(() => openTensorFile(paths[name]), (e: unknown) => {
        assert.ok(e instanceof error, `${name}: ${e}`);
        assert.match((e as Error).message, message);
        return true;
      });
      // The same from bytes, where the name is the source's.
      await assert.rejects(
        async () => openSource(bytesSource(await Deno.readFile(paths[name]), name)),
        (e: unknown) => e instanceof error,
      );
    });
  }
});

Deno.test("ckpt convert and inspect exit 2 on bad Keras input and write no output", async () => {
  await using tmp = await tempDir("ckpt-keras-");
  const paths = await badFiles(tmp.path);
  const outDir = `${tmp.path}/out`;
  await Deno.mkdir(outDir);
  for (const name of Object.keys(BAD)) {
    const convert = await runCli(["convert", paths[name], `${outDir}/model.safetensors`]);
    assert.equal(convert.code, 2, `${name}: ${convert.stderr}`);
    assert.match(convert.stderr, new RegExp(name.replace(".", "\\.")));
    // One message line: the HDF5 library's own error stack never reaches the console.
    assert.equal(convert.stderr.trim().split("\n").length, 1, convert.stderr);
    assert.doesNotMatch(convert.stderr, /HDF5-DIAG|#000/);
    assert.deepEqual(await listDir(outDir), [], `${name}: no output`);
  }
  // HDF5 looping on a corrupt global heap: stopped, exit 2, and the process ends.
  const bytes = await Deno.readFile(`${DIR}/functional.weights.h5`);
  const looping = `${tmp.path}/looping.weights.h5`;
  await Deno.writeFile(looping, loopingHeap(bytes));
  const loop = await runCli(["convert", looping, `${outDir}/model.safetensors`]);
  assert.equal(loop.code, 2, loop.stderr);
  assert.match(loop.stderr, /looping\.weights\.h5: the HDF5 library ran 1500 ms without reading the file/);
  assert.deepEqual(await listDir(outDir), []);
  const inspect = await runCli(["inspect", paths["bad_declared_shape.h5"]]);
  assert.equal(inspect.code, 2);
  assert.match(inspect.stderr, /dense\/kernel/);
});

Deno.test("openKerasH5() stops HDF5 looping on a corrupt global heap with a LimitError, then reads the next file", async () => {
  // In a child process: Deno cannot interrupt a worker stuck in WebAssembly, so the stopped
  // thread spins until its process exits, and it must not be this one.
  await using tmp = await tempDir("ckpt-keras-");
  await Deno.writeFile(
    `${tmp.path}/looping.weights.h5`,
    loopingHeap(await Deno.readFile(`${DIR}/functional.weights.h5`)),
  );
  const script = `${tmp.path}/check.ts`;
  await Deno.writeTextFile(
    script,
    `import { openKerasH5 } from ${JSON.stringify(`${REPO}/formats/keras/mod.ts`)};
import { bytesSource } from ${JSON.stringify(`${REPO}/lib/byte_source.ts`)};
const started = performance.now();
let error;
try {
  await openKerasH5(bytesSource(await Deno.readFile(Deno.args[0]), "looping.weights.h5"));
} catch (e) {
  error = { name: e.name, message: e.message };
}
const ms = performance.now() - started;
const file = await openKerasH5(Deno.args[1]);
const first = { name: file.tensors[0].name, bytes: [...await file.tensors[0].read()] };
await file.close();
console.log(JSON.stringify({ error, ms, first }));
`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      `--config=${REPO}/deno.json`,
      script,
      `${tmp.path}/looping.weights.h5`,
      `${DIR}/sequential.weights.h5`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const { error, ms, first } = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(error?.name, "LimitError");
  assert.match(error.message, /looping\.weights\.h5: the HDF5 library ran 1500 ms without reading the file/);
  assert.ok(ms < 15_000, `stopped after ${ms} ms, long before the 30 s time limit`);
  // A fresh reader serves the next file.
  const expected = committed["sequential.weights.h5"].find((e) => e.name === first.name)!;
  assert.equal(hex(Uint8Array.from(first.bytes)), expected.hex);
});
