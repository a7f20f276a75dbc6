import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { crc32c, maskCrc32c, unmaskCrc32c } from "../lib/crc32c.ts";
import { FormatError, LimitError, TruncatedError, UsageError } from "../lib/errors.ts";
import { tensorRole } from "../lib/size_report.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { openTensorFile } from "../formats/open_tensor_file.ts";
import { formatForPath } from "../formats/registry.ts";
import {
  decodeCheckpointIndex,
  decodeTable,
  encodeTable,
  openTensorflow,
  type TensorflowCheckpoint,
  writeTensorflow,
} from "../formats/tensorflow/mod.ts";
import { snappyDecompress } from "../formats/tensorflow/_snappy.ts";
import { DATA, listDir, runCli, tempDir } from "./_helpers.ts";
import { runVenv, skipUnlessVenv } from "./_oracles.ts";

const TF = `${DATA}/tensorflow`;
// The protobuf runtime reads one environment variable when it decodes 64-bit fields.
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env=BUF_BIGINT_DISABLE"];
const expected: Record<
  string,
  { prefix: string; tensors: Record<string, { dtype: string; shape: number[]; sha256: string }> }
> = JSON.parse(await Deno.readTextFile(`${TF}/expected.json`));
const CHECKPOINTS = ["tf1", "slots", "tf2", "sharded", "dtypes", "partitioned", "complex128"];

const TF_NAMES: Record<string, string> = {
  float16: "F16",
  float32: "F32",
  float64: "F64",
  bfloat16: "BF16",
  int8: "I8",
  int16: "I16",
  int32: "I32",
  int64: "I64",
  uint8: "U8",
  uint16: "U16",
  uint32: "U32",
  uint64: "U64",
  bool: "BOOL",
  complex64: "C64",
  complex128: "C128",
  float8_e5m2: "F8_E5M2",
  float8_e4m3fn: "F8_E4M3",
};

// Large byte arrays compared by their first difference: a deep-equal diff of them is slow to print.
function assertSameBytes(actual: Uint8Array, want: Uint8Array, what: string): void {
  let i = 0;
  while (i < actual.length && i < want.length && actual[i] === want[i]) i++;
  assert.deepEqual([actual.length, i], [want.length, want.length], `${what}: first difference at byte ${i}`);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const text = (s: string) => new TextEncoder().encode(s);

async function copyCheckpoint(prefix: string, dir: string): Promise<string> {
  const folder = prefix.slice(0, prefix.lastIndexOf("/"));
  const stem = prefix.slice(prefix.lastIndexOf("/") + 1);
  for await (const e of Deno.readDir(folder)) {
    if (e.name.startsWith(stem)) await Deno.copyFile(`${folder}/${e.name}`, `${dir}/${e.name}`);
  }
  return `${dir}/${stem}`;
}

async function withCheckpoint<T>(path: string, body: (c: TensorflowCheckpoint) => Promise<T>): Promise<T> {
  const c = await openTensorflow(path);
  try {
    return await body(c);
  } finally {
    await c.close();
  }
}

// A raw Snappy stream of literals only: valid Snappy that any decoder must read.
function snappyLiterals(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let n = data.length;
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 0x80);
  } while (n > 0);
  for (let i = 0; i < data.length; i += 60) {
    const chunk = data.subarray(i, i + 60);
    out.push((chunk.length - 1) << 2, ...chunk);
  }
  return new Uint8Array(out);
}

function varints(...values: number[]): number[] {
  const out: number[] = [];
  for (let v of values) {
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
  }
  return out;
}

function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

function block(contents: Uint8Array, type: number): number[] {
  return [...contents, type, ...u32(maskCrc32c(crc32c(new Uint8Array([type]), crc32c(contents))))];
}

/**
 * Rewrite a one-data-block table (what TensorFlow writes for a small
 * checkpoint) with its data block Snappy-compressed.
 */
