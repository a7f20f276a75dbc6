// What the fuzzer drives: every registered format through
// openSource(bytesSource(bytes)) with every tensor read, plus the parts
// underneath that deserve their own target: the pickle machine, the pickle
// scanner, the zip reader and a format made with the packed kit.

import { bytesSource } from "../lib/byte_source.ts";
import { memorySink } from "../lib/byte_sink.ts";
import type { TensorFormat } from "../lib/format.ts";
import type { TensorFile, TensorStream } from "../lib/tensor.ts";
import { tensorFromBytes } from "../lib/tensor.ts";
import { FORMATS } from "../formats/registry.ts";
import { openSource } from "../formats/open_tensor_file.ts";
import { loadPickle, scanPickle, sniffPickle } from "../formats/pickle/mod.ts";
import { numpyFormat } from "../formats/numpy/format.ts";
import { openZip, readZipEntry } from "../formats/zip/mod.ts";
import { definePackedFormat } from "../formats/packed/mod.ts";
import { scanCheckpoint } from "../formats/torch/mod.ts";
import { crc32 } from "../lib/crc32.ts";
import { decodeCheckpointIndex } from "../formats/tensorflow/mod.ts";

/** One thing to fuzz. */
export interface FuzzTarget {
  /** Short name, used by `--format` and in finding file names. */
  readonly name: string;
  /** Allocation limit as a multiple of the input size (decompressing targets need more). */
  readonly allocFactor: number;
  /** True when a file from tests/data is a seed for this target. */
  accepts(head: Uint8Array, size: number, path: string): boolean;
  /** Decode `bytes` completely; throw whatever the decoder throws. */
  run(bytes: Uint8Array): Promise<void>;
}

async function readAll(file: TensorFile): Promise<void> {
  try {
    for (const entry of file.tensors) {
      const bytes = await entry.read();
      if (bytes.byteLength !== entry.byteLength) {
        throw new Error(
          `Tensor ${entry.name} read ${bytes.byteLength} bytes but declares byteLength ${entry.byteLength}`,
        );
      }
    }
  } finally {
    await file.close();
  }
}

function firstFormat(head: Uint8Array, size: number): TensorFormat | undefined {
  return FORMATS.find((f) => {
    try {
      return f.sniff(head, size);
    } catch {
      return false;
    }
  });
}

/**
 * Rewrite the CRC-32 of every stored zip member (central directory and local
 * header) to match its bytes, so mutations inside a member reach the parser
 * behind the zip (PyTorch's pickle, npz's npy headers) instead of stopping
 * at the checksum. The zip target fuzzes the checksum path itself.
 */
export function fixStoredZipCrcs(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (let at = 0; at + 46 <= out.length; at++) {
    if (view.getUint32(at, true) !== 0x02014b50) continue;
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const local = view.getUint32(at + 42, true);
    if (method !== 0 || size === 0xffffffff || local + 30 > out.length) continue;
    if (view.getUint32(local, true) !== 0x04034b50) continue;
    const dataAt = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (dataAt + size > out.length) continue;
    const crc = crc32(out.subarray(dataAt, dataAt + size));
    view.setUint32(at + 16, crc, true);
    view.setUint32(local + 14, crc, true);
  }
  return out;
}

function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b;
}

function formatTarget(format: TensorFormat): FuzzTarget {
  return {
    name: format.name,
    // Deflated members (npz, zip-based formats) legitimately inflate up to ~1032×.
    allocFactor: 1100,
    accepts: (head, size) => firstFormat(head, size) === format,
    async run(bytes) {
      const input = isZip(bytes) ? fixStoredZipCrcs(bytes) : bytes;
      await readAll(await openSource(bytesSource(input, `<fuzz ${format.name}>`)));
    },
  };
}

/** The packed-kit formats the fuzzer exercises: plain, and deflated with a small alignment. */
export const PACKED_FORMATS: readonly TensorFormat[] = [
  definePackedFormat({ name: "fuzzpack", extensions: [".fzp"], magic: "FZPK" }),
  definePackedFormat({ name: "fuzzpackz", extensions: [".fzz"], magic: "FZPZ", deflate: true, alignment: 8 }),
];

const CRASH_TEXT =
  /Cannot read properties of|is not a function|is not iterable|Maximum call stack size|Invalid array length|Invalid typed array length/;

// The scanners report parse failures as findings rather than throwing: a
// finding that quotes a JavaScript engine error is a bug behind them.
function checkFindings(where: string, findings: readonly string[]): void {
  for (const finding of findings) {
    if (CRASH_TEXT.test(finding)) {
      throw new Error(`${where} reported an engine error as a finding: ${finding}`);
    }
  }
}

const pickleTarget: FuzzTarget = {
  name: "pickle",
  allocFactor: 64,
  accepts: (head, size, path) => path.endsWith(".pkl") || sniffPickle(head, size),
  async run(bytes) {
    try {
      loadPickle(bytes);
    } catch (error) {
      if ((error as Error).name !== "UnsafePickleError") throw error;
    }
    loadPickle(bytes, { permissive: true });
    checkFindings("scanPickle", scanPickle(bytes).findings);
    await Promise.resolve();
  },
};

