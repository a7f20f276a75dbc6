/**
 * Scan a file for the Python globals its pickles would import, whatever its
 * extension says: pickles inside zips (read both through the central
 * directory and by walking local headers, so disagreeing headers, bad CRCs
 * or odd flags hide nothing), legacy PyTorch streams, plain pickles, and
 * numpy object arrays. Nothing is executed.
 *
 * @module
 */

import type { ByteSource } from "../../lib/byte_source.ts";
import { crc32 } from "../../lib/crc32.ts";
import { LimitError } from "../../lib/errors.ts";
import { looksLikePickle, type ScannedGlobal, scanPickle, type ScanVerdict } from "../pickle/mod.ts";
import { openZip, readZipEntry, type ZipEntry } from "../zip/mod.ts";
import { isLegacyTorch, legacyDataEnd, MAX_PICKLE_BYTES } from "./open_torch.ts";

/** What {@linkcode scanCheckpoint} found in one file. */
export interface CheckpointScan {
  /** `dangerous` beats `unknown` beats `error` beats `safe`. */
  readonly verdict: ScanVerdict;
  /** What the bytes are: `zip`, `torch-legacy`, `pickle`, `npy`, `safetensors`, `gguf` or `unknown`. */
  readonly kind: string;
  /** Every global named by any pickle in the file, in order. */
  readonly globals: readonly ScannedGlobal[];
  /** Notes: where pickles were found, anything unusual, errors. */
  readonly findings: readonly string[];
}

/** Options for {@linkcode scanCheckpoint}. */
export interface ScanCheckpointOptions {
  /** Extra `module.name` globals to count as safe. @default [] */
  allowGlobals?: readonly string[];
  /** Largest pickle to read into memory, in bytes. @default 2147483648 */
  maxPickleBytes?: number;
}

const RANK: Record<ScanVerdict, number> = { safe: 0, error: 1, unknown: 2, dangerous: 3 };
const LOCAL_SIG = 0x04034b50;
/** Most local headers walked in one zip. */
const MAX_LOCAL_HEADERS = 1_000_000;

class Report {
  verdict: ScanVerdict = "safe";
  globals: ScannedGlobal[] = [];
  findings: string[] = [];
  #seen = new Set<string>();
  raise(verdict: ScanVerdict): void {
    if (RANK[verdict] > RANK[this.verdict]) this.verdict = verdict;
  }
  add(scan: ReturnType<typeof scanPickle>, where: string): void {
    for (const g of scan.globals) {
      if (!this.#seen.has(g.name)) {
        this.#seen.add(g.name);
        this.globals.push(g);
      }
    }
    for (const f of scan.findings) this.findings.push(`${where}: ${f}`);
    this.raise(scan.verdict);
  }
}

/**
 * Scan one file's bytes for pickles and judge what they import.
 *
 * @example
 * ```ts
 * import { scanCheckpoint } from "./scan_checkpoint.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * const evil = new TextEncoder().encode("\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.");
 * const report = await scanCheckpoint(bytesSource(evil));
 * console.log(report.verdict, report.globals.map((g) => g.name)); // dangerous [ "os.system" ]
 * ```
 */
export async function scanCheckpoint(
  source: ByteSource,
  options: ScanCheckpointOptions = {},
): Promise<CheckpointScan> {
  const report = new Report();
  const limit = options.maxPickleBytes ?? MAX_PICKLE_BYTES;
  const scanOptions = { allowGlobals: options.allowGlobals };
  const head = await source.read(0, Math.min(source.size, 64));
  let kind = "unknown";
  if (source.size === 0) {
    report.findings.push("the file is empty");
    report.raise("error");
  } else if (head[0] === 0x50 && head[1] === 0x4b) {
    kind = "zip";
    await scanZip(source, report, limit, scanOptions);
  } else if (isLegacyTorch(head)) {
    kind = "torch-legacy";
    await scanLegacy(source, report, limit, scanOptions);
  } else if (startsLikePickle(head)) {
    kind = "pickle";
    if (source.size > limit) tooLarge(source.size, limit);
    report.add(
      scanPickle(await source.read(0, source.size), { ...scanOptions, name: source.name }),
      "pickle",
    );
  } else if (isNpy(head)) {
    kind = "npy";
    scanNpy(source, await source.read(0, source.size > limit ? limit : source.size), report, scanOptions);
  } else if (isSafetensors(head, source.size)) {
    kind = "safetensors";
    report.findings.push("no pickle: a safetensors file holds no code");
  } else if (head.length >= 4 && new TextDecoder().decode(head.subarray(0, 4)) === "GGUF") {
    kind = "gguf";
    report.findings.push("no pickle: a GGUF file holds no code");
  } else {
    report.findings.push("not a pickle, a zip archive or a known tensor file");
    report.raise("error");
  }
  return { verdict: report.verdict, kind, globals: report.globals, findings: report.findings };
}

