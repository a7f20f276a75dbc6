/**
 * The WebAssembly SIMD kernels (kernels.wat) behind the CPU references of the
 * casts and quantizers, with the references themselves as the fallback:
 * every function here returns false (or does nothing and says so) when
 * WebAssembly SIMD is missing or turned off, and the caller runs its
 * TypeScript loop instead. Wasm needs no permission in Deno.
 *
 * Data is copied through the module's memory in chunks small enough to stay
 * in cache, so memory use does not grow with the tensor.
 *
 * @module
 */

import { KERNELS_WASM_BASE64 } from "./_wasm.ts";

interface Exports {
  memory: WebAssembly.Memory;
  q8_0(src: number, dst: number, blocks: number, flags: number): number;
  q4_0(src: number, dst: number, blocks: number, flags: number): number;
  q4_1(src: number, dst: number, blocks: number, flags: number): number;
  q5_0(src: number, dst: number, blocks: number, flags: number): number;
  q5_1(src: number, dst: number, blocks: number, flags: number): number;
  q4_k(src: number, dst: number, blocks: number, flags: number): number;
  q6_k(src: number, dst: number, blocks: number, flags: number): number;
  q5_k(src: number, dst: number, blocks: number, flags: number): number;
  q2_k(src: number, dst: number, blocks: number, flags: number): number;
  q3_k(src: number, dst: number, blocks: number, flags: number): number;
  absmax(src: number, n: number, init: number): number;
  minmax(src: number, n: number, io: number): void;
  int8(
    src: number,
    dst: number,
    n: number,
    factor: number,
    zp: number,
    lo: number,
    hi: number,
    unsigned: number,
    divide: number,
  ): number;
  nf4(src: number, dst: number, blocks: number, absmax: number): void;
  f16(src: number, dst: number, n: number): void;
  bf16(src: number, dst: number, n: number): void;
}

/**
 * Runs of fewer values than this are left to the TypeScript loops: a call
 * into the module costs more than it saves.
 */
export const SIMD_MIN_RUN = 64;

/** Float32 elements per chunk copied into the module (256 KiB: 2048 ggml blocks, 1024 NF4 blocks). */
const CHUNK = 65536;
const SRC = 0;
const DST = CHUNK * 4;
const FLAGS = DST + CHUNK * 4;
const AUX = FLAGS + (CHUNK / 32) * 4;

let enabled = true;
let loaded: { k: Exports; f32: Float32Array; u8: Uint8Array; u32: Uint32Array } | null | undefined;

function load() {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    const bin = atob(KERNELS_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (typeof WebAssembly !== "object" || !WebAssembly.validate(bytes)) return loaded;
    const k = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
    const buf = k.memory.buffer;
    loaded = { k, f32: new Float32Array(buf), u8: new Uint8Array(buf), u32: new Uint32Array(buf) };
  } catch {
    loaded = null; // no WebAssembly SIMD here: the TypeScript references run
  }
  return loaded;
}

function kernels() {
  return enabled ? load() : null;
}

/**
 * Whether the SIMD kernels run (true when WebAssembly SIMD is available and
 * they have not been turned off).
 *
 * @example
 * ```ts
 * import { simdActive } from "./kernels.ts";
 * import assert from "node:assert/strict";
 * assert.equal(typeof simdActive(), "boolean");
 * ```
 */
export function simdActive(): boolean {
  return kernels() !== null;
}

/**
 * Turn the SIMD kernels off (or back on) for this thread, so that the
 * TypeScript references run; for tests and benchmarks that compare the two.
 *
 * @example
 * ```ts
 * import { setSimdEnabled, simdActive } from "./kernels.ts";
 * import assert from "node:assert/strict";
 * setSimdEnabled(false);
 * assert.equal(simdActive(), false);
 * setSimdEnabled(true);
 * ```
 */
export function setSimdEnabled(on: boolean): void {
  enabled = on;
}

/** The ggml block kinds the module quantizes (the `_k` ones in super-blocks of 256). */
export type GgmlSimdKind =
  | "q8_0"
  | "q4_0"
  | "q4_1"
  | "q5_0"
  | "q5_1"
  | "q2_k"
  | "q3_k"
  | "q4_k"
  | "q5_k"
  | "q6_k";

/**
 * Quantize `x` (a multiple of 32 values, of 256 for the K-quants) into ggml
 * blocks of `blockBytes`; blocks the kernel leaves (NaN, Inf, a zero extreme,
 * an overflowing reciprocal; the last blocks short of a group of 4) are done
 * by `reference`. False when SIMD is unavailable.
 */
export function ggmlSimd(
  kind: GgmlSimdKind,
  x: Float32Array,
  out: Uint8Array,
  blockBytes: number,
  reference: (x: Float32Array, out: Uint8Array) => void,
): boolean {
  const m = kernels();
  if (!m) return false;
  const fn = m.k[kind];
  const shift = kind.endsWith("_k") ? 8 : 5;
  const qk = 1 << shift;
  for (let off = 0; off < x.length; off += CHUNK) {
    const len = Math.min(CHUNK, x.length - off);
    const blocks = len >> shift;
    const vector = shift === 8 ? blocks : blocks & ~3; // the legacy kernels take groups of 4 blocks
    m.f32.set(x.subarray(off, off + vector * qk), SRC >> 2);
    const flagged = fn(SRC, DST, vector, FLAGS);
    const first = (off >> shift) * blockBytes;
    out.set(m.u8.subarray(DST, DST + vector * blockBytes), first);
    const redo = (b: number) => {
      const at = off + b * qk;
      reference(x.subarray(at, at + qk), out.subarray(first + b * blockBytes, first + (b + 1) * blockBytes));
    };
    for (let f = 0; f < flagged; f++) redo(m.u32[(FLAGS >> 2) + f]);
    for (let b = vector; b < blocks; b++) redo(b);
  }
  return true;
}

