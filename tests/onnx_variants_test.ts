// Every weight of real ONNX models, and the fp16 / 8-bit / 4-bit variants as
// graph rewrites: checked against onnxruntime's own Python quantizers (the
// weight bytes), onnxruntime-node and transformers.js (they load and run the
// variants), and onnx (the written models check and hold the right values).

import assert from "node:assert/strict";
import { FormatError, LimitError } from "../lib/errors.ts";
import { cast, mapEntries, pipe } from "../lib/pipeline.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import {
  makeOnnxVariant,
  type OnnxScheme,
  openOnnxPath,
  writeOnnxPath,
  writeOnnxVariantPath,
} from "../formats/onnx/mod.ts";
import { compareOnnxModels } from "../formats/onnx_runtime/mod.ts";
import { DATA, REPO, runCli, tempDir } from "./_helpers.ts";
import { modelProto, tensorProto } from "./_onnx_models.ts";
import { hasNodeOracle, hasVenv, NODE_ORACLES, runVenv, VENV_PYTHON } from "./_oracles.ts";

const SCRIPT = `${DATA}/onnx/make_variant_models.py`;
const NO_VENV = !hasVenv("onnx", "onnxruntime", "torch", "transformers");
if (NO_VENV) {
  console.warn(`skipping: ${VENV_PYTHON} with onnx, onnxruntime, torch and transformers is needed`);
}
const NO_TJS = NO_VENV || !hasNodeOracle("@huggingface/transformers");
if (NO_TJS) console.warn(`skipping: transformers.js is not installed in ${NODE_ORACLES}`);
const CLI_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env"];

let made: Promise<string> | undefined;