function tooLarge(size: number, limit: number): never {
  throw new LimitError(`Cannot scan a ${size}-byte pickle: it exceeds the limit of ${limit} bytes`, {
    limit,
    actual: size,
  });
}

function startsLikePickle(head: Uint8Array): boolean {
  // PROTO, or the opcodes protocol 0/1 pickles usually open with: GLOBAL, MARK, EMPTY_DICT, EMPTY_LIST, INST.
  return (head[0] === 0x80 && head[1] <= 5) || [0x63, 0x28, 0x7d, 0x5d, 0x69].includes(head[0]);
}

function isNpy(head: Uint8Array): boolean {
  return head.length >= 10 && head[0] === 0x93 && new TextDecoder().decode(head.subarray(1, 6)) === "NUMPY";
}

function isSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 9) return false;
  const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return length >= 2n && length <= BigInt(size - 8) && head[8] === 0x7b;
}

function scanNpy(
  source: ByteSource,
  bytes: Uint8Array,
  report: Report,
  options: { allowGlobals?: readonly string[] },
  where = "npy",
): void {
  if (bytes.length < 12) {
    report.findings.push(`${where}: the npy header is cut short`);
    report.raise("error");
    return;
  }
  const major = bytes[6];
  const headerLength = major === 1
    ? bytes[8] | (bytes[9] << 8)
    : new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
  const start = major === 1 ? 10 : 12;
  const header = String.fromCharCode(...bytes.subarray(start, start + Math.min(headerLength, 65535)));
  if (/'descr':\s*'\|?O/.test(header) || /'descr':\s*\[/.test(header) && header.includes("'O'")) {
    // Object arrays are stored as a pickle after the header.
    report.add(
      scanPickle(bytes, { ...options, offset: start + headerLength, name: source.name }),
      `${where} object array`,
    );
  } else {
    report.findings.push(`${where}: no pickle (a plain numeric array)`);
  }
}

async function scanLegacy(
  source: ByteSource,
  report: Report,
  limit: number,
  options: { allowGlobals?: readonly string[] },
): Promise<void> {
  let length = Math.min(source.size, 1024 * 1024, limit);
  let scan = scanPickle(await source.read(0, length), { ...options, maxPickles: 5, name: source.name });
  // The pickles' length is not recorded: grow the prefix while they are cut short.
  while (scan.pickles < 5 && length < Math.min(source.size, limit)) {
    length = Math.min(source.size, limit, length * 4);
    scan = scanPickle(await source.read(0, length), { ...options, maxPickles: 5, name: source.name });
  }
  report.add(scan, "legacy pickles");
  if (scan.pickles < 5) return;
  try {
    const end = await legacyDataEnd(source, { allowGlobals: options.allowGlobals });
    if (end < source.size) {
      report.findings.push(`${source.size - end} bytes follow the last storage at offset ${end}`);
      const rest = await source.read(end, Math.min(source.size - end, limit));
      report.add(scanPickle(rest, { ...options, baseOffset: end, name: source.name }), "trailing data");
      report.raise("unknown");
    }
  } catch (error) {
    report.findings.push(`storages: ${(error as Error).message}`);
    report.raise("error");
  }
}

interface Member {
  name: string;
  flags: number;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  dataOffset: number;
  localHeaderOffset: number;
}

