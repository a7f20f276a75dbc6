/**
 * Scan a file for the Python globals its pickles would import, whatever its
 * extension says, and judge it as `torch.load(weights_only=True)` would:
 * pickles inside zips (every member sniffed by its content, whatever its
 * name, nested archives included; read both through the central directory
 * and by walking local headers, so disagreeing headers, bad CRCs or odd
 * flags hide nothing), 7z archives, legacy PyTorch streams, plain pickles
 * of any protocol, and numpy object arrays. Nothing is executed. Anything
 * that cannot be read whole is an `error`, never `safe`.
 *
 * @module
 */

import { type ByteSource, bytesSource } from "../../lib/byte_source.ts";
import { sliceSource } from "../../lib/binary/slice_source.ts";
import { crc32 } from "../../lib/crc32.ts";
import { LimitError } from "../../lib/errors.ts";
import { type ScannedGlobal, scanPickle, type ScanVerdict, sniffPickle } from "../pickle/mod.ts";
import { sniffSafetensors } from "../safetensors/format.ts";
import { ggufFormat } from "../gguf/format.ts";
import { numpyFormat } from "../numpy/format.ts";
import { openZip, readZipEntry, sniffZip, type ZipEntry } from "../zip/mod.ts";
import { isLegacyTorch, legacyDataEnd, MAX_PICKLE_BYTES } from "./open_torch.ts";
import { extract7z, sniff7z } from "./_7z.ts";

/** What {@linkcode scanCheckpoint} found in one file. */
export interface CheckpointScan {
  /** `dangerous` beats `unknown` beats `error` beats `safe`. */
  readonly verdict: ScanVerdict;
  /** What the bytes are: `zip`, `7z`, `torch-legacy`, `pickle`, `npy`, `safetensors`, `gguf` or `unknown`. */
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
  /** Largest pickle (or archive member) to read into memory, in bytes. @default 2147483648 */
  maxPickleBytes?: number;
}

const RANK: Record<ScanVerdict, number> = { safe: 0, error: 1, unknown: 2, dangerous: 3 };
const LOCAL_SIG = 0x04034b50;
const DESCRIPTOR_SIG = 0x08074b50;
/** Zip flag bits: 0 encrypted, 3 sizes in a data descriptor, 6 strong encryption. */
const FLAG_ENCRYPTED = 0x41;
const FLAG_DESCRIPTOR = 0x08;
/** Most local headers walked in one zip. */
const MAX_LOCAL_HEADERS = 1_000_000;
/** Bytes of each member (or file) looked at to tell what it is. */
const SNIFF_BYTES = 4096;
/** Archives inside archives followed this deep (a zip bomb of nested zips stops here). */
export const MAX_ARCHIVE_DEPTH = 4;