function compressTable(bytes: Uint8Array): Uint8Array {
  const entries = decodeTable(bytes);
  const plain = encodeTable(entries.map((e) => [e.key, e.value] as const));
  // encodeTable's layout: [data block][trailer][metaindex][trailer][index][trailer][footer].
  const footer = plain.length - 48;
  const readVarint = (at: number): [number, number] => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = plain[at++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return [v, at];
    }
  };
  const [metaOffset, a1] = readVarint(footer);
  const [metaSize, a2] = readVarint(a1);
  const [indexOffset] = readVarint(a2);
  const data = plain.subarray(0, metaOffset - 5);
  const compressed = snappyLiterals(data);
  const out: number[] = block(compressed, 1);
  const newMeta = out.length;
  out.push(...block(plain.subarray(metaOffset, metaOffset + metaSize), 0));
  // The index block: one entry, the original separator key, the new handle.
  const indexEntries = indexKeyOf(plain, indexOffset);
  const handle = varints(0, compressed.length);
  const indexBlock = new Uint8Array([
    ...varints(0, indexEntries.length, handle.length),
    ...indexEntries,
    ...handle,
    ...u32(0),
    ...u32(1),
  ]);
  const newIndex = out.length;
  out.push(...block(indexBlock, 0));
  const foot = new Uint8Array(48);
  foot.set(varints(newMeta, metaSize, newIndex, indexBlock.length));
  new DataView(foot.buffer).setBigUint64(40, 0xdb4775248b80fb57n, true);
  return new Uint8Array([...out, ...foot]);
}

function indexKeyOf(table: Uint8Array, indexOffset: number): Uint8Array {
  // First entry of the index block: shared (0), key length, value length, key.
  let at = indexOffset;
  at++; // shared = 0
  const keyLength = table[at++];
  at++; // value length (< 128 here)
  return table.slice(at, at + keyLength);
}

function entryProto(
  fields: { dtype?: number; shape?: number[]; shard?: number; offset?: number; size?: number; crc?: number },
): Uint8Array {
  const w = new BinaryWriter();
  if (fields.dtype !== undefined) w.tag(1, WireType.Varint).int32(fields.dtype);
  if (fields.shape) {
    w.tag(2, WireType.LengthDelimited).fork();
    for (const d of fields.shape) {
      w.tag(2, WireType.LengthDelimited).fork().tag(1, WireType.Varint).int64(d).join();
    }
    w.join();
  }
  if (fields.shard !== undefined) w.tag(3, WireType.Varint).int32(fields.shard);
  if (fields.offset !== undefined) w.tag(4, WireType.Varint).int64(fields.offset);
  if (fields.size !== undefined) w.tag(5, WireType.Varint).int64(fields.size);
  if (fields.crc !== undefined) w.tag(6, WireType.Bit32).fixed32(fields.crc);
  return w.finish();
}

Deno.test("crc32c() gives the CRC-32C check value, in one call or in chunks, and masking round-trips", () => {
  const digits = text("123456789");
  assert.equal(crc32c(digits), 0xe3069283);
  assert.equal(crc32c(digits.subarray(5), crc32c(digits.subarray(0, 5))), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  for (const v of [0, 1, 0xe3069283, 0xffffffff]) assert.equal(unmaskCrc32c(maskCrc32c(v)), v);
});

Deno.test("decodeTable() reads TensorFlow's indexes and encodeTable() rewrites them byte for byte", async () => {
  for (const key of CHECKPOINTS) {
    const bytes = await Deno.readFile(`${TF}/${expected[key].prefix}.index`);
    const entries = decodeTable(bytes, { name: key });
    assert.equal(entries[0].key.length, 0, "the header entry comes first");
    const again = encodeTable(entries.map((e) => [e.key, e.value] as const));
    assertSameBytes(again, bytes, `${key}: TensorFlow's index`);
  }
});

Deno.test("encodeTable() splits large tables into blocks with short separators that decodeTable() reads back", () => {
  const entries = Array.from(
    { length: 500 },
    (_, i) => [text(`layer.${String(i).padStart(4, "0")}.w`), text("v".repeat(i % 40))] as const,
  );
  const table = encodeTable(entries, { blockBytes: 512, restartInterval: 4 });
  const back = decodeTable(table);
  assert.equal(back.length, 500);
  back.forEach((e, i) => {
    assert.deepEqual(e.key, entries[i][0]);
    assert.deepEqual(e.value, entries[i][1]);
  });
  assert.throws(() => encodeTable([[text("b"), text("")], [text("a"), text("")]]), UsageError);
});

Deno.test("snappyDecompress() decodes the chunks TensorFlow's Snappy compressor wrote", async () => {
  const rec = await Deno.readFile(`${TF}/snappy.rec`);
  const payload = await Deno.readFile(`${TF}/snappy_payload.bin`);
  const parts: Uint8Array[] = [];
  const view = new DataView(rec.buffer);
  let copies = 0;
  for (let at = 0; at < rec.length;) {
    const length = view.getUint32(at, false);
    const chunk = rec.subarray(at + 4, at + 4 + length);
    for (const b of chunk) if ((b & 3) !== 0) copies++;
    parts.push(snappyDecompress(chunk, 1 << 20, "chunk"));
    at += 4 + length;
  }
  assert.ok(rec.length < payload.length / 2, "TensorFlow compressed it (with copies)");
  assert.ok(copies > 0);
  const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) stream.set(p, (o += p.length) - p.length);
  // A TFRecord: u64 length, masked CRC-32C of it, the payload, masked CRC-32C of the payload.
  const sv = new DataView(stream.buffer);
  assert.equal(Number(sv.getBigUint64(0, true)), payload.length);
  assert.deepEqual(stream.subarray(12, 12 + payload.length), payload);
  assert.equal(unmaskCrc32c(sv.getUint32(12 + payload.length, true)), crc32c(payload));
});