/** The models of make_variant_models.py, made once per version of the script. */
function models(): Promise<string> {
  made ??= (async () => {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(SCRIPT)));
    const tag = Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
    const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/ckpt-onnx-variants-${tag}`;
    try {
      await Deno.stat(`${dir}/ort/bert_fp16.onnx`);
      return dir;
    } catch {
      // Not made yet.
    }
    const work = await Deno.makeTempDir({ prefix: "ckpt-onnx-variants-" });
    const out = await new Deno.Command(VENV_PYTHON, {
      args: [SCRIPT, work],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (!out.success) {
      throw new Error(`make_variant_models.py failed:\n${new TextDecoder().decode(out.stderr)}`);
    }
    try {
      await Deno.rename(work, dir);
    } catch {
      await Deno.remove(work, { recursive: true });
    }
    return dir;
  })();
  return made;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test({
  name:
    "openOnnx() finds every weight: subgraph initializers, Constant values and sparse initializers, by graph path",
  ignore: NO_VENV,
  async fn() {
    const dir = await models();
    const ref: Record<string, string> = JSON.parse(await Deno.readTextFile(`${dir}/graphs_ref.json`));
    const file = await openOnnxPath(`${dir}/graphs.onnx`);
    try {
      const got: Record<string, string> = {};
      for (const t of file.tensors) got[t.name] = hex(await t.read());
      assert.deepEqual(Object.keys(got).sort(), Object.keys(ref).sort());
      assert.deepEqual(got, ref);
      // Spot-check the names a user sees.
      for (
        const name of [
          "the_if/then_branch/TW",
          "the_if/else_branch/ec",
          "the_loop/body/LB",
          "SP/indices",
          "some_f",
        ]
      ) {
        assert.ok(name in got, name);
      }
    } finally {
      await file.close();
    }
  },
});

Deno.test({
  name:
    "writeOnnxPath() puts every changed tensor back where it came from (subgraphs, Constants, sparse values)",
  ignore: NO_VENV,
  async fn() {
    const dir = await models();
    await using tmp = await tempDir();
    const out = `${tmp.path}/negated.onnx`;
    const model = await openOnnxPath(`${dir}/graphs.onnx`);
    const negate = mapEntries((e) => {
      if (e.dtype !== "F32") return e;
      return {
        name: e.name,
        dtype: e.dtype,
        shape: e.shape,
        byteLength: e.byteLength,
        read: async () => {
          const v = new Float32Array((await e.read()).slice().buffer);
          return tensorFromBytes(e.name, "F32", e.shape, new Uint8Array(v.map((x) => -x).buffer)).read();
        },
      };
    });
    await writeOnnxPath(pipe(model, negate), out, { input: `${dir}/graphs.onnx` });
    await model.close();
    // onnx checks the copy and walks it as make_variant_models.py walked the source.
    const result = JSON.parse(
      await runVenv(
        `
import sys, json, onnx, numpy as np
from onnx import numpy_helper as nh
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
vals = {}
def walk(g, p):
    for t in g.initializer: vals[p + t.name] = nh.to_array(t).tolist()
    for s in g.sparse_initializer: vals[p + s.values.name] = nh.to_array(s.values).tolist()
    for n in g.node:
        for a in n.attribute:
            if n.op_type == "Constant" and a.name == "value": vals[p + n.output[0]] = nh.to_array(a.t).tolist()
            if a.name == "value_float": vals[p + n.output[0]] = [a.f]
            if a.name == "value_floats": vals[p + n.output[0]] = list(a.floats)
            if a.name == "value_ints": vals[p + n.output[0]] = list(a.ints)
            if a.type == onnx.AttributeProto.GRAPH: walk(a.g, f"{p}{n.name}/{a.name}/")
walk(m.graph, "")
print(json.dumps(vals))
`,
        [out],
      ),
    );
    const ref: Record<string, string> = JSON.parse(await Deno.readTextFile(`${dir}/graphs_ref.json`));
    const source = await openOnnxPath(`${dir}/graphs.onnx`);
    let checked = 0;
    for (const t of source.tensors) {
      const bytes = await t.read();
      const values = t.dtype === "F32"
        ? Array.from(new Float32Array(bytes.slice().buffer), (x) => -x)
        : t.dtype === "I64"
        ? Array.from(new BigInt64Array(bytes.slice().buffer), Number)
        : undefined;
      if (t.dtype === "F32") assert.ok(t.name in result, `${t.name} is in the copy`);
      if (values === undefined || !(t.name in result)) continue;
      assert.deepEqual([result[t.name]].flat(3), values, t.name);
      checked++;
    }
    // 6 float tensors (TW and LB in a branch and the loop body, the Constant ec in a branch,
    // value_float, value_floats, the sparse values) and 2 int64 ones (an initializer, value_ints).
    assert.equal(checked, 8);
    assert.ok(Object.keys(ref).length > checked);
    await source.close();
  },
});

// Silero VAD v5 as shipped in an npm package: its weights live in If branches and Constant nodes.
let silero: Promise<string | undefined> | undefined;
function sileroVad(): Promise<string | undefined> {
  silero ??= (async () => {
    const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/ckpt-silero-vad-web-0.0.31`;
    const path = `${dir}/package/dist/silero_vad_v5.onnx`;
    try {
      await Deno.stat(path);
      return path;
    } catch {
      // Fetch it below.
    }
    await Deno.mkdir(dir, { recursive: true });
    const pack = await new Deno.Command("npm", {
      // Bounded, so a machine without the registry skips quickly.
      args: ["pack", "@ricky0123/vad-web@0.0.31", "--silent", "--fetch-timeout=30000", "--fetch-retries=0"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output().catch(() => undefined);
    if (!pack?.success) return undefined;
    const tar = await new Deno.Command("tar", { args: ["xzf", "ricky0123-vad-web-0.0.31.tgz"], cwd: dir })
      .output();
    return tar.success ? path : undefined;
  })();
  return silero;
}

Deno.test("ckpt inspect counts Silero VAD v5's weights in If branches and Constant nodes, and writes them back", async (t) => {
  const path = await sileroVad();
  if (!path) {
    console.warn("skipping: npm could not fetch @ricky0123/vad-web@0.0.31");
    return;
  }
  await t.step("inspect: 345 tensors, ~all of the file", async () => {
    const r = await runCli(["inspect", path, "--json"], { permissions: CLI_PERMISSIONS });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.tensors.length, 345);
    const bytes = report.tensors.reduce((n: number, x: { bytes: number }) => n + x.bytes, 0);
    const size = (await Deno.stat(path)).size;
    assert.ok(bytes / size > 0.9, `${bytes} of ${size}`);
    assert.equal(new Set(report.tensors.map((x: { name: string }) => x.name)).size, 345);
  });
  await using tmp = await tempDir();
  await t.step("its own tensors reproduce it byte for byte", async () => {
    const model = await openOnnxPath(path);
    await writeOnnxPath(model, `${tmp.path}/same.onnx`, { input: path });
    await model.close();
    assert.deepEqual(await Deno.readFile(`${tmp.path}/same.onnx`), await Deno.readFile(path));
  });
  await t.step(
    "float16-rounded weights written back into every branch still run in onnxruntime",
    async () => {
      const model = await openOnnxPath(path);
      await writeOnnxPath(pipe(model, cast("F16")), `${tmp.path}/f16.onnx`, { input: path });
      await model.close();
      const changed = await openOnnxPath(`${tmp.path}/f16.onnx`);
      const original = await openOnnxPath(path);
      let differ = 0;
      for (let i = 0; i < original.tensors.length; i++) {
        if (hex(await original.tensors[i].read()) !== hex(await changed.tensors[i].read())) differ++;
      }
      await changed.close();
      await original.close();
      assert.ok(differ >= 30, `${differ} tensors changed`);
      // One 512-sample window of a seeded signal, at 16 kHz, from the zero state.
      const ort = (await import("onnxruntime-node")).default;
      const signal = Float32Array.from(
        { length: 512 },
        (_, i) => Math.sin(i / 7) * 0.3 + Math.sin(i * 1.3) * 0.1,
      );
      const feeds = {
        input: new ort.Tensor("float32", signal, [1, 512]),
        state: new ort.Tensor("float32", new Float32Array(256), [2, 1, 128]),
        sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []),
      };
      const outputs: Float32Array[] = [];
      for (const file of [path, `${tmp.path}/f16.onnx`]) {
        const session = await ort.InferenceSession.create(file);
        const result = await session.run(feeds);
        outputs.push(
          Float32Array.from([
            ...(result.output.data as Float32Array),
            ...(result.stateN.data as Float32Array),
          ]),
        );
        await session.release();
      }
      const [a, b] = outputs;
      let dot = 0, na = 0, nb = 0, diff = 0;
      for (let i = 0; i < a.length; i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
      }
      const r = { cosine: dot / Math.sqrt(na * nb), maxAbsDiff: diff };
      assert.ok(r.cosine > 0.999 && r.maxAbsDiff > 0, JSON.stringify(r));
    },
  );
});