/**
 * max(init, max |x[i]|) over x[from..to) with NaN skipped, or undefined when
 * SIMD is unavailable.
 */
export function absMaxSimd(x: Float32Array, from: number, to: number, init: number): number | undefined {
  const m = kernels();
  if (!m) return undefined;
  let hi = init;
  for (let off = from; off < to; off += CHUNK) {
    const len = Math.min(CHUNK, to - off);
    const body = len & ~15;
    m.f32.set(x.subarray(off, off + body), SRC >> 2);
    hi = m.k.absmax(SRC, body, hi);
    for (let i = off + body; i < off + len; i++) {
      const v = Math.abs(x[i]);
      if (v > hi) hi = v;
    }
  }
  return hi;
}

/**
 * [min, max] of the non-NaN x[from..to) starting from lo and hi, or
 * undefined when SIMD is unavailable. Which of ±0 is kept is unspecified.
 */
export function minMaxSimd(
  x: Float32Array,
  from: number,
  to: number,
  lo: number,
  hi: number,
): [number, number] | undefined {
  const m = kernels();
  if (!m) return undefined;
  const io = AUX >> 2;
  for (let off = from; off < to; off += CHUNK) {
    const len = Math.min(CHUNK, to - off);
    const body = len & ~15;
    m.f32.set(x.subarray(off, off + body), SRC >> 2);
    m.f32[io] = lo;
    m.f32[io + 1] = hi;
    m.k.minmax(SRC, body, AUX);
    lo = m.f32[io];
    hi = m.f32[io + 1];
    for (let i = off + body; i < off + len; i++) {
      const v = x[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return [lo, hi];
}

/** How {@linkcode int8RunSimd} scales and what it does with NaN. */
export interface Int8RunMode {
  /** p = fround(x / factor) (ONNX's `x / scale`) instead of fround(x · factor). */
  divide?: boolean;
  /** Stop before the first chunk where some p is NaN, for callers whose NaN code is not lo. */
  stopAtNaN?: boolean;
}

/**
 * out[i] = zp + rne(clamp(p, lo, hi)) (NaN → lo), p = fround(x[i]·factor)
 * (or x[i]/factor), for i in [from, to), over `to − from` rounded down to
 * 16; returns how many it did (0 when SIMD is unavailable; with `stopAtNaN`,
 * fewer when some p is NaN), the caller finishes the rest.
 */
export function int8RunSimd(
  x: Float32Array,
  from: number,
  to: number,
  factor: number,
  zp: number,
  lo: number,
  hi: number,
  out: Uint8Array,
  mode: Int8RunMode = {},
): number {
  const m = kernels();
  if (!m) return 0;
  const body = (to - from) & ~15;
  const unsigned = zp + lo >= 0 ? 1 : 0;
  const divide = mode.divide ? 1 : 0;
  for (let off = 0; off < body; off += CHUNK) {
    const len = Math.min(CHUNK, body - off);
    m.f32.set(x.subarray(from + off, from + off + len), SRC >> 2);
    const sawNaN = m.k.int8(SRC, DST, len, factor, zp, lo, hi, unsigned, divide);
    if (sawNaN && mode.stopAtNaN) return off;
    out.set(m.u8.subarray(DST, DST + len), from + off);
  }
  return body;
}

/**
 * NF4 codes and absmax of the whole blocks of 64 in x[0..blocks·64) into
 * out (32 bytes a block) and absmax; false when SIMD is unavailable.
 */
export function nf4Simd(x: Float32Array, blocks: number, out: Uint8Array, absmax: Float32Array): boolean {
  const m = kernels();
  if (!m) return false;
  const per = CHUNK >> 6;
  for (let b0 = 0; b0 < blocks; b0 += per) {
    const nb = Math.min(per, blocks - b0);
    m.f32.set(x.subarray(b0 * 64, (b0 + nb) * 64), SRC >> 2);
    m.k.nf4(SRC, DST, nb, AUX);
    out.set(m.u8.subarray(DST, DST + nb * 32), b0 * 32);
    absmax.set(m.f32.subarray(AUX >> 2, (AUX >> 2) + nb), b0);
  }
  return true;
}

function castSimd(kind: "f16" | "bf16", x: Float32Array, out: Uint16Array): number {
  const m = kernels();
  if (!m) return 0;
  const body = x.length & ~7;
  const fn = m.k[kind];
  const outBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  for (let off = 0; off < body; off += CHUNK) {
    const len = Math.min(CHUNK, body - off);
    m.f32.set(x.subarray(off, off + len), SRC >> 2);
    fn(SRC, DST, len);
    outBytes.set(m.u8.subarray(DST, DST + len * 2), off * 2);
  }
  return body;
}

/**
 * IEEE half bits of x (round to nearest even, NaN → sign | 0x7e00, as
 * Float16Array) for its first length − length % 8 values; returns how many
 * (0 when SIMD is unavailable).
 */
export function f16Simd(x: Float32Array, out: Uint16Array): number {
  return castSimd("f16", x, out);
}

/** bfloat16 bits of x as `f32ToBf16` computes them, like {@linkcode f16Simd}. */
export function bf16Simd(x: Float32Array, out: Uint16Array): number {
  return castSimd("bf16", x, out);
}