Deno.test("snappyDecompress() refuses lengths beyond its bound and copies before the start", () => {
  assert.throws(() => snappyDecompress(new Uint8Array([0xff, 0xff, 0xff, 0x7f]), 1000, "x"), LimitError);
  // Declares 8 bytes, then a 1-byte-offset copy of 4 bytes with nothing written yet.
  assert.throws(
    () => snappyDecompress(new Uint8Array([8, 0b000_000_01, 1]), 100, "block 3"),
    /refers 1 bytes back/,
  );
  assert.throws(() => snappyDecompress(new Uint8Array([8, 0x0c, 1, 2]), 100, "x"), /runs past the input/);
  assert.throws(() => snappyDecompress(new Uint8Array([2, 0x00, 7]), 100, "x"), /not the declared 2/);
});

Deno.test("openTensorflow() reads every tensor with the values tf.train.load_checkpoint reads", async () => {
  for (const key of CHECKPOINTS) {
    const want = expected[key].tensors;
    await withCheckpoint(`${TF}/${expected[key].prefix}`, async (c) => {
      assert.equal(c.format, "tensorflow");
      assert.deepEqual(c.tensors.map((t) => t.name).sort(), Object.keys(want).sort(), key);
      for (const t of c.tensors) {
        const w = want[t.name];
        assert.equal(t.dtype, TF_NAMES[w.dtype], `${key}/${t.name} dtype`);
        assert.deepEqual(t.shape, w.shape, `${key}/${t.name} shape`);
        const bytes = await t.read();
        assert.equal(bytes.length, t.byteLength);
        assert.equal(sha256(bytes), w.sha256, `${key}/${t.name} bytes`);
      }
    });
  }
});

Deno.test("openTensorflow() covers every dtype, reads sliced variables whole and keeps string tensors out", async () => {
  await withCheckpoint(`${TF}/dtypes/dtypes`, (c) => {
    assert.deepEqual(
      [...new Set(c.tensors.map((t) => t.dtype))].sort(),
      [
        "BF16",
        "BOOL",
        "C64",
        "F16",
        "F32",
        "F64",
        "F8_E4M3",
        "F8_E5M2",
        "I16",
        "I32",
        "I64",
        "I8",
        "U16",
        "U32",
        "U64",
        "U8",
      ],
    );
    assert.deepEqual(c.nonNumeric, ["text"]);
    return Promise.resolve();
  });
  // MaxShardSizePolicy split variables into slices across four data shards.
  await withCheckpoint(`${TF}/sharded/ckpt-1`, (c) => {
    assert.equal(c.paths?.filter((p) => p.includes(".data-")).length, 4);
    assert.equal(
      c.tensors.find((t) => t.name === "net/layers/2/.ATTRIBUTES/VARIABLE_VALUE")?.location,
      undefined,
    );
    return Promise.resolve();
  });
  await withCheckpoint(`${TF}/partitioned/model.ckpt`, async (c) => {
    const part = c.tensors.find((t) => t.name === "part")!;
    assert.deepEqual(part.shape, [8, 4]);
    assert.deepEqual(
      [...new Float32Array((await part.read()).slice().buffer)],
      Array.from({ length: 32 }, (_, i) => i),
    );
    const out = new Uint8Array(200);
    const view = await part.read(out);
    assert.equal(view.buffer, out.buffer);
  });
});

Deno.test("openTensorflow() gives TF2 object keys their variables' readable names", async () => {
  await withCheckpoint(`${TF}/tf2`, (c) => {
    assert.ok(c.prefix.endsWith("tf2/ckpt-1"), "the folder's checkpoint file names ckpt-1");
    assert.equal(
      c.displayNames["optimizer/_variables/2/.ATTRIBUTES/VARIABLE_VALUE"],
      "adam/sequential_dense_kernel_momentum",
    );
    assert.equal(
      c.displayNames["optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE"],
      "sequential/dense/kernel",
    );
    assert.ok(!c.tensors.some((t) => t.name === "_CHECKPOINTABLE_OBJECT_GRAPH"));
    assert.deepEqual(c.nonNumeric, ["_CHECKPOINTABLE_OBJECT_GRAPH"]);
    return Promise.resolve();
  });
  const inspect = await runCli(["inspect", `${TF}/tf2`, "--json"], { permissions: PERMISSIONS });
  assert.equal(inspect.code, 0, inspect.stderr);
  const report = JSON.parse(inspect.stdout);
  const row = report.tensors.find((t: { name: string }) =>
    t.name === "optimizer/_variables/3/.ATTRIBUTES/VARIABLE_VALUE"
  );
  assert.equal(row.displayName, "adam/sequential_dense_kernel_velocity");
  // Keras 3 reaches the model's weights through the optimizer: they are weights, its slots optimizer state.
  assert.equal(report.groups.weights.tensors, 4);
  assert.equal(report.groups.optimizer.tensors, 10);
});

