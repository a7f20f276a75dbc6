import assert from "node:assert/strict";
import { fileSource } from "../lib/byte_source.ts";
import { castBytes } from "../lib/cast.ts";
import { elementCount } from "../lib/dtype.ts";
import { openSafetensors } from "../formats/safetensors/open_safetensors.ts";
import { encodeSafetensors } from "../formats/safetensors/encode_safetensors.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { DATA, listDir, runCli, tempDir } from "./_helpers.ts";

const GOLDEN = `${DATA}/safetensors`;
const MODEL = `${GOLDEN}/small_model.safetensors`;

/** The golden file's header, parsed independently with JSON.parse. */
async function headerOf(
  path: string,
): Promise<Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>> {
  const bytes = await Deno.readFile(path);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}

Deno.test("ckpt inspect --json reports format, metadata, tensors and totals", async () => {
  const path = `${GOLDEN}/mixed.safetensors`;
  const result = await runCli(["inspect", path, "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  const header = await headerOf(path);
  const { __metadata__: metadata, ...tensors } = header as Record<string, unknown>;
  assert.equal(report.format, "safetensors");
  assert.deepEqual(report.metadata, metadata);
  assert.equal(report.tensors.length, Object.keys(tensors).length);
  let parameters = 0;
  let bytes = 0;
  for (const t of report.tensors) {
    const info = header[t.name];
    assert.deepEqual([t.dtype, t.shape, t.bytes], [
      info.dtype,
      info.shape,
      info.data_offsets[1] - info.data_offsets[0],
    ]);
    assert.deepEqual(Object.keys(t), ["name", "dtype", "shape", "bytes"]);
    parameters += info.shape.reduce((a, b) => a * b, 1);
    bytes += info.data_offsets[1] - info.data_offsets[0];
  }
  assert.equal(report.parameters, parameters);
  assert.equal(report.tensorBytes, bytes);
  assert.equal(report.fileBytes, (await Deno.stat(path)).size);
});

Deno.test("ckpt inspect prints an aligned table of every tensor", async () => {
  const result = await runCli(["inspect", MODEL]);
  assert.equal(result.code, 0, result.stderr);
  const header = await headerOf(MODEL);
  const lines = result.stdout.split("\n");
  const title = lines.findIndex((l) => /^name\s+dtype\s+shape\s+bytes$/.test(l));
  assert.ok(title > 0, result.stdout);
  const rows = lines.slice(title + 1).filter((l) => l.trim());
  assert.equal(rows.length, Object.keys(header).length - 1);
  const ends = new Set(rows.map((r) => r.length));
  assert.equal(ends.size, 1, "bytes column right-aligned");
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    assert.ok(rows.some((r) => r.startsWith(`${name} `) && r.includes(`[${info.shape.join(", ")}]`)), name);
  }
  assert.match(result.stdout, /parameters\s+\d/);
  assert.match(result.stdout, /format\s+pt/);
});

Deno.test("ckpt inspect lists a remote file's tensors after downloading only its head", async () => {
  const bytes = await encodeSafetensors({
    metadata: {},
    tensors: [tensorFromBytes("big", "U8", [1 << 20], new Uint8Array(1 << 20))],
  });
  const log: string[] = [];
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
    (req) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.get("range") ?? "");
      log.push(req.headers.get("range") ?? "full");
      if (!m) return new Response(bytes.slice());
      const end = Math.min(Number(m[2]), bytes.length - 1);
      return new Response(bytes.slice(Number(m[1]), end + 1), {
        status: 206,
        headers: { "content-range": `bytes ${m[1]}-${end}/${bytes.length}` },
      });
    },
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/model.safetensors`;
    const denied = await runCli(["inspect", url]);
    assert.equal(denied.code, 2);
    assert.equal(denied.stderr.trim().split("\n").length, 1);
    assert.match(denied.stderr, /net/);
    const result = await runCli(["inspect", url, "--json"], {
      permissions: ["--allow-read", "--allow-write", "--allow-net=127.0.0.1"],
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).tensors.map((t: { name: string }) => t.name), ["big"]);
    assert.deepEqual(log, ["bytes=0-65535"], "one request for the first 64 KiB of a 1 MiB file");
  } finally {
    controller.abort();
    await server.finished;
  }
});

Deno.test("ckpt convert re-encodes a golden file byte for byte", async () => {
  await using dir = await tempDir();
  const out = `${dir.path}/copy.safetensors`;
  const result = await runCli(["convert", `${GOLDEN}/mixed.safetensors`, out]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await Deno.readFile(out), await Deno.readFile(`${GOLDEN}/mixed.safetensors`));
});

Deno.test("ckpt convert --dtype F16 casts floating-point tensors and keeps integers", async () => {
  await using dir = await tempDir();
  const out = `${dir.path}/half.safetensors`;
  const result = await runCli(["convert", MODEL, out, "--dtype", "F16", "--exclude", "^layers\\.2\\."]);
  assert.equal(result.code, 0, result.stderr);
  const input = await openSafetensors(await fileSource(MODEL));
  const output = await openSafetensors(await fileSource(out));
  assert.deepEqual(
    output.tensors.map((t) => t.name).sort(),
    input.tensors.map((t) => t.name).filter((n) => !n.startsWith("layers.2.")).sort(),
  );
  for (const entry of output.tensors) {
    const source = input.tensors.find((t) => t.name === entry.name)!;
    const original = (await source.read()).slice();
    if (source.dtype === "F32") {
      assert.equal(entry.dtype, "F16");
      assert.deepEqual(await entry.read(), castBytes(original, "F32", "F16", elementCount(source.shape)));
    } else {
      assert.equal(entry.dtype, source.dtype);
      assert.deepEqual(await entry.read(), original);
    }
  }
  assert.deepEqual(output.metadata, input.metadata);
  await input.close();
  await output.close();
});

Deno.test("ckpt convert --include keeps only matching tensors", async () => {
  await using dir = await tempDir();
  const out = `${dir.path}/bias.safetensors`;
  const result = await runCli(["convert", MODEL, out, "--include", "bias$"]);
  assert.equal(result.code, 0, result.stderr);
  const file = await openSafetensors(await fileSource(out));
  assert.deepEqual(file.tensors.map((t) => t.name).sort(), [
    "layers.0.bias",
    "layers.1.bias",
    "layers.2.bias",
  ]);
  await file.close();
});

Deno.test("ckpt convert --max-shard-size writes shards that convert back to the original", async () => {
  await using dir = await tempDir();
  const result = await runCli([
    "convert",
    MODEL,
    `${dir.path}/model.safetensors`,
    "--max-shard-size",
    "1200B",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const names = await listDir(dir.path);
  assert.deepEqual(names.filter((n) => n.endsWith(".json")), ["model.safetensors.index.json"]);
  assert.ok(names.filter((n) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(n)).length >= 2, names.join(" "));
  const inspected = await runCli(["inspect", `${dir.path}/model.safetensors.index.json`, "--json"]);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.equal(JSON.parse(inspected.stdout).tensors.length, 7);
  const merged = `${dir.path}/merged.safetensors`;
  const back = await runCli(["convert", `${dir.path}/model.safetensors.index.json`, merged]);
  assert.equal(back.code, 0, back.stderr);
  assert.deepEqual(await Deno.readFile(merged), await Deno.readFile(MODEL));
});

Deno.test("ckpt convert fails with exit code 2, one line and no output file", async (t) => {
  await using dir = await tempDir();
  const corrupt = `${dir.path}/../corrupt-${crypto.randomUUID()}.safetensors`;
  const bytes = await Deno.readFile(MODEL);
  await Deno.writeFile(corrupt, bytes.subarray(0, bytes.length - 10));
  const out = `${dir.path}/out.safetensors`;
  const cases: [string, string[], RegExp][] = [
    ["an unknown option", ["convert", MODEL, out, "--bogus"], /Unknown option '--bogus'/],
    ["a missing output", ["convert", MODEL], /Missing OUT/],
    ["an integer --dtype", ["convert", MODEL, out, "--dtype", "I8"], /Cannot cast to 'I8'/],
    ["an unknown --dtype", ["convert", MODEL, out, "--dtype", "F17"], /Cannot cast to 'F17'/],
    ["a bad regular expression", ["convert", MODEL, out, "--include", "("], /Invalid --include pattern '\('/],
    ["a bad shard size", ["convert", MODEL, out, "--max-shard-size", "lots"], /Cannot parse size 'lots'/],
    [
      "an unknown output extension",
      ["convert", MODEL, `${dir.path}/out.xyz`],
      /Cannot tell the output format of/,
    ],
    ["a truncated input", ["convert", corrupt, out], /its tensors need \d+ data bytes/],
    ["a missing input", ["convert", `${dir.path}/nope.safetensors`, out], /No such file/],
    ["output equal to input", ["convert", MODEL, MODEL], /Refusing to write .*: it is also the input/],
  ];
  try {
    for (const [name, args, message] of cases) {
      await t.step(name, async () => {
        const result = await runCli(args);
        assert.equal(result.code, 2, result.stderr);
        assert.equal(result.stdout, "");
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        assert.match(result.stderr, /^ckpt convert: /);
        assert.match(result.stderr, message);
        assert.deepEqual(await listDir(dir.path), []);
      });
    }
  } finally {
    await Deno.remove(corrupt);
  }
  assert.equal((await Deno.stat(MODEL)).size, (await Deno.readFile(MODEL)).length);
});

Deno.test("ckpt meta prints metadata and edits it in place or by rewriting", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/m.safetensors`;
  await Deno.copyFile(MODEL, path);
  const shown = await runCli(["meta", path, "--json"]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual(JSON.parse(shown.stdout).metadata, { format: "pt" });
  const text = await runCli(["meta", path]);
  assert.match(text.stdout, /^format\s+pt$/m);

  const size = (await Deno.stat(path)).size;
  const small = await runCli(["meta", path, "--delete", "format", "--set", "a=1", "--json"]);
  assert.equal(small.code, 0, small.stderr);
  assert.deepEqual(JSON.parse(small.stdout), { format: "safetensors", metadata: { a: "1" }, inPlace: true });
  assert.equal((await Deno.stat(path)).size, size);

  const big = await runCli(["meta", path, "--set", `notes=${"n".repeat(3000)}`, "--set", "eq=x=y"]);
  assert.equal(big.code, 0, big.stderr);
  assert.match(big.stderr, /file rewritten/);
  const file = await openSafetensors(await fileSource(path));
  assert.deepEqual(file.metadata, { a: "1", notes: "n".repeat(3000), eq: "x=y" });
  const original = await openSafetensors(await fileSource(MODEL));
  for (const t of original.tensors) {
    assert.deepEqual(await file.tensors.find((u) => u.name === t.name)!.read(), await t.read());
  }
  await file.close();
  await original.close();
  assert.deepEqual(await listDir(dir.path), ["m.safetensors"]);
});

Deno.test("ckpt meta rejects bad edits with exit code 2 and one line", async (t) => {
  await using dir = await tempDir();
  const path = `${dir.path}/m.safetensors`;
  await Deno.copyFile(MODEL, path);
  const cases: [string, string[], RegExp][] = [
    ["a --set without =", ["meta", path, "--set", "novalue"], /Invalid --set 'novalue': use KEY=VALUE/],
    ["a missing key", ["meta", path, "--delete", "nope"], /Cannot delete metadata key 'nope'/],
    ["a --set without a value", ["meta", path, "--set"], /Option '--set' needs a value/],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.match(result.stderr, message);
      assert.deepEqual(await Deno.readFile(path), await Deno.readFile(MODEL));
    });
  }
});