const VARIANTS: [
  string,
  { scheme: OnnxScheme; perChannel?: boolean; asymmetric?: boolean; blockSize?: number },
][] = [
  ["int8", { scheme: "int8" }],
  ["uint8", { scheme: "uint8" }],
  ["int8pc", { scheme: "int8", perChannel: true }],
  ["q4", { scheme: "q4" }],
  ["q4a", { scheme: "q4", asymmetric: true }],
  ["q4b64", { scheme: "q4", blockSize: 64 }],
  ["bnb4", { scheme: "bnb4" }],
];
const SOURCES: Record<string, string> = { toy: "toy.onnx", conv: "conv.onnx", bert: "bert/onnx/model.onnx" };

Deno.test({
  name:
    "int8, uint8, per-channel and q4 weights are byte-equal to onnxruntime's quantizers, files at most 5% larger",
  ignore: NO_VENV,
  async fn() {
    const dir = await models();
    await using tmp = await tempDir();
    const pairs: string[] = [];
    for (const [name, source] of Object.entries(SOURCES)) {
      for (const [tag, options] of VARIANTS) {
        const out = `${tmp.path}/${name}_${tag}.onnx`;
        await writeOnnxVariantPath(`${dir}/${source}`, out, options);
        pairs.push(`${dir}/ort/${name}_${tag}.onnx,${out}`);
      }
    }
    // Inside If branches: q4 as MatMulNBitsQuantizer does, int8 as quantize_dynamic with EnableSubgraph.
    await writeOnnxVariantPath(`${dir}/graphs.onnx`, `${tmp.path}/graphs_q4.onnx`, { scheme: "q4" });
    pairs.push(`${dir}/ort/graphs_q4.onnx,${tmp.path}/graphs_q4.onnx`);
    await writeOnnxVariantPath(`${dir}/branches.onnx`, `${tmp.path}/branches_int8.onnx`, { scheme: "int8" });
    pairs.push(`${dir}/ort/branches_int8.onnx,${tmp.path}/branches_int8.onnx`);
    // Gemm with a transposed weight, rewritten to MatMul + Add first.
    for (const [tag, options] of VARIANTS.slice(0, 3)) {
      await writeOnnxVariantPath(`${DATA}/onnx/mlp.onnx`, `${tmp.path}/mlp_${tag}.onnx`, options);
      pairs.push(`${dir}/ort/mlp_${tag}.onnx,${tmp.path}/mlp_${tag}.onnx`);
    }
    const report = JSON.parse(
      await runVenv(
        `
import sys, os, json, onnx
from onnx import numpy_helper as nh
def inits(path):
    found = {}
    def walk(g, p):
        for t in g.initializer: found[p + t.name] = nh.to_array(t)
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH: walk(a.g, f"{p}{n.name}/{a.name}/")
    walk(onnx.load(path).graph, "")
    return found
out = []
for pair in sys.argv[1:]:
    a, b = pair.split(",")
    A, B = inits(a), inits(b)
    weights = [k for k in A if k.endswith(("_quantized", "_scale", "_zero_point", "_Q4", "_scales", "_zero_points",
                                           "_Bnb4", "_absmax"))]
    differ = [k for k in weights if k not in B or A[k].dtype != B[k].dtype or A[k].shape != B[k].shape
              or A[k].tobytes() != B[k].tobytes()]
    out.append({"pair": os.path.basename(a), "weights": len(weights), "differ": differ,
                "same_names": sorted(A) == sorted(B), "ratio": os.path.getsize(b) / os.path.getsize(a)})
print(json.dumps(out))
`,
        pairs,
      ),
    );
    for (const r of report) {
      assert.ok(r.weights > 0, r.pair);
      assert.deepEqual(r.differ, [], r.pair);
      assert.ok(r.same_names, `${r.pair}: the same initializers`);
      assert.ok(r.ratio <= 1.05, `${r.pair}: ${r.ratio}`);
    }
    assert.equal(report.length, 26);
    assert.equal(report.find((r: { pair: string }) => r.pair === "mlp_int8.onnx").weights, 9);
    const mlp = await compareOnnxModels(`${DATA}/onnx/mlp.onnx`, `${tmp.path}/mlp_int8.onnx`, { random: 50 });
    assert.ok(mlp.top1Agreement >= 0.95 && mlp.cosine > 0.99, JSON.stringify(mlp));
    assert.equal(report.find((r: { pair: string }) => r.pair === "branches_int8.onnx").weights, 6);
    // onnxruntime-node runs the branch that quantizes an outer graph's input and weight.
    const run = await compareOnnxModels(`${dir}/branches.onnx`, `${tmp.path}/branches_int8.onnx`, {
      random: 8,
    });
    assert.ok(run.cosine > 0.99, `${run.cosine}`);
  },
});