Deno.test("A checkpoint opens by prefix, .index path, data shard path or folder", async () => {
  const names = async (path: string) => {
    const f = await openTensorFile(path);
    try {
      assert.equal(f.format, "tensorflow");
      return f.tensors.map((t) => t.name);
    } finally {
      await f.close();
    }
  };
  const base = await names(`${TF}/tf1/model.ckpt`);
  assert.equal(base.length, 14);
  assert.deepEqual(await names(`${TF}/tf1/model.ckpt.index`), base);
  assert.deepEqual(await names(`${TF}/tf1/model.ckpt.data-00000-of-00001`), base);
  assert.deepEqual(await names(`${TF}/tf1`), base);
  assert.equal(formatForPath("out/model.ckpt").name, "tensorflow");
  assert.equal(formatForPath("out/model.ckpt.index").name, "tensorflow");
});

Deno.test("ckpt without --allow-env says which permission a TensorFlow checkpoint needs", async () => {
  const r = await runCli(["inspect", `${TF}/tf1/model.ckpt`]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /TensorFlow checkpoints need --allow-env=BUF_BIGINT_DISABLE/);
});

Deno.test("tensorRole() knows TensorFlow's optimizer slots", () => {
  const cases: [string, string][] = [
    ["Variable_2/Adam", "optimizer"],
    ["Variable_2/Adam_1", "optimizer"],
    ["beta1_power", "optimizer"],
    ["dense/kernel/Momentum", "optimizer"],
    ["dense/kernel/RMSProp_1", "optimizer"],
    ["dense/kernel/Adagrad", "optimizer"],
    ["dense/kernel/Ftrl_1", "optimizer"],
    ["model/w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", "optimizer"],
    ["optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE", "optimizer"],
    ["optimizer/_variables/2/.ATTRIBUTES/VARIABLE_VALUE", "optimizer"],
    ["optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE", "weights"],
    ["model/layer/kernel/.ATTRIBUTES/VARIABLE_VALUE", "weights"],
    ["Variable_2", "weights"],
  ];
  for (const [name, role] of cases) assert.equal(tensorRole(name, "F32"), role, name);
});

Deno.test("inspect counts a real TF1 checkpoint's Momentum and RMSProp slots as optimizer state", async () => {
  const r = await runCli(["inspect", `${TF}/slots/model.ckpt`, "--json"], { permissions: PERMISSIONS });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.tensors.map((t: { name: string }) => t.name), Object.keys(expected.slots.tensors));
  assert.equal(report.groups.weights.tensors, 2); // a, b
  assert.equal(report.groups.optimizer.tensors, 4); // a/Momentum, b/RMSProp, b/RMSProp_1, b/RMSProp_2
  assert.deepEqual(report.optimizers, ["Momentum", "RMSProp"]);
});

Deno.test("ckpt inspect says two thirds of a TF1 Adam checkpoint's data file are Adam's slots", async () => {
  const dataBytes = (await Deno.stat(`${TF}/tf1/model.ckpt.data-00000-of-00001`)).size;
  const json = await runCli(["inspect", `${TF}/tf1/model.ckpt`, "--json"], { permissions: PERMISSIONS });
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  const optimizer = report.groups.optimizer.bytes;
  assert.equal(report.tensorBytes, dataBytes, "the tensors fill the data file");
  assert.ok(Math.abs(optimizer / dataBytes - 2 / 3) < 0.001, `${optimizer} of ${dataBytes}`);
  assert.equal(report.groups.optimizer.tensors, 10); // 4 × (Adam, Adam_1) + beta1_power, beta2_power
  assert.deepEqual(report.optimizers, ["Adam"]);
  assert.equal(report.savings.stripOptimizer, optimizer);
  const out = await runCli(["inspect", `${TF}/tf1/model.ckpt`], { permissions: PERMISSIONS });
  assert.equal(out.code, 0, out.stderr);
  const percent = ((optimizer / dataBytes) * 100).toFixed(1);
  assert.match(
    out.stdout,
    new RegExp(`optimizer state \\(Adam slots\\): 10 tensors, [\\d.]+ KiB, ${percent}% of the tensor data`),
  );
  assert.match(out.stdout, /stripping the optimizer saves 18\.84 KiB/);
});