class Report {
  verdict: ScanVerdict = "safe";
  globals: ScannedGlobal[] = [];
  findings: string[] = [];
  #seen = new Set<string>();
  raise(verdict: ScanVerdict): void {
    if (RANK[verdict] > RANK[this.verdict]) this.verdict = verdict;
  }
  note(where: string, finding: string, verdict?: ScanVerdict): void {
    this.findings.push(where ? `${where}: ${finding}` : finding);
    if (verdict) this.raise(verdict);
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

interface Context {
  readonly report: Report;
  readonly limit: number;
  readonly allowGlobals?: readonly string[];
}

/**
 * Scan one file's bytes for pickles and judge what they import.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanCheckpoint } from "./scan_checkpoint.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * // Latin-1 bytes, one a character (TextEncoder would UTF-8-encode the 0x80).
 * const evil = Uint8Array.from("\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.", (c) => c.charCodeAt(0));
 * const report = await scanCheckpoint(bytesSource(evil));
 * assert.equal(report.verdict, "dangerous");
 * assert.deepEqual(report.globals.map((g) => g.name), ["os.system"]);
 * ```
 */
export async function scanCheckpoint(
  source: ByteSource,
  options: ScanCheckpointOptions = {},
): Promise<CheckpointScan> {
  const report = new Report();
  const ctx: Context = {
    report,
    limit: options.maxPickleBytes ?? MAX_PICKLE_BYTES,
    allowGlobals: options.allowGlobals,
  };
  const kind = await scanSource(source, ctx, "", 0, true);
  return { verdict: report.verdict, kind, globals: report.globals, findings: report.findings };
}

function tooLarge(size: number, limit: number): never {
  throw new LimitError(`Cannot scan a ${size}-byte pickle: it exceeds the limit of ${limit} bytes`, {
    limit,
    actual: size,
  });
}

// Tell what `source` is by its bytes and scan it. `top`: the file itself, or
// a member named like a pickle, which must be something ckpt knows.
async function scanSource(
  source: ByteSource,
  ctx: Context,
  where: string,
  depth: number,
  top: boolean,
): Promise<string> {
  const { report } = ctx;
  if (source.size === 0) {
    if (top) report.note(where, where ? "the member is empty" : "the file is empty", "error");
    return "unknown";
  }
  const head = await source.read(0, Math.min(source.size, SNIFF_BYTES));
  const archive = sniffZip(head) ? "zip" : sniff7z(head) ? "7z" : undefined;
  if (archive) {
    if (depth >= MAX_ARCHIVE_DEPTH) {
      report.note(
        where,
        `a ${archive} archive nested deeper than ${MAX_ARCHIVE_DEPTH} levels is not read`,
        "error",
      );
    } else if (archive === "zip") {
      await scanZip(source, ctx, where, depth + 1);
    } else {
      await scan7z(source, ctx, where, depth + 1);
    }
    return archive;
  }
  if (isLegacyTorch(head)) {
    await scanLegacy(source, ctx, where);
    return "torch-legacy";
  }
  if (sniffSafetensors(head, source.size)) {
    if (top && !where) report.note(where, "no pickle: a safetensors file holds no code");
    return "safetensors";
  }
  if (ggufFormat.sniff(head, source.size)) {
    if (top && !where) report.note(where, "no pickle: a GGUF file holds no code");
    return "gguf";
  }
  if (numpyFormat.sniff(head, source.size)) {
    if (source.size > ctx.limit) tooLarge(source.size, ctx.limit);
    scanNpy(source, await source.read(0, source.size), ctx, where || "npy");
    return "npy";
  }
  if (sniffPickle(head, source.size)) {
    if (source.size > ctx.limit) tooLarge(source.size, ctx.limit);
    const scan = scanPickle(await source.read(0, source.size), {
      allowGlobals: ctx.allowGlobals,
      name: source.name,
    });
    if (!top && scan.pickles === 0 && scan.globals.length === 0) {
      // Data that merely opens like a pickle (a tensor's bytes): say so, judge nothing.
      report.note(where, "starts like a pickle but is not one (read as data)");
      return "unknown";
    }
    report.add(scan, where || "pickle");
    return "pickle";
  }
  if (top) {
    report.note(
      where,
      where ? "named like a pickle but not a pickle" : "not a pickle, a zip archive or a known tensor file",
      "error",
    );
  }
  return "unknown";
}

function scanNpy(source: ByteSource, bytes: Uint8Array, ctx: Context, where: string): void {
  const { report } = ctx;
  if (bytes.length < 12) {
    report.note(where, "the npy header is cut short", "error");
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
      scanPickle(bytes, {
        allowGlobals: ctx.allowGlobals,
        offset: start + headerLength,
        name: source.name,
        // numpy, not torch, unpickles these: its rules are pickle.load's.
        weightsOnly: false,
      }),
      `${where} object array`,
    );
    // torch's weights-only loader never reads an object array.
    report.raise("unknown");
  } else {
    report.note(where, "no pickle (a plain numeric array)");
  }
}

async function scanLegacy(source: ByteSource, ctx: Context, where: string): Promise<void> {
  const { report, limit } = ctx;
  const options = { allowGlobals: ctx.allowGlobals };
  const label = where ? `${where} legacy pickles` : "legacy pickles";
  let length = Math.min(source.size, 1024 * 1024, limit);
  let scan = scanPickle(await source.read(0, length), { ...options, maxPickles: 5, name: source.name });
  // The pickles' length is not recorded: grow the prefix while they are cut short.
  while (scan.pickles < 5 && length < Math.min(source.size, limit)) {
    length = Math.min(source.size, limit, length * 4);
    scan = scanPickle(await source.read(0, length), { ...options, maxPickles: 5, name: source.name });
  }
  report.add(scan, label);
  if (scan.pickles < 5) {
    report.note(where, `only ${scan.pickles} of the 5 legacy pickles could be read`, "error");
    return;
  }
  try {
    const end = await legacyDataEnd(source, options);
    if (end < source.size) {
      report.note(where, `${source.size - end} bytes follow the last storage at offset ${end}`, "unknown");
      const rest = await source.read(end, Math.min(source.size - end, limit));
      report.add(
        scanPickle(rest, { ...options, baseOffset: end, name: source.name }),
        where ? `${where} trailing data` : "trailing data",
      );
    }
  } catch (error) {
    report.note(where, `storages: ${(error as Error).message}`, "error");
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
  /** Cut short by the end of the file (its CRC cannot be checked). */
  truncated?: boolean;
}

async function scanZip(source: ByteSource, ctx: Context, where: string, depth: number): Promise<void> {
  const { report, limit } = ctx;
  const zipWhere = where ? `${where}: zip` : "zip";
  const members = new Map<number, Member>();
  let cdEntries: ZipEntry[] = [];
  try {
    const zip = await openZip(source);
    cdEntries = zip.entries;
  } catch (error) {
    // Truncated or broken: what the local headers still show is scanned, but the file is not read whole.
    report.note(zipWhere, (error as Error).message, "error");
  }
  for (const e of cdEntries) members.set(e.localHeaderOffset, { ...e });
  // Walk the local headers too: a loader that trusts them would see these members.
  const walked = await walkLocalHeaders(source, cdEntries, report, zipWhere);
  for (const m of walked) {
    const known = members.get(m.localHeaderOffset);
    if (!known) {
      members.set(m.localHeaderOffset, m);
      if (cdEntries.length) {
        report.note(
          zipWhere,
          `member '${m.name}' at ${m.localHeaderOffset} is missing from the central directory`,
          "unknown",
        );
      }
    } else if (known.name !== m.name) {
      report.note(
        zipWhere,
        `local header at ${m.localHeaderOffset} names '${m.name}', the central directory '${known.name}'`,
        "unknown",
      );
      members.set(-1 - m.localHeaderOffset, m);
    }
  }
  if (members.size === 0) {
    if (cdEntries.length === 0 && report.verdict === "safe") report.note(zipWhere, "the archive is empty");
    else report.note(zipWhere, "no members could be read", "error");
    return;
  }
  const archive = { source, entries: [], entry: () => undefined };
  for (const m of members.values()) {
    const label = where ? `${where}/${m.name}` : m.name;
    const namedPickle = /\.(pkl|pickle)$/i.test(m.name);
    if (m.flags & FLAG_ENCRYPTED) report.note(zipWhere, `member '${m.name}' is marked encrypted`, "unknown");
    if (m.name.endsWith("/") && m.size === 0) continue;
    let member: ByteSource;
    if (m.method === 0 && m.compressedSize === m.size) {
      if (m.dataOffset + m.size > source.size) {
        report.note(zipWhere, `member '${m.name}' runs past the end of the file`, "error");
        continue;
      }
      member = sliceSource(source, m.dataOffset, m.size, `${source.name}:${m.name}`);
    } else {
      if (m.size > limit) {
        report.note(zipWhere, `member '${m.name}' (${m.size} bytes) is too large to scan`, "error");
        continue;
      }
      try {
        const entry = { ...m, flags: m.flags & ~FLAG_ENCRYPTED };
        const data = await readZipEntry(archive, entry, { verifyCrc: false, maxInflatedBytes: limit });
        member = bytesSource(data, `${source.name}:${m.name}`);
        if (crc32(data) !== m.crc32) badCrc(report, zipWhere, m.name);
      } catch (error) {
        report.note(zipWhere, `member '${m.name}': ${(error as Error).message}`, "error");
        continue;
      }
    }
    const kind = await scanSource(member, ctx, label, depth, namedPickle);
    // Stored members that were read whole have their CRC checked too (loaders that skip the check still read them).
    if (m.method === 0 && !m.truncated && kind !== "unknown" && member.size <= limit) {
      if (crc32(await member.read(0, member.size)) !== m.crc32) badCrc(report, zipWhere, m.name);
    }
  }
}

function badCrc(report: Report, where: string, name: string): void {
  report.note(
    where,
    `member '${name}' has a bad CRC-32 (loaders that skip the check still read it)`,
    "unknown",
  );
}

async function walkLocalHeaders(
  source: ByteSource,
  cd: ZipEntry[],
  report: Report,
  where: string,
): Promise<Member[]> {
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
    if (at + 30 + nameLength + extraLength > source.size) {
      report.note(where, `the local header at ${at} runs past the end of the file`, "error");
      break;
    }
    const name = new TextDecoder().decode(await source.read(at + 30, nameLength));
    const dataOffset = at + 30 + nameLength + extraLength;
    const fromCd = cdByOffset.get(at);
    if ((flags & FLAG_DESCRIPTOR) || compressedSize === 0xffffffff) {
      // Sizes live in a data descriptor or a ZIP64 field: take them from the central directory,
      // or (no central directory: a truncated file) find the descriptor that follows a stored member.
      const found = fromCd ? undefined : method === 0 ? await findDescriptor(source, dataOffset) : undefined;
      if (!fromCd && !found) {
        report.note(
          where,
          `cannot follow local headers past '${name}' at ${at}`,
          cd.length ? undefined : "error",
        );
        if (method === 0 && !cd.length) {
          // A stored member cut short by the end of the file: scan what there is of it.
          out.push(truncatedMember(name, flags, crc, dataOffset, at, source.size));
        }
        break;
      }
      compressedSize = fromCd?.compressedSize ?? found!.size;
      size = fromCd?.size ?? found!.size;
      crc = fromCd?.crc32 ?? found!.crc32;
    }
    if (dataOffset + compressedSize > source.size) {
      report.note(where, `member '${name}' at ${at} is cut short by the end of the file`, "error");
      // What is there of a stored member is still scanned.
      if (method === 0) {
        out.push(truncatedMember(name, flags, crc, dataOffset, at, source.size));
      }
      break;
    }
    out.push({ name, flags, method, compressedSize, size, crc32: crc, dataOffset, localHeaderOffset: at });
    at = dataOffset + compressedSize;
    if (flags & FLAG_DESCRIPTOR) {
      // Skip the data descriptor (optional signature, CRC, sizes).
      const d = await source.read(at, Math.min(16, source.size - at));
      at += d.length >= 4 && new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true) === DESCRIPTOR_SIG
        ? 16
        : 12;
    }
  }
  return out;
}

