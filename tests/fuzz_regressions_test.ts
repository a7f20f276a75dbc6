// Regression inputs for the decoders: every saved fuzz finding
// (tests/data/fuzz/findings/<target>-<hash>.bin) and a corpus of hand-made
// hostile inputs, each run through the fuzz harness (own process, time limit,
// allocation guard) and required to end as a typed rejection.

import assert from "node:assert/strict";
import { checkInput, FuzzExecutor } from "../fuzz/run_fuzz.ts";
import { DATA } from "./_helpers.ts";

const FINDINGS = `${DATA}/fuzz/findings`;

function u64(view: DataView, at: number, value: bigint): void {
  view.setBigUint64(at, value, true);
}

function safetensors(json: string, extra = 0): Uint8Array {
  const text = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + text.length + extra);
  u64(new DataView(bytes.buffer), 0, BigInt(text.length));
  bytes.set(text, 8);
  return bytes;
}

function gguf(tensors: bigint, kvs: bigint, body: number[] = []): Uint8Array {
  const bytes = new Uint8Array(24 + body.length);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode("GGUF"), 0);
  view.setUint32(4, 3, true);
  u64(view, 8, tensors);
  u64(view, 16, kvs);
  bytes.set(body, 24);
  return bytes;
}

function npy(header: string): Uint8Array {
  const text = new TextEncoder().encode(header.padEnd(118, " ") + "\n");
  const bytes = new Uint8Array(10 + text.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length & 0xff, text.length >> 8]);
  bytes.set(text, 10);
  return bytes;
}

function le(n: number, width: number): number[] {
  return Array.from({ length: width }, (_, i) => Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
}

/** target, what it is, the bytes, the error class the decoder must throw. */
const CORPUS: [string, string, Uint8Array, string][] = [
  [
    "safetensors",
    "a header length of 9e9",
    safetensors("{}").map((b, i) => (i < 8 ? le(9e9, 8)[i] : b)),
    "FormatError",
  ],
  [
    "safetensors",
    "data_offsets ending at 2^64",
    safetensors('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}', 1),
    "FormatError",
  ],
  [
    "safetensors",
    "a shape whose element count overflows",
    safetensors('{"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}', 4),
    "LimitError",
  ],
  ["gguf", "a tensor count of 2^64-1", gguf(0xffffffffffffffffn, 0n), "FormatError"],
  [
    "gguf",
    "a u8 array of 2^52 items",
    gguf(0n, 1n, [...le(1, 8), 0x61, ...le(9, 4), ...le(0, 4), ...le(2 ** 52, 8), 0, 0, 0, 0]),
    "LimitError",
  ],
  [
    "npy",
    "a shape of 2^40 × 2^40",
    npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }"),
    "FormatError",
  ],
  [
    "pickle",
    "MARKs nested 100000 deep",
    new Uint8Array([0x80, 2, ...new Array(100000).fill(0x28), 0x2e]),
    "LimitError",
  ],
  [
    "pickle",
    "a memo get of index 2^32-1",
    new Uint8Array([0x80, 2, 0x6a, 0xff, 0xff, 0xff, 0xff, 0x2e]),
    "FormatError",
  ],
  [
    "pickle",
    "a BINBYTES8 of 2^62 bytes",
    new Uint8Array([0x80, 4, 0x8e, ...le(2 ** 52, 8).slice(0, 7), 0x40, 0x2e]),
    "TruncatedError",
  ],
  [
    "zip",
    "an end record claiming 65535 members in a 4 GiB directory",
    new Uint8Array([
      0x50,
      0x4b,
      5,
      6,
      0,
      0,
      0,
      0,
      0xff,
      0xff,
      0xff,
      0xff,
      ...le(0xffffff00, 4),
      ...le(0, 4),
      0,
      0,
    ]),
    "FormatError",
  ],
  [
    "torch",
    "a 1 KiB file whose stride-0 view (torch's expand) reads as 16 GiB",
    Deno.readFileSync(`${DATA}/torch/expanded_huge.pt`),
    "LimitError",
  ],
];

Deno.test("hostile inputs are rejected with typed errors, in time and without large allocations", async (t) => {
  const executor = new FuzzExecutor();
  try {
    for (const [target, label, bytes, errorClass] of CORPUS) {
      await t.step(`${target}: ${label}`, async () => {
        const outcome = await checkInput(executor, target, bytes, 5000);
        assert.equal(outcome.status, "rejected", `${outcome.status} ${outcome.error}: ${outcome.message}`);
        assert.equal(outcome.error, errorClass, `${outcome.error}: ${outcome.message}`);
        assert.match(outcome.message, /^Cannot /);
      });
    }
  } finally {
    executor.stop();
  }
});

Deno.test("every saved fuzz finding is now accepted or rejected with a typed error", async (t) => {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(FINDINGS)) if (entry.name.endsWith(".bin")) files.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  files.sort();
  const executor = new FuzzExecutor();
  try {
    for (const name of files) {
      await t.step(name, async () => {
        const target = name.slice(0, name.lastIndexOf("-"));
        const outcome = await checkInput(executor, target, await Deno.readFile(`${FINDINGS}/${name}`), 5000);
        assert.ok(
          outcome.status === "ok" || outcome.status === "rejected",
          `${outcome.status} ${outcome.error}: ${outcome.message}\n${outcome.stack}`,
        );
      });
    }
  } finally {
    executor.stop();
  }
});