Deno.test("writeTensorflow() output reads back equal, in one shard or several", async () => {
  await using dir = await tempDir();
  const source = await openTensorflow(`${TF}/dtypes/dtypes`);
  try {
    const one = await writeTensorflow(source, `${dir.path}/one.ckpt`);
    assert.deepEqual(one.shards, [`${dir.path}/one.ckpt.data-00000-of-00001`]);
    const many = await writeTensorflow(source, `${dir.path}/many.ckpt.index`, { maxShardSize: 64 });
    assert.ok(many.shards.length > 3);
    for (const prefix of [one.prefix, many.prefix]) {
      await withCheckpoint(prefix, async (c) => {
        assert.deepEqual(c.tensors.map((t) => t.name), source.tensors.map((t) => t.name));
        for (const t of c.tensors) {
          assert.equal(sha256(await t.read()), expected.dtypes.tensors[t.name].sha256, t.name);
        }
      });
    }
    assert.deepEqual((await listDir(dir.path)).filter((n) => n.startsWith(".")), [], "no staging files left");
  } finally {
    await source.close();
  }
});

Deno.test("writeTensorflow() rewrites a TF1 Saver checkpoint byte for byte as TensorFlow wrote it", async () => {
  await using dir = await tempDir();
  await withCheckpoint(`${TF}/tf1/model.ckpt`, (c) => writeTensorflow(c, `${dir.path}/model.ckpt`));
  for (const ext of [".index", ".data-00000-of-00001"]) {
    assertSameBytes(
      await Deno.readFile(`${dir.path}/model.ckpt${ext}`),
      await Deno.readFile(`${TF}/tf1/model.ckpt${ext}`),
      ext,
    );
  }
});

Deno.test("writeTensorflow() refuses what TensorFlow cannot hold and leaves nothing behind", async () => {
  await using dir = await tempDir();
  const f4 = tensorFromBytes("w", "F4", [2], new Uint8Array(1));
  await assert.rejects(
    writeTensorflow({ metadata: {}, tensors: [f4] }, `${dir.path}/x.ckpt`),
    /TensorFlow has no F4/,
  );
  const dup = tensorFromBytes("w", "F32", [1], new Uint8Array(4));
  await assert.rejects(
    writeTensorflow({ metadata: {}, tensors: [dup, dup] }, `${dir.path}/x.ckpt`),
    /duplicate/,
  );
  const bad = {
    ...tensorFromBytes("late", "F32", [1], new Uint8Array(4)),
    read: () => Promise.reject(new FormatError("boom")),
  };
  await assert.rejects(
    writeTensorflow(
      { metadata: {}, tensors: [tensorFromBytes("a", "U8", [4], new Uint8Array(4)), bad] },
      `${dir.path}/x.ckpt`,
      {
        maxShardSize: 4,
      },
    ),
    /boom/,
  );
  assert.deepEqual(await listDir(dir.path), []);
});