/** Bytes searched at a time for a stored member's data descriptor when there is no central directory. */
const DESCRIPTOR_SEARCH_CHUNK = 1 << 20;

// The data descriptor after a stored member: its signature, then a CRC and
// sizes (4 or 8 bytes each) whose compressed size is the distance walked.
async function findDescriptor(
  source: ByteSource,
  dataOffset: number,
): Promise<{ size: number; crc32: number } | undefined> {
  for (let start = dataOffset; start < source.size; start += DESCRIPTOR_SEARCH_CHUNK) {
    const length = Math.min(DESCRIPTOR_SEARCH_CHUNK + 24, source.size - start);
    const chunk = await source.read(start, length);
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let i = 0; i + 16 <= chunk.length && i < DESCRIPTOR_SEARCH_CHUNK; i++) {
      if (chunk[i] !== 0x50 || view.getUint32(i, true) !== DESCRIPTOR_SIG) continue;
      const distance = start + i - dataOffset;
      if (view.getUint32(i + 8, true) === distance) {
        return { size: distance, crc32: view.getUint32(i + 4, true) };
      }
      if (i + 24 <= chunk.length && view.getBigUint64(i + 8, true) === BigInt(distance)) {
        return { size: distance, crc32: view.getUint32(i + 4, true) };
      }
    }
  }
  return undefined;
}