Deno.test({
  name:
    "fp16 tensors equal onnxruntime's float16 converter's in every graph; IO stays float32, block-listed ops run in float32",
  ignore: NO_VENV,
  async fn() {
    const dir = await models();
    await using tmp = await tempDir();
    const pairs: string[] = [];
    for (const [name, source] of Object.entries({ ...SOURCES, graphs: "graphs.onnx", fp16: "fp16.onnx" })) {
      const out = `${tmp.path}/${name}_fp16.onnx`;
      await writeOnnxVariantPath(`${dir}/${source}`, out, { scheme: "fp16" });
      pairs.push(`${dir}/ort/${name}_fp16.onnx,${out}`);
    }
    const report = JSON.parse(
      await runVenv(
        `
import sys, os, json, onnx, numpy as np
from onnx import numpy_helper as nh
import onnxruntime as ort
def tensors(m):
    out = {}
    def walk(g, p):
        for t in g.initializer: out[p + t.name] = nh.to_array(t)
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR: out[p + n.name + "/" + a.name] = nh.to_array(a.t)
                if a.type == onnx.AttributeProto.GRAPH: walk(a.g, f"{p}{n.name}/{a.name}/")
    walk(m.graph, "")
    return out
res = []
for pair in sys.argv[1:]:
    a, b = pair.split(",")
    A, mb = tensors(onnx.load(a)), onnx.load(b)
    onnx.checker.check_model(mb)
    B = tensors(mb)
    res.append({"pair": os.path.basename(a), "tensors": len(A),
                "half": sum(1 for v in B.values() if v.dtype == np.float16),
                "differ": [k for k in A if k not in B or A[k].dtype != B[k].dtype or A[k].tobytes() != B[k].tobytes()],
                "io": sorted({v.type.tensor_type.elem_type for v in list(mb.graph.input) + list(mb.graph.output)}),
                "ops": [[n.op_type, list(n.input), list(n.output)] for n in mb.graph.node]})
print(json.dumps(res))
`,
        pairs,
      ),
    );
    for (const r of report) {
      assert.deepEqual(r.differ, [], r.pair);
      assert.ok(r.half > 0, r.pair);
      assert.ok(!r.io.includes(10), `${r.pair}: float16 in the graph's inputs or outputs`);
    }
    assert.equal(report.length, 5);
    // TopK and Min read float32 through casts; the clamped constants are ±65504 and ±2^-24 in float16.
    const edge = report.find((r: { pair: string }) => r.pair === "fp16_fp16.onnx");
    const reads = (op: string) => edge.ops.find((o: [string, string[]]) => o[0] === op)[1];
    assert.ok(reads("TopK")[0].endsWith("_cast_to_fp32"));
    // TopK's float32 result goes straight into Min: the float16 round trip between them is removed.
    const topk = edge.ops.find((o: [string, string[], string[]]) => o[0] === "TopK");
    assert.deepEqual(reads("Min"), [topk[2][0], "floor"]);
    assert.equal(edge.ops.filter((o: [string]) => o[0] === "Cast").length, 4); // x in, y out, into TopK, out of Min
    const model = await openOnnxPath(`${tmp.path}/fp16_fp16.onnx`);
    const c = model.tensors.find((t) => t.name === "C")!;
    assert.equal(c.dtype, "F16");
    const half = new Float16Array((await c.read()).slice().buffer);
    assert.deepEqual(Array.from(half.slice(0, 4)), [65504, -65504, 2 ** -24, -(2 ** -24)]);
    await model.close();
    // onnxruntime-node runs it, casts and all.
    const run = await compareOnnxModels(`${dir}/fp16.onnx`, `${tmp.path}/fp16_fp16.onnx`, { random: 2 });
    assert.equal(run.inputs, 4);
  },
});