Deno.test({
  name:
    "tf.train.load_checkpoint reads what ckpt writes and a Snappy index; a 5000-tensor SaveV2 checkpoint is rewritten byte for byte",
  ignore: skipUnlessVenv("tensorflow"),
  async fn() {
    await using dir = await tempDir();
    // Library writer: TF1, TF2 (object keys) and the dtype zoo, one of them in several shards.
    const outputs: Record<string, string> = {};
    for (const key of ["tf1", "tf2", "dtypes", "partitioned", "sharded", "complex128"]) {
      const c = await openTensorflow(`${TF}/${expected[key].prefix}`);
      try {
        outputs[key] = (await writeTensorflow(c, `${dir.path}/${key}.ckpt`, {
          maxShardSize: key === "tf1" ? 9000 : undefined,
        }))
          .prefix;
      } finally {
        await c.close();
      }
    }
    // CLI: TensorFlow → safetensors → TensorFlow in shards.
    const st = `${dir.path}/tf1.safetensors`;
    let r = await runCli(["convert", `${TF}/tf1/model.ckpt`, st, "-q"], { permissions: PERMISSIONS });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(["convert", st, `${dir.path}/cli.ckpt`, "--max-shard-size", "10KB", "-q"], {
      permissions: PERMISSIONS,
    });
    assert.equal(r.code, 0, r.stderr);
    outputs.cli = `${dir.path}/cli.ckpt`;
    // A copy of the TF1 checkpoint whose index block is Snappy-compressed.
    const snappyPrefix = await copyCheckpoint(
      `${TF}/tf1/model.ckpt`,
      await Deno.makeTempDir({ dir: dir.path }),
    );
    const plain = await Deno.readFile(`${snappyPrefix}.index`);
    await Deno.writeFile(`${snappyPrefix}.index`, compressTable(plain));
    outputs.snappy = snappyPrefix;
    const ours = await withCheckpoint(snappyPrefix, async (c) => {
      const out: Record<string, string> = {};
      for (const t of c.tensors) out[t.name] = sha256(await t.read());
      return out;
    });
    for (const [name, hash] of Object.entries(ours)) {
      assert.equal(hash, expected.tf1.tensors[name].sha256, name);
    }

    const reply = await runVenv(
      `
import sys, json, hashlib, numpy as np, tensorflow as tf
# Also write a checkpoint of 5000 tensors with hashed names (little shared
# prefix), so its index outgrows TensorFlow's 256 KiB blocks.
names = sorted(f"{hashlib.sha1(str(i).encode()).hexdigest()}/attention/projection/kernel" for i in range(5000))
values = [tf.constant(np.arange(i % 5 + 1, dtype=np.float32) + i) for i in range(5000)]
tf.raw_ops.SaveV2(prefix=sys.argv[2], tensor_names=names, shape_and_slices=[""] * 5000, tensors=values)
out = {}
for key, prefix in json.loads(sys.argv[1]).items():
    reader = tf.train.load_checkpoint(prefix)
    out[key] = {n: hashlib.sha256(np.asarray(reader.get_tensor(n)).tobytes()).hexdigest()
                for n, d in reader.get_variable_to_dtype_map().items() if d != tf.string}
print(json.dumps(out))
`,
      [JSON.stringify(outputs), `${dir.path}/tf/many`],
    );
    const read: Record<string, Record<string, string>> = JSON.parse(reply);
    const source: Record<string, string> = { cli: "tf1", snappy: "tf1" };
    for (const key of Object.keys(outputs)) {
      const want = expected[source[key] ?? key].tensors;
      assert.deepEqual(Object.keys(read[key]).sort(), Object.keys(want).sort(), key);
      for (const [name, hash] of Object.entries(read[key])) {
        assert.equal(hash, want[name].sha256, `${key}/${name}`);
      }
    }
    const shards = (await listDir(dir.path)).filter((n) => n.startsWith("cli.ckpt.data-"));
    assert.ok(shards.length > 1, "--max-shard-size made several shards");

    // The 5000-tensor checkpoint, rewritten by ckpt, is byte for byte what SaveV2 wrote.
    const index = await Deno.readFile(`${dir.path}/tf/many.index`);
    assert.ok(index.length > 262144, `an index of ${index.length} bytes spans several blocks`);
    await withCheckpoint(`${dir.path}/tf/many`, async (c) => {
      assert.equal(c.tensors.length, 5000);
      for (const t of c.tensors.slice(0, 50)) {
        const v = new Float32Array((await t.read()).slice().buffer);
        assert.equal(v.length, (v[0] % 5) + 1, "tensor i holds i, i + 1, … (i % 5 + 1 values)");
      }
      await writeTensorflow(c, `${dir.path}/ours.ckpt`);
    });
    assertSameBytes(await Deno.readFile(`${dir.path}/ours.ckpt.index`), index, "index");
    assertSameBytes(
      await Deno.readFile(`${dir.path}/ours.ckpt.data-00000-of-00001`),
      await Deno.readFile(`${dir.path}/tf/many.data-00000-of-00001`),
      "data",
    );
  },
});

Deno.test("ckpt convert between TensorFlow and safetensors keeps names and values", async () => {
  await using dir = await tempDir();
  const st = `${dir.path}/tf2.safetensors`;
  let r = await runCli(["convert", `${TF}/tf2`, st, "-q"], { permissions: PERMISSIONS });
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["convert", st, `${dir.path}/back.ckpt`, "-q"], { permissions: PERMISSIONS });
  assert.equal(r.code, 0, r.stderr);
  const file = await openTensorFile(st);
  try {
    for (const t of file.tensors) {
      assert.equal(sha256(await t.read()), expected.tf2.tensors[t.name].sha256, t.name);
    }
  } finally {
    await file.close();
  }
  await withCheckpoint(`${dir.path}/back.ckpt`, async (c) => {
    assert.equal(c.tensors.length, 15);
    for (const t of c.tensors) {
      assert.equal(sha256(await t.read()), expected.tf2.tensors[t.name].sha256, t.name);
    }
  });
});