async function scan7z(source: ByteSource, ctx: Context, where: string, depth: number): Promise<void> {
  const { report, limit } = ctx;
  const label = where ? `${where}: 7z` : "7z";
  if (source.size > limit) {
    report.note(label, `a ${source.size}-byte archive is over the limit of ${limit} bytes`, "error");
    return;
  }
  const result = await extract7z(await source.read(0, source.size), limit);
  for (const problem of result.problems) report.note(label, problem, "error");
  for (const name of result.encrypted) report.note(label, `member '${name}' is encrypted`, "unknown");
  for (const file of result.files) {
    const member = bytesSource(file.data, `${source.name}:${file.name}`);
    await scanSource(
      member,
      ctx,
      where ? `${where}/${file.name}` : file.name,
      depth,
      /\.(pkl|pickle)$/i.test(file.name),
    );
  }
}

/** A stored member cut short by the end of the file: what there is of it, to scan. */
function truncatedMember(
  name: string,
  flags: number,
  crc32: number,
  dataOffset: number,
  localHeaderOffset: number,
  fileSize: number,
): Member {
  const have = fileSize - dataOffset;
  return {
    name,
    flags,
    method: 0,
    compressedSize: have,
    size: have,
    crc32,
    dataOffset,
    localHeaderOffset,
    truncated: true,
  };
}