const scanTarget: FuzzTarget = {
  name: "scan",
  allocFactor: 1100,
  accepts: (head, size) => isZip(head) || sniffPickle(head, size) || numpyFormat.sniff(head, size),
  async run(bytes) {
    const input = isZip(bytes) ? fixStoredZipCrcs(bytes) : bytes;
    checkFindings("scanCheckpoint", (await scanCheckpoint(bytesSource(input, "<fuzz scan>"))).findings);
  },
};

const zipTarget: FuzzTarget = {
  name: "zip",
  allocFactor: 1100,
  accepts: (head) => head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5),
  async run(bytes) {
    const archive = await openZip(bytesSource(bytes, "<fuzz zip>"));
    for (const entry of archive.entries) {
      if (entry.method !== 0 && entry.method !== 8) continue;
      await readZipEntry(archive, entry);
    }
  },
};

function packedTarget(format: TensorFormat): FuzzTarget {
  return {
    name: format.name,
    allocFactor: format.name === "fuzzpackz" ? 1100 : 64,
    accepts: () => false,
    run: async (bytes) => await readAll(await format.open(bytesSource(bytes, `<fuzz ${format.name}>`))),
  };
}

// A TensorFlow checkpoint is several files, opened by path: its target is
// the index decoder, run with block checksums checked and, to reach the
// protobuf entries behind them, unchecked.
const tensorflowTarget: FuzzTarget = {
  name: "tensorflow",
  allocFactor: 200,
  accepts: (_head, _size, path) => path.endsWith(".index"),
  async run(bytes) {
    try {
      decodeCheckpointIndex(bytes, "<fuzz tensorflow>");
    } finally {
      decodeCheckpointIndex(bytes, "<fuzz tensorflow>", { verifyChecksums: false });
    }
    await Promise.resolve();
  },
};

/** Every target, registry formats first. */
export const TARGETS: readonly FuzzTarget[] = [
  ...FORMATS.filter((f) => f.name !== "tensorflow").map(formatTarget),
  tensorflowTarget,
  pickleTarget,
  scanTarget,
  zipTarget,
  ...PACKED_FORMATS.map(packedTarget),
];

/**
 * Targets that misbehave on purpose, so tests can check the harness itself
 * notices crashes, hangs and oversized allocations. Never seeded.
 */
export const SELF_TEST_TARGETS: readonly FuzzTarget[] = [
  {
    name: "selftest-crash",
    allocFactor: 64,
    accepts: () => false,
    run: (bytes) => Promise.resolve((undefined as unknown as number[])[bytes.length]).then(() => {}),
  },
  {
    name: "selftest-hang",
    allocFactor: 64,
    accepts: () => false,
    run: () => {
      for (;;) {
        // Spins until the parent kills the worker.
      }
    },
  },
  {
    name: "selftest-alloc",
    allocFactor: 64,
    accepts: () => false,
    run: (bytes) => Promise.resolve(void new Uint8Array(bytes.length * 1000 + 2 * 1024 * 1024)),
  },
];

/** The target named `name` (self-test targets included), if any. */
export function targetByName(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name) ?? SELF_TEST_TARGETS.find((t) => t.name === name);
}

function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** Small streams every writer gets, so each format has seeds even without test files. */
function seedStreams(): TensorStream[] {
  const i64 = new Uint8Array(new BigInt64Array([1n, -2n, 3n, 4n]).buffer);
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7c00, 0]).buffer);
  return [
    {
      metadata: { note: "fuzz seed", "general.name": "seed" },
      tensors: [
        tensorFromBytes("a.weight", "F32", [2, 3], f32([1, 2, 3, 4, 5, 6])),
        tensorFromBytes("a.bias", "F32", [3], f32([0.5, -0.5, 0])),
      ],
    },
    {
      metadata: {},
      tensors: [
        tensorFromBytes("ids", "I64", [4], i64),
        tensorFromBytes("half", "F16", [2, 2], f16),
        tensorFromBytes("scalar", "F32", [], f32([7])),
        tensorFromBytes("mask", "U8", [5], new Uint8Array([1, 0, 1, 1, 0])),
      ],
    },
    {
      metadata: { k: "v" },
      tensors: [
        tensorFromBytes("block.weight", "F32", [4, 32], f32(Array.from({ length: 128 }, (_, i) => i / 7))),
      ],
    },
  ];
}

/**
 * Seeds made by each writable format's own writer (one per seed stream it
 * accepts), keyed by target name.
 */
export async function writerSeeds(): Promise<Map<string, Uint8Array[]>> {
  const seeds = new Map<string, Uint8Array[]>();
  const writers: [string, TensorFormat][] = [
    ...FORMATS.map((f) => [f.name, f] as [string, TensorFormat]),
    ...PACKED_FORMATS.map((f) => [f.name, f] as [string, TensorFormat]),
  ];
  for (const [name, format] of writers) {
    if (!format.write) continue;
    for (const stream of seedStreams()) {
      const sink = memorySink();
      try {
        await format.write(stream, sink, {});
        await sink.close();
        const bytes = sink.bytes();
        if (bytes.length > 0) seeds.set(name, [...(seeds.get(name) ?? []), bytes]);
      } catch {
        // A writer that refuses a dtype just contributes fewer seeds.
      }
    }
  }
  return seeds;
}