async function expectBad(
  t: Deno.TestContext,
  name: string,
  edit: (prefix: string) => Promise<void>,
  check: { error: new (...args: never[]) => Error; message: RegExp; onRead?: boolean },
) {
  await t.step(name, async () => {
    await using dir = await tempDir();
    const prefix = await copyCheckpoint(`${TF}/tf1/model.ckpt`, dir.path);
    await edit(prefix);
    if (check.onRead) {
      await withCheckpoint(prefix, async (c) => {
        await assert.rejects(Promise.all(c.tensors.map((x) => x.read())), check.error);
        await assert.rejects(Promise.all(c.tensors.map((x) => x.read())), check.message);
      });
    } else {
      await assert.rejects(openTensorflow(prefix), check.error);
      await assert.rejects(openTensorflow(prefix), check.message);
    }
    const out = `${dir.path}/out/x.safetensors`;
    await Deno.mkdir(`${dir.path}/out`);
    const r = await runCli(["convert", prefix, out, "-q"], { permissions: PERMISSIONS });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, check.message);
    assert.deepEqual(await listDir(`${dir.path}/out`), [], "no output file");
  });
}

async function rewriteIndex(prefix: string, edit: (entries: [Uint8Array, Uint8Array][]) => void) {
  const entries = decodeTable(await Deno.readFile(`${prefix}.index`)).map((e) =>
    [e.key, e.value] as [Uint8Array, Uint8Array]
  );
  edit(entries);
  await Deno.writeFile(`${prefix}.index`, encodeTable(entries));
}

