// Mutations for fuzzing binary tensor files: bit flips, byte sets,
// truncations, length/count fields set to extremes, decimal numbers in text
// headers rewritten, splices of two seeds, inserted and deleted chunks.

import type { Prng } from "./_prng.ts";

/** A mutated input and the operations that made it (for the findings log). */
export interface Mutant {
  /** The mutated bytes. */
  readonly bytes: Uint8Array;
  /** One short description per applied operation, e.g. `u32@12=0xffffffff`. */
  readonly ops: readonly string[];
}

// Values that break length and offset arithmetic: zero, all ones, sign bits,
// the largest safe integer plus one, and the 4 GiB boundary.
const U32_EXTREMES = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const U64_EXTREMES: readonly bigint[] = [
  0n,
  1n,
  0xffffffffn,
  0x100000000n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 63n - 1n,
  2n ** 64n - 1n,
];
const INTERESTING_BYTES = [0, 1, 0x7f, 0x80, 0xff, 0x2e, 0x28, 0x29, 0x5d, 0x7d, 0x22];
const DECIMALS = [
  "0",
  "-1",
  "1",
  "4294967295",
  "4294967296",
  "9007199254740993",
  "18446744073709551615",
  "99999999999999999999999",
  "1e309",
  "-0",
  "2147483648",
];

type Op = (rng: Prng, bytes: Uint8Array, other: Uint8Array) => [Uint8Array, string];

function bitFlip(rng: Prng, bytes: Uint8Array): [Uint8Array, string] {
  if (bytes.length === 0) return [bytes, "noop"];
  const out = bytes.slice();
  const at = rng.chance(0.7) ? rng.early(out.length) : rng.below(out.length);
  const bit = rng.below(8);
  out[at] ^= 1 << bit;
  return [out, `flip@${at}.${bit}`];
}

function byteSet(rng: Prng, bytes: Uint8Array): [Uint8Array, string] {
  if (bytes.length === 0) return [bytes, "noop"];
  const out = bytes.slice();
  const at = rng.chance(0.7) ? rng.early(out.length) : rng.below(out.length);
  const value = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.below(256);
  out[at] = value;
  return [out, `set@${at}=${value}`];
}

function truncate(rng: Prng, bytes: Uint8Array): [Uint8Array, string] {
  const at = rng.chance(0.5) ? rng.early(bytes.length) : rng.below(bytes.length);
  return [bytes.slice(0, at), `truncate@${at}`];
}

/** Offsets of little-endian integers that look like sizes, counts or offsets into this input. */
function lengthFieldCandidates(bytes: Uint8Array, width: 4 | 8): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found: number[] = [];
  const end = Math.min(bytes.length, 1 << 16) - width;
  for (let i = 0; i <= end; i++) {
    const low = view.getUint32(i, true);
    if (low === 0 || low > bytes.length * 4 + 64) continue;
    if (width === 8 && view.getUint32(i + 4, true) !== 0) continue;
    found.push(i);
  }
  // Fields near the end hold zip directories and trailers: look there too.
  for (let i = Math.max(end + 1, bytes.length - 4096); i <= bytes.length - width; i++) {
    const low = view.getUint32(i, true);
    if (low === 0 || low > bytes.length * 4 + 64) continue;
    if (width === 8 && view.getUint32(i + 4, true) !== 0) continue;
    found.push(i);
  }
  return found;
}

function lengthField(rng: Prng, bytes: Uint8Array): [Uint8Array, string] {
  const width: 4 | 8 = rng.chance(0.5) ? 4 : 8;
  const candidates = lengthFieldCandidates(bytes, width);
  if (candidates.length === 0) return byteSet(rng, bytes);
  const at = rng.pick(candidates);
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const old = view.getUint32(at, true);
  const size = bytes.length;
  const relative = [0, size - 1, size, size + 1, old + 1, old - 1, old * 2, old + size];
  if (width === 4) {
    const value = (rng.chance(0.5) ? rng.pick(U32_EXTREMES) : rng.pick(relative)) >>> 0;
    view.setUint32(at, value, true);
    return [out, `u32@${at}=0x${value.toString(16)}`];
  }
  const value = rng.chance(0.6) ? rng.pick(U64_EXTREMES) : BigInt.asUintN(64, BigInt(rng.pick(relative)));
  view.setBigUint64(at, value, true);
  return [out, `u64@${at}=0x${value.toString(16)}`];
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function decimal(rng: Prng, bytes: Uint8Array): [Uint8Array, string] {
  // Text headers (safetensors JSON, npy dict, pickle protocol 0 ints) carry
  // their sizes as decimal digits.
  const runs: [number, number][] = [];
  const limit = Math.min(bytes.length, 1 << 16);
  for (let i = 0; i < limit; i++) {
    if (!isDigit(bytes[i])) continue;
    let j = i;
    while (j < bytes.length && isDigit(bytes[j])) j++;
    runs.push([i, j]);
    i = j;
  }
  if (runs.length === 0) return lengthField(rng, bytes);
  const [start, end] = rng.pick(runs);
  const text = rng.pick(DECIMALS);
  const replacement = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length - (end - start) + replacement.length);
  out.set(bytes.subarray(0, start));
  out.set(replacement, start);
  out.set(bytes.subarray(end), start + replacement.length);
  return [out, `decimal@${start}=${text}`];
}