Deno.test({
  name: "onnxruntime-node runs every variant and its outputs stay close to fp32",
  ignore: NO_VENV,
  async fn(t) {
    const dir = await models();
    await using tmp = await tempDir();
    const schemes: [OnnxScheme, number][] = [
      ["fp16", 0.999],
      ["int8", 0.99],
      ["uint8", 0.99],
      ["q8", 0.99],
      ["q4", 0.98],
      ["q4f16", 0.98],
      ["bnb4", 0.98],
    ];
    for (const [name, source] of Object.entries(SOURCES)) {
      for (const [scheme, floor] of schemes) {
        await t.step(`${name} ${scheme}`, async () => {
          const out = `${tmp.path}/${name}_${scheme}.onnx`;
          const s = await writeOnnxVariantPath(`${dir}/${source}`, out, { scheme });
          assert.ok(s.outputBytes < s.inputBytes * (scheme === "fp16" ? 0.75 : 0.6), `${s.outputBytes}`);
          if (name === "conv" && scheme === "int8") {
            // onnxruntime-node 1.20 has no int8 ConvInteger kernel (hence q8 = uint8 with Conv); onnxruntime 1.30 runs it.
            await assert.rejects(compareOnnxModels(`${dir}/${source}`, out), /ConvInteger/);
            const cos = await runVenv(
              `
import sys, numpy as np, onnxruntime as ort
x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
a, b = (ort.InferenceSession(p).run(None, {"x": x})[0].ravel() for p in sys.argv[1:])
print(float(a @ b / np.sqrt((a @ a) * (b @ b))))
`,
              [`${dir}/${source}`, out],
            );
            assert.ok(Number(cos) >= floor, cos);
            return;
          }
          const r = await compareOnnxModels(`${dir}/${source}`, out, { random: 4, seed: 3 });
          assert.ok(r.cosine >= floor, `cosine ${r.cosine}`);
          assert.ok(r.maxAbsDiff > 0);
        });
      }
    }
    // q8 is uint8 where the model has Conv (onnxruntime-web has no int8 ConvInteger).
    const conv = await openOnnxPath(`${dir}/conv.onnx`);
    assert.equal((await makeOnnxVariant(conv, { scheme: "q8" })).scheme, "uint8");
    await conv.close();
    const toy = await openOnnxPath(`${dir}/toy.onnx`);
    assert.equal((await makeOnnxVariant(toy, { scheme: "q8" })).scheme, "int8");
    await toy.close();
  },
});