Deno.test("Corrupt TensorFlow checkpoints get typed errors naming the file and tensor, exit 2 and no output", async (t) => {
  const flip = async (path: string, at: (size: number) => number) => {
    const bytes = await Deno.readFile(path);
    bytes[at(bytes.length)] ^= 0x40;
    await Deno.writeFile(path, bytes);
  };
  await expectBad(t, "a truncated index", async (p) => {
    await Deno.truncate(`${p}.index`, 30);
  }, {
    error: TruncatedError,
    message: /model\.ckpt\.index: it has 30 bytes, fewer than its 48-byte footer/,
  });
  await expectBad(t, "an index cut short", async (p) => {
    await Deno.truncate(`${p}.index`, 300);
  }, { error: FormatError, message: /model\.ckpt\.index: the footer's magic/ });
  await expectBad(t, "a wrong magic", (p) => flip(`${p}.index`, (n) => n - 1), {
    error: FormatError,
    message: /footer's magic is 0x9b47/,
  });
  await expectBad(t, "a block CRC mismatch", (p) => flip(`${p}.index`, () => 40), {
    error: FormatError,
    message: /model\.ckpt\.index: the data block at byte 0 fails its checksum/,
  });
  await expectBad(t, "a tensor CRC mismatch", (p) => flip(`${p}.data-00000-of-00001`, () => 5), {
    error: FormatError,
    message:
      /tensor 'Variable' from .*model\.ckpt\.data-00000-of-00001: its 8192 bytes at offset 0 fail their CRC-32C/,
    onRead: true,
  });
  await expectBad(t, "a missing shard", (p) => Deno.remove(`${p}.data-00000-of-00001`), {
    error: FormatError,
    message: /data shard .*model\.ckpt\.data-00000-of-00001 is missing \(it holds 'Variable'\)/,
  });
  await expectBad(t, "a tensor beyond its shard", (p) => Deno.truncate(`${p}.data-00000-of-00001`, 20000), {
    error: FormatError,
    message:
      /tensor 'Variable\/Adam_1' lies at bytes 16384–24576 of .*model\.ckpt\.data-00000-of-00001, which has 20000/,
  });
  await expectBad(t, "absurd dims", (p) =>
    rewriteIndex(p, (entries) => {
      const i = entries.findIndex((e) => new TextDecoder().decode(e[0]) === "Variable");
      entries[i][1] = entryProto({ dtype: 1, shape: [2 ** 40, 2 ** 40], size: 8192 });
    }), { error: FormatError, message: /tensor 'Variable' has shape \[1099511627776,1099511627776\]/ });
  await expectBad(t, "a size beyond the shard, matching its shape", (p) =>
    rewriteIndex(p, (entries) => {
      const i = entries.findIndex((e) => new TextDecoder().decode(e[0]) === "Variable");
      entries[i][1] = entryProto({ dtype: 1, shape: [2 ** 30, 2 ** 10], size: 2 ** 42 });
    }), { error: FormatError, message: /tensor 'Variable' lies at bytes 0–4398046511104 of/ });
  await expectBad(t, "a corrupt BundleEntryProto", (p) =>
    rewriteIndex(p, (entries) => {
      entries[2][1] = new Uint8Array([0x12, 0x7f, 0x01]);
    }), {
    error: FormatError,
    message: /Cannot decode the BundleEntryProto of 'Variable\/Adam' in .*model\.ckpt\.index/,
  });
  await expectBad(t, "a corrupt header", (p) =>
    rewriteIndex(p, (entries) => {
      entries[0][1] = new Uint8Array([0x08]);
    }), { error: FormatError, message: /BundleHeaderProto of '' in .*model\.ckpt\.index/ });
  await expectBad(t, "a shard id beyond the header's count", (p) =>
    rewriteIndex(p, (entries) => {
      entries[1][1] = entryProto({ dtype: 1, shape: [64, 32], shard: 3, size: 8192 });
    }), { error: FormatError, message: /tensor 'Variable' is in data shard 3, but the checkpoint has 1/ });
});

Deno.test("A partitioned variable whose slices do not tile it is refused clearly", async () => {
  await using dir = await tempDir();
  const prefix = await copyCheckpoint(`${TF}/partitioned/model.ckpt`, dir.path);
  await rewriteIndex(prefix, (entries) => {
    const i = entries.findIndex((e) => e[0][0] === 0);
    entries.splice(i, 1);
  });
  await assert.rejects(
    openTensorflow(prefix),
    /tensor 'part' lists a slice \[\d,0\] \+ \[4,4\] that the index lacks/,
  );
  const slices = decodeCheckpointIndex(await Deno.readFile(`${TF}/partitioned/model.ckpt.index`), "p");
  assert.equal(slices.tensors.find((t) => t.name === "part")?.slices?.length, 2);
});

Deno.test("ckpt convert copies a tensor larger than a copy chunk in chunks, CRC-checked, both ways", async () => {
  await using dir = await tempDir();
  const big = new Uint8Array((17 << 20) + 8).map((_, i) => (i * 2654435761) >>> 24);
  await writeTensorflow(
    { metadata: {}, tensors: [tensorFromBytes("big", "F32", [big.length / 4], big)] },
    `${dir.path}/big.ckpt`,
  );
  let r = await runCli(["convert", `${dir.path}/big.ckpt`, `${dir.path}/big.safetensors`, "-q"], {
    permissions: PERMISSIONS,
  });
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(["convert", `${dir.path}/big.safetensors`, `${dir.path}/back.ckpt`, "-q"], {
    permissions: PERMISSIONS,
  });
  assert.equal(r.code, 0, r.stderr);
  await withCheckpoint(
    `${dir.path}/back.ckpt`,
    async (c) => assert.equal(sha256(await c.tensors[0].read()), sha256(big)),
  );
  const data = `${dir.path}/big.ckpt.data-00000-of-00001`;
  const file = await Deno.open(data, { read: true, write: true });
  await file.seek(big.length - 10, Deno.SeekMode.Start);
  await file.write(new Uint8Array([big[big.length - 10] ^ 1]));
  file.close();
  await Deno.mkdir(`${dir.path}/out`);
  r = await runCli(["convert", `${dir.path}/big.ckpt`, `${dir.path}/out/big.safetensors`, "-q"], {
    permissions: PERMISSIONS,
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /tensor 'big' .* fail their CRC-32C/);
  assert.deepEqual(await listDir(`${dir.path}/out`), []);
});

Deno.test("A chunked copy through a tensor's location checks its CRC-32C too", async () => {
  await using dir = await tempDir();
  const prefix = await copyCheckpoint(`${TF}/tf1/model.ckpt`, dir.path);
  const data = `${prefix}.data-00000-of-00001`;
  const bytes = await Deno.readFile(data);
  bytes[8000] ^= 1; // inside 'Variable' (bytes 0–8191)
  await Deno.writeFile(data, bytes);
  await withCheckpoint(prefix, async (c) => {
    const w = c.tensors.find((x) => x.name === "Variable")!;
    const loc = w.location!;
    await loc.source.read(loc.offset, 4096);
    await assert.rejects(loc.source.read(loc.offset + 4096, 4096), /tensor 'Variable' .* fail their CRC-32C/);
    const ok = c.tensors.find((x) => x.name === "Variable_1")!;
    await ok.location!.source.read(ok.location!.offset, ok.byteLength);
  });
  await assert.rejects(openTensorflow(`${dir.path}/absent.ckpt`), /absent\.ckpt\.index does not exist/);
  await assert.rejects(openTensorFile(`${dir.path}/nothing-here`), Deno.errors.NotFound);
  await assert.rejects(openTensorflow(dir.path), UsageError);
});