async function scanZip(
  source: ByteSource,
  report: Report,
  limit: number,
  options: { allowGlobals?: readonly string[] },
): Promise<void> {
  const members = new Map<number, Member>();
  let cdEntries: ZipEntry[] = [];
  try {
    const zip = await openZip(source);
    cdEntries = zip.entries;
  } catch (error) {
    report.findings.push(`zip: ${(error as Error).message}`);
    report.raise("unknown");
  }
  for (const e of cdEntries) members.set(e.localHeaderOffset, { ...e });
  // Walk the local headers too: a loader that trusts them would see these members.
  const walked = await walkLocalHeaders(source, cdEntries, report);
  for (const m of walked) {
    const known = members.get(m.localHeaderOffset);
    if (!known) {
      members.set(m.localHeaderOffset, m);
      if (cdEntries.length) {
        report.findings.push(
          `zip: member '${m.name}' at ${m.localHeaderOffset} is missing from the central directory`,
        );
        report.raise("unknown");
      }
    } else if (known.name !== m.name) {
      report.findings.push(
        `zip: local header at ${m.localHeaderOffset} names '${m.name}', the central directory '${known.name}'`,
      );
      report.raise("unknown");
      members.set(-1 - m.localHeaderOffset, m);
    }
  }
  if (members.size === 0) {
    report.findings.push("zip: no members could be read");
    report.raise("error");
    return;
  }
  const archive = { source, entries: [], entry: () => undefined };
  for (const m of members.values()) {
    const isPickle = /\.pkl$/i.test(m.name);
    const isNpy = /\.npy$/i.test(m.name);
    if (m.flags & 0x41) {
      report.findings.push(`zip: member '${m.name}' is marked encrypted`);
      report.raise("unknown");
    }
    if (!isPickle && !isNpy) continue;
    if (m.size > limit) {
      report.findings.push(`zip: member '${m.name}' (${m.size} bytes) is too large to scan`);
      report.raise("error");
      continue;
    }
    let data: Uint8Array;
    try {
      const entry = { ...m, flags: m.flags & ~0x41 };
      data = await readZipEntry(archive, entry, { verifyCrc: false, maxInflatedBytes: limit });
    } catch (error) {
      report.findings.push(`zip: member '${m.name}': ${(error as Error).message}`);
      report.raise("error");
      continue;
    }
    if (crc32(data) !== m.crc32) {
      report.findings.push(
        `zip: member '${m.name}' has a bad CRC-32 (loaders that skip the check still read it)`,
      );
      report.raise("unknown");
    }
    if (isPickle || looksLikePickle(data)) {
      report.add(scanPickle(data, { ...options, name: `${source.name}:${m.name}` }), m.name);
    } else {
      scanNpy(source, data, report, options, m.name);
    }
  }
}

async function walkLocalHeaders(source: ByteSource, cd: ZipEntry[], report: Report): Promise<Member[]> {
  const out: Member[] = [];
  const cdByOffset = new Map(cd.map((e) => [e.localHeaderOffset, e]));
  let at = 0;
  for (let i = 0; i < MAX_LOCAL_HEADERS && at + 30 <= source.size; i++) {
    const head = await source.read(at, 30);
    const view = new DataView(head.buffer, head.byteOffset, 30);
    if (view.getUint32(0, true) !== LOCAL_SIG) break;
    const flags = view.getUint16(6, true);
    const method = view.getUint16(8, true);
    let crc = view.getUint32(14, true);
    let compressedSize = view.getUint32(18, true);
    let size = view.getUint32(22, true);
    const nameLength = view.getUint16(26, true);
    const extraLength = view.getUint16(28, true);
    if (at + 30 + nameLength + extraLength > source.size) break;
    const name = new TextDecoder().decode(await source.read(at + 30, nameLength));
    const dataOffset = at + 30 + nameLength + extraLength;
    const fromCd = cdByOffset.get(at);
    if ((flags & 0x08) || compressedSize === 0xffffffff) {
      // Sizes live in a data descriptor or a ZIP64 field: take them from the central directory.
      if (!fromCd) {
        report.findings.push(`zip: cannot follow local headers past '${name}' at ${at}`);
        break;
      }
      compressedSize = fromCd.compressedSize;
      size = fromCd.size;
      crc = fromCd.crc32;
    }
    if (dataOffset + compressedSize > source.size) break;
    out.push({ name, flags, method, compressedSize, size, crc32: crc, dataOffset, localHeaderOffset: at });
    at = dataOffset + compressedSize;
    if (flags & 0x08) {
      // Skip the data descriptor (optional signature, CRC, sizes).
      const d = await source.read(at, Math.min(16, source.size - at));
      at += d.length >= 4 && new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true) === 0x08074b50
        ? 16
        : 12;
    }
  }
  return out;
}