Deno.test({
  name: "a model with external data gets variants with external data (<output>_data) that onnxruntime runs",
  ignore: NO_VENV,
  async fn() {
    const dir = await models();
    await using tmp = await tempDir();
    for (const scheme of ["q4", "fp16", "int8"] as const) {
      const out = `${tmp.path}/model_${scheme}.onnx`;
      const s = await writeOnnxVariantPath(`${dir}/bert_ext/model.onnx`, out, { scheme });
      const data = (await Deno.stat(`${out}_data`)).size;
      assert.ok(data > 0 && (await Deno.stat(out)).size < s.outputBytes);
      assert.equal((await Deno.stat(out)).size + data, s.outputBytes);
      const r = await compareOnnxModels(`${dir}/bert/onnx/model.onnx`, out, { random: 2 });
      assert.ok(r.cosine > 0.99, `${scheme}: ${r.cosine}`);
    }
  },
});

Deno.test({
  name: "transformers.js loads ckpt's variants of a model folder with each dtype, embeddings close to fp32",
  ignore: NO_TJS,
  async fn() {
    const dir = await models();
    await using tmp = await tempDir();
    await Deno.mkdir(`${tmp.path}/tiny-bert`);
    for await (const e of Deno.readDir(`${dir}/bert`)) {
      if (e.isFile) await Deno.copyFile(`${dir}/bert/${e.name}`, `${tmp.path}/tiny-bert/${e.name}`);
    }
    await Deno.mkdir(`${tmp.path}/tiny-bert/onnx`);
    await Deno.copyFile(`${dir}/bert/onnx/model.onnx`, `${tmp.path}/tiny-bert/onnx/model.onnx`);
    const q = await runCli(
      ["quantize", `${tmp.path}/tiny-bert`, "--variants", "fp16,q8,int8,uint8,q4,q4f16,bnb4"],
      {
        permissions: CLI_PERMISSIONS,
      },
    );
    assert.equal(q.code, 0, q.stderr);
    const names = [];
    for await (const e of Deno.readDir(`${tmp.path}/tiny-bert/onnx`)) names.push(e.name);
    assert.deepEqual(names.sort(), [
      "model.onnx",
      "model_bnb4.onnx",
      "model_fp16.onnx",
      "model_int8.onnx",
      "model_q4.onnx",
      "model_q4f16.onnx",
      "model_quantized.onnx",
      "model_uint8.onnx",
    ]);
    const run = await new Deno.Command("node", {
      args: [
        `${REPO}/tests/data/onnx/transformers_js_embed.mjs`,
        `${NODE_ORACLES}/@huggingface/transformers/dist/transformers.node.mjs`,
        tmp.path,
        "tiny-bert",
        "fp32",
        "fp16",
        "q8",
        "int8",
        "uint8",
        "q4",
        "q4f16",
        "bnb4",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(run.success, new TextDecoder().decode(run.stderr));
    const embeddings: Record<string, number[]> = JSON.parse(new TextDecoder().decode(run.stdout));
    const ref = embeddings.fp32;
    const cosine = (a: number[], b: number[]) => {
      let d = 0, na = 0, nb = 0;
      for (let i = 0; i < a.length; i++) (d += a[i] * b[i]), (na += a[i] * a[i]), (nb += b[i] * b[i]);
      return d / Math.sqrt(na * nb);
    };
    const floors: Record<string, number> = {
      fp16: 0.999,
      q8: 0.99,
      int8: 0.99,
      uint8: 0.99,
      q4: 0.98,
      q4f16: 0.98,
    };
    for (const [dtype, floor] of Object.entries(floors)) {
      assert.equal(embeddings[dtype].length, ref.length, dtype);
      const c = cosine(ref, embeddings[dtype]);
      assert.ok(c >= floor && c < 1, `${dtype}: cosine ${c}`);
    }
  },
});

Deno.test({
  name:
    "ckpt quantize on .onnx rewrites the graph (a file or a model folder), estimate runs it, --simulate keeps floats",
  ignore: NO_VENV,
  async fn() {
    const dir = await models();
    await using tmp = await tempDir();
    const src = `${dir}/toy.onnx`;
    const real = await runCli(["quantize", src, `${tmp.path}/q4.onnx`, "--scheme", "q4", "--json"], {
      permissions: CLI_PERMISSIONS,
    });
    assert.equal(real.code, 0, real.stderr);
    const summary = JSON.parse(real.stdout);
    assert.equal(summary.mode, "graph-rewrite");
    assert.equal(summary.variants[0].scheme, "q4");
    assert.deepEqual(summary.variants[0].rewritten, ["MatMul mm1", "MatMul mm2"]);
    assert.ok((await Deno.stat(`${tmp.path}/q4.onnx`)).size < (await Deno.stat(src)).size * 0.6);
    // estimate runs the rewritten graph (MatMulNBits, If branches) and counts its tensors as parameters.
    for (const model of [`${tmp.path}/q4.onnx`, `${dir}/graphs.onnx`]) {
      const shape = model.endsWith("q4.onnx") ? "ids=2x5" : "x=2x4";
      const e = await runCli(["estimate", model, "--input", shape, "--json"], {
        permissions: ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"],
      });
      assert.equal(e.code, 0, e.stderr);
      const file = await openOnnxPath(model);
      const bytes = file.tensors.reduce((n, t) => n + t.byteLength, 0);
      await file.close();
      assert.equal(JSON.parse(e.stdout).parameterBytes, bytes, model);
    }
    // A folder with an encoder and a merged decoder gets each variant of each.
    await Deno.mkdir(`${tmp.path}/seq2seq/onnx`, { recursive: true });
    for (const name of ["encoder_model", "decoder_model_merged"]) {
      await Deno.copyFile(src, `${tmp.path}/seq2seq/onnx/${name}.onnx`);
    }
    const folder = await runCli(["quantize", `${tmp.path}/seq2seq`, "--variants", "q4,fp16", "-q"], {
      permissions: CLI_PERMISSIONS,
    });
    assert.equal(folder.code, 0, folder.stderr);
    const written = [];
    for await (const e of Deno.readDir(`${tmp.path}/seq2seq/onnx`)) written.push(e.name);
    assert.deepEqual(written.sort(), [
      "decoder_model_merged.onnx",
      "decoder_model_merged_fp16.onnx",
      "decoder_model_merged_q4.onnx",
      "encoder_model.onnx",
      "encoder_model_fp16.onnx",
      "encoder_model_q4.onnx",
    ]);
    const fake = await runCli(
      ["quantize", src, `${tmp.path}/fake.onnx`, "--scheme", "int8", "--simulate", "--device", "cpu", "-q"],
      { permissions: CLI_PERMISSIONS },
    );
    assert.equal(fake.code, 0, fake.stderr);
    assert.equal((await Deno.stat(`${tmp.path}/fake.onnx`)).size, (await Deno.stat(src)).size);
  },
});

Deno.test({
  name:
    "ckpt quantize rejects broken ONNX models with exit 2, a message naming what and where, and no output",
  ignore: NO_VENV,
  async fn(t) {
    const dir = await models();
    await using tmp = await tempDir();
    const cases: [string, string, RegExp][] = [
      ["a use of an undefined value", `${dir}/bad/dangling.onnx`, /mm in g uses 'nope', which no input/],
      ["a cycle", `${dir}/bad/cycle.onnx`, /first in g uses 'b' before it is computed/],
      [
        "a branch that redefines an outer value",
        `${dir}/bad/shadow.onnx`,
        /'x' in g\/if\/then_branch shadows/,
      ],
    ];
    const truncated = `${tmp.path}/truncated.onnx`;
    await Deno.writeFile(truncated, (await Deno.readFile(`${dir}/toy.onnx`)).subarray(0, 4000));
    cases.push(["a truncated model", truncated, /Cannot decode ONNX .* offset \d+/]);
    for (const [what, path, message] of cases) {
      await t.step(what, async () => {
        const out = `${tmp.path}/out.onnx`;
        const r = await runCli(["quantize", path, out, "--scheme", "q8"], { permissions: CLI_PERMISSIONS });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
      });
    }
    await t.step("external data outside the model's folder", async () => {
      await Deno.mkdir(`${tmp.path}/m`);
      await Deno.writeFile(`${tmp.path}/secret.bin`, new Uint8Array(16));
      await Deno.writeFile(
        `${tmp.path}/m/outside.onnx`,
        modelProto([tensorProto({
          name: "w",
          dataType: 1,
          dims: [4],
          external: { location: "../secret.bin", offset: "0", length: "16" },
        })]),
      );
      const r = await runCli([
        "quantize",
        `${tmp.path}/m/outside.onnx`,
        `${tmp.path}/m/out.onnx`,
        "--scheme",
        "fp16",
      ], {
        permissions: CLI_PERMISSIONS,
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /Refusing external data location '\.\.\/secret\.bin' of initializer 'w'/);
      await assert.rejects(Deno.stat(`${tmp.path}/m/out.onnx`), Deno.errors.NotFound);
    });
    await t.step("makeOnnxVariant() throws FormatError for the same models", async () => {
      const model = await openOnnxPath(`${dir}/bad/cycle.onnx`);
      await assert.rejects(makeOnnxVariant(model, { scheme: "fp16" }), FormatError);
      await model.close();
    });
  },
});

Deno.test({
  name: "a variant over 2 GiB is refused with LimitError unless its tensors go to external data",
  ignore: NO_VENV,
  async fn() {
    await using tmp = await tempDir();
    // A 2.2 GB float32 table read by Add (no 4-bit form), kept in a sparse external data file.
    await runVenv(
      `
import sys, onnx
from onnx import helper as h, TensorProto as T
n = 550_000_000
w = onnx.TensorProto(name="big", data_type=T.FLOAT, dims=[n], data_location=T.EXTERNAL)
for k, v in [("location", "big.bin"), ("offset", "0"), ("length", str(n * 4))]:
    e = w.external_data.add(); e.key, e.value = k, v
g = h.make_graph([h.make_node("Add", ["x", "big"], ["y"])], "g", [h.make_tensor_value_info("x", T.FLOAT, [n])],
                 [h.make_tensor_value_info("y", T.FLOAT, [n])], [w])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), sys.argv[1] + "/big.onnx")
`,
      [tmp.path],
    );
    const data = await Deno.open(`${tmp.path}/big.bin`, { create: true, write: true });
    await data.truncate(550_000_000 * 4);
    data.close();
    const model = await openOnnxPath(`${tmp.path}/big.onnx`);
    await assert.rejects(makeOnnxVariant(model, { scheme: "q4" }), (e: unknown) => {
      assert.ok(e instanceof LimitError);
      assert.match(e.message, /q4 variant: it would be \d+ bytes, over protobuf's 2 GiB limit/);
      return true;
    });
    // With external data it fits: the model file is small, the table goes to the data file.
    const external = await makeOnnxVariant(model, { scheme: "q4", externalData: "big_q4.onnx_data" });
    assert.ok(external.byteLength < 1024);
    assert.equal(external.externalByteLength, 550_000_000 * 4);
    await model.close();
  },
});