function splice(rng: Prng, bytes: Uint8Array, other: Uint8Array): [Uint8Array, string] {
  const cut = rng.below(bytes.length + 1);
  const from = rng.below(other.length + 1);
  const out = new Uint8Array(cut + other.length - from);
  out.set(bytes.subarray(0, cut));
  out.set(other.subarray(from), cut);
  return [out, `splice@${cut}<-${from}`];
}

function insertChunk(rng: Prng, bytes: Uint8Array, other: Uint8Array): [Uint8Array, string] {
  const at = rng.chance(0.5) ? rng.early(bytes.length + 1) : rng.below(bytes.length + 1);
  const length = 1 + rng.below(rng.chance(0.8) ? 16 : 4096);
  let chunk: Uint8Array;
  let kind: string;
  if (rng.chance(0.5) && other.length > 0) {
    const from = rng.below(other.length);
    chunk = other.subarray(from, from + length);
    kind = "copy";
  } else if (rng.chance(0.5)) {
    chunk = new Uint8Array(length).fill(rng.pick(INTERESTING_BYTES));
    kind = "fill";
  } else {
    chunk = new Uint8Array(length);
    for (let i = 0; i < length; i++) chunk[i] = rng.below(256);
    kind = "random";
  }
  const out = new Uint8Array(bytes.length + chunk.length);
  out.set(bytes.subarray(0, at));
  out.set(chunk, at);
  out.set(bytes.subarray(at), at + chunk.length);
  return [out, `insert-${kind}@${at}+${chunk.length}`];
}

function deleteChunk(rng: Prng, bytes: Uint8Array): [Uint8Array, string] {
  if (bytes.length === 0) return [bytes, "noop"];
  const at = rng.chance(0.5) ? rng.early(bytes.length) : rng.below(bytes.length);
  const length = 1 + rng.below(Math.min(bytes.length - at, rng.chance(0.8) ? 16 : 4096));
  const out = new Uint8Array(bytes.length - length);
  out.set(bytes.subarray(0, at));
  out.set(bytes.subarray(at + length), at);
  return [out, `delete@${at}-${length}`];
}

function duplicateChunk(rng: Prng, bytes: Uint8Array): [Uint8Array, string] {
  if (bytes.length === 0) return [bytes, "noop"];
  const at = rng.below(bytes.length);
  const length = 1 + rng.below(Math.min(bytes.length - at, 64));
  const out = new Uint8Array(bytes.length + length);
  out.set(bytes.subarray(0, at + length));
  out.set(bytes.subarray(at, at + length), at + length);
  out.set(bytes.subarray(at + length), at + 2 * length);
  return [out, `dup@${at}+${length}`];
}

// Weighted: field-level damage finds more than random noise in binary headers.
const OPS: readonly [Op, number][] = [
  [bitFlip, 4],
  [byteSet, 4],
  [lengthField, 6],
  [decimal, 3],
  [truncate, 2],
  [splice, 1],
  [insertChunk, 2],
  [deleteChunk, 2],
  [duplicateChunk, 1],
];
const TOTAL_WEIGHT = OPS.reduce((sum, [, w]) => sum + w, 0);

function pickOp(rng: Prng): Op {
  let r = rng.below(TOTAL_WEIGHT);
  for (const [op, weight] of OPS) {
    if (r < weight) return op;
    r -= weight;
  }
  return OPS[0][0];
}

/**
 * Apply one to four random mutations to `seed`; `other` is a second seed for
 * splices and copied chunks.
 *
 * @example
 * ```ts
 * import { Prng } from "./_prng.ts";
 * import { mutate } from "./mutate.ts";
 * const { bytes, ops } = mutate(new Prng(1), new Uint8Array(64), new Uint8Array(8));
 * console.log(bytes.length >= 0, ops.length >= 1);
 * ```
 */
export function mutate(rng: Prng, seed: Uint8Array, other: Uint8Array): Mutant {
  let bytes = seed;
  const ops: string[] = [];
  const rounds = 1 + (rng.chance(0.5) ? 0 : rng.below(4));
  for (let i = 0; i < rounds; i++) {
    const [next, op] = pickOp(rng)(rng, bytes, other);
    bytes = next;
    ops.push(op);
  }
  return { bytes, ops };
}
