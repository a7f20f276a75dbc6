/**
 * ggml's tensor types: the table of type ids, block sizes and bytes per
 * block (ggml.c `type_traits`), the block layouts of ggml-common.h, and
 * exact dequantizers for the legacy block types (Q4_0 … Q8_1) and the
 * K-quants (Q2_K … Q8_K). GGUF reads and writes through this table; the
 * quantizers add encoders beside it.
 *
 * @module
 */

import type { DType } from "./dtype.ts";
import { elementCount } from "./dtype.ts";
import { FormatError, LimitError, UsageError } from "./errors.ts";
import type { TensorEntry } from "./tensor.ts";

/** Turns `count` elements' worth of blocks into float32 values. */
export type GgmlDequantize = (bytes: Uint8Array, count: number, out: Float32Array) => void;

/** One ggml tensor type. */
export interface GgmlType {
  /** The `ggml_type` id stored in GGUF tensor infos. */
  readonly id: number;
  /** ggml's name, e.g. `Q4_0`, `F16`. */
  readonly name: string;
  /** Elements per block (1 for plain element types). */
  readonly blockSize: number;
  /** Bytes per block (bytes per element for plain types). */
  readonly typeSize: number;
  /** The plain dtype for element types (F32, F16, I8, …); absent for block types. */
  readonly dtype?: DType;
  /** Block types with a decoder: block bytes to float32. */
  readonly dequantize?: GgmlDequantize;
}

/** Elements per K-quant super-block (`QK_K`). */
export const QK_K = 256;

// fp16 → fp32 for every bit pattern, built once: block scales are read one
// u16 at a time at unaligned offsets, where a table lookup is the fastest.
let f16Table: Float32Array | undefined;
function f16(): Float32Array {
  if (!f16Table) {
    const bits = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) bits[i] = i;
    f16Table = new Float32Array(new Float16Array(bits.buffer));
  }
  return f16Table;
}

function checkInput(
  name: string,
  blockSize: number,
  typeSize: number,
  bytes: Uint8Array,
  count: number,
  out: Float32Array,
): number {
  if (!Number.isSafeInteger(count) || count < 0 || count % blockSize !== 0) {
    throw new UsageError(
      `Cannot dequantize ${name}: ${count} elements is not a whole number of ${blockSize}-element blocks`,
    );
  }
  const blocks = count / blockSize;
  if (bytes.length < blocks * typeSize) {
    throw new UsageError(
      `Cannot dequantize ${name}: ${count} elements need ${blocks * typeSize} bytes, got ${bytes.length}`,
    );
  }
  if (out.length < count) {
    throw new UsageError(`Cannot dequantize ${name}: output holds ${out.length} values, need ${count}`);
  }
  return blocks;
}

function dequantizeQ4_0(x: Uint8Array, count: number, y: Float32Array): void {
  const nb = checkInput("Q4_0", 32, 18, x, count, y);
  const t = f16();
  for (let i = 0, p = 0, o = 0; i < nb; i++, p += 18, o += 32) {
    const d = t[x[p] | (x[p + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = x[p + 2 + j];
      y[o + j] = ((q & 0x0f) - 8) * d;
      y[o + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

function dequantizeQ4_1(x: Uint8Array, count: number, y: Float32Array): void {
  const nb = checkInput("Q4_1", 32, 20, x, count, y);
  const t = f16();
  for (let i = 0, p = 0, o = 0; i < nb; i++, p += 20, o += 32) {
    const d = t[x[p] | (x[p + 1] << 8)];
    const m = t[x[p + 2] | (x[p + 3] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = x[p + 4 + j];
      // Products of a 5-bit integer and an fp16 value are exact in float32,
      // so one rounding (the store) matches C's float arithmetic.
      y[o + j] = (q & 0x0f) * d + m;
      y[o + j + 16] = (q >> 4) * d + m;
    }
  }
}

function dequantizeQ5_0(x: Uint8Array, count: number, y: Float32Array): void {
  const nb = checkInput("Q5_0", 32, 22, x, count, y);
  const t = f16();
  for (let i = 0, p = 0, o = 0; i < nb; i++, p += 22, o += 32) {
    const d = t[x[p] | (x[p + 1] << 8)];
    const qh = (x[p + 2] | (x[p + 3] << 8) | (x[p + 4] << 16) | (x[p + 5] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = x[p + 6 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      y[o + j] = (((q & 0x0f) | h0) - 16) * d;
      y[o + j + 16] = (((q >> 4) | h1) - 16) * d;
    }
  }
}

function dequantizeQ5_1(x: Uint8Array, count: number, y: Float32Array): void {
  const nb = checkInput("Q5_1", 32, 24, x, count, y);
  const t = f16();
  for (let i = 0, p = 0, o = 0; i < nb; i++, p += 24, o += 32) {
    const d = t[x[p] | (x[p + 1] << 8)];
    const m = t[x[p + 2] | (x[p + 3] << 8)];
    const qh = (x[p + 4] | (x[p + 5] << 8) | (x[p + 6] << 16) | (x[p + 7] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = x[p + 8 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      y[o + j] = ((q & 0x0f) | h0) * d + m;
      y[o + j + 16] = ((q >> 4) | h1) * d + m;
    }
  }
}

function dequantizeQ8_0(x: Uint8Array, count: number, y: Float32Array): void {
  const nb = checkInput("Q8_0", 32, 34, x, count, y);
  const t = f16();
  for (let i = 0, p = 0, o = 0; i < nb; i++, p += 34, o += 32) {
    const d = t[x[p] | (x[p + 1] << 8)];
    for (let j = 0; j < 32; j++) y[o + j] = ((x[p + 2 + j] << 24) >> 24) * d;
  }
}

function dequantizeQ8_1(x: Uint8Array, count: number, y: Float32Array): void {
  // block_q8_1: fp16 d, fp16 s (d times the sum of the quants), int8 qs[32].
  const nb = checkInput("Q8_1", 32, 36, x, count, y);
  const t = f16();
  for (let i = 0, p = 0, o = 0; i < nb; i++, p += 36, o += 32) {
    const d = t[x[p] | (x[p + 1] << 8)];
    for (let j = 0; j < 32; j++) y[o + j] = ((x[p + 4 + j] << 24) >> 24) * d;
  }
}

function dequantizeQ2_K(x: Uint8Array, count: number, y: Float32Array): void {
  // block_q2_K: scales[16] (low nibble scale, high nibble min), qs[64], fp16 d, fp16 dmin.
  const nb = checkInput("Q2_K", QK_K, 84, x, count, y);
  const t = f16();
  let o = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * 84;
    const d = t[x[p + 80] | (x[p + 81] << 8)];
    const min = t[x[p + 82] | (x[p + 83] << 8)];
    let q = p + 16;
    let is = 0;
    for (let n = 0; n < QK_K; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const sc = x[p + is++];
          const dl = Math.fround(d * (sc & 0xf));
          const ml = Math.fround(min * (sc >> 4));
          for (let l = 0; l < 16; l++) y[o++] = dl * ((x[q + half + l] >> shift) & 3) - ml;
        }
      }
      q += 32;
    }
  }
}

function dequantizeQ3_K(x: Uint8Array, count: number, y: Float32Array): void {
  // block_q3_K: hmask[32], qs[64], scales[12] (sixteen 6-bit scales), fp16 d.
  const nb = checkInput("Q3_K", QK_K, 110, x, count, y);
  const t = f16();
  const scales = new Int8Array(16);
  let o = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * 110;
    const dAll = t[x[p + 108] | (x[p + 109] << 8)];
    const s = p + 96;
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? x[s + j] & 0xf : x[s + j - 8] >> 4;
      const high = (x[s + 8 + (j % 4)] >> (2 * (j >> 2))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    let q = p + 32;
    let is = 0;
    let m = 1;
    for (let n = 0; n < QK_K; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const dl = Math.fround(dAll * scales[is++]);
          for (let l = 0; l < 16; l++) {
            const v = ((x[q + half + l] >> shift) & 3) - ((x[p + half + l] & m) ? 0 : 4);
            y[o++] = dl * v;
          }
        }
        m <<= 1;
      }
      q += 32;
    }
  }
}

/** The 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block (`get_scale_min_k4`). */
function scaleMinK4(j: number, x: Uint8Array, s: number, out: Uint8Array): void {
  if (j < 4) {
    out[0] = x[s + j] & 63;
    out[1] = x[s + j + 4] & 63;
  } else {
    out[0] = (x[s + j + 4] & 0xf) | ((x[s + j - 4] >> 6) << 4);
    out[1] = (x[s + j + 4] >> 4) | ((x[s + j] >> 6) << 4);
  }
}

function dequantizeQ4_K(x: Uint8Array, count: number, y: Float32Array): void {
  // block_q4_K: fp16 d, fp16 dmin, scales[12], qs[128].
  const nb = checkInput("Q4_K", QK_K, 144, x, count, y);
  const t = f16();
  const sm = new Uint8Array(2);
  let o = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * 144;
    const d = t[x[p] | (x[p + 1] << 8)];
    const min = t[x[p + 2] | (x[p + 3] << 8)];
    let q = p + 16;
    for (let is = 0; is < 8; is += 2) {
      scaleMinK4(is, x, p + 4, sm);
      const d1 = Math.fround(d * sm[0]), m1 = Math.fround(min * sm[1]);
      scaleMinK4(is + 1, x, p + 4, sm);
      const d2 = Math.fround(d * sm[0]), m2 = Math.fround(min * sm[1]);
      for (let l = 0; l < 32; l++) y[o++] = d1 * (x[q + l] & 0xf) - m1;
      for (let l = 0; l < 32; l++) y[o++] = d2 * (x[q + l] >> 4) - m2;
      q += 32;
    }
  }
}

function dequantizeQ5_K(x: Uint8Array, count: number, y: Float32Array): void {
  // block_q5_K: fp16 d, fp16 dmin, scales[12], qh[32], qs[128].
  const nb = checkInput("Q5_K", QK_K, 176, x, count, y);
  const t = f16();
  const sm = new Uint8Array(2);
  let o = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * 176;
    const d = t[x[p] | (x[p + 1] << 8)];
    const min = t[x[p + 2] | (x[p + 3] << 8)];
    const qh = p + 16;
    let ql = p + 48;
    let u1 = 1, u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      scaleMinK4(is, x, p + 4, sm);
      const d1 = Math.fround(d * sm[0]), m1 = Math.fround(min * sm[1]);
      scaleMinK4(is + 1, x, p + 4, sm);
      const d2 = Math.fround(d * sm[0]), m2 = Math.fround(min * sm[1]);
      for (let l = 0; l < 32; l++) y[o++] = d1 * ((x[ql + l] & 0xf) + (x[qh + l] & u1 ? 16 : 0)) - m1;
      for (let l = 0; l < 32; l++) y[o++] = d2 * ((x[ql + l] >> 4) + (x[qh + l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

function dequantizeQ6_K(x: Uint8Array, count: number, y: Float32Array): void {
  // block_q6_K: ql[128], qh[64], int8 scales[16], fp16 d.
  const nb = checkInput("Q6_K", QK_K, 210, x, count, y);
  const t = f16();
  let o = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * 210;
    const d = t[x[p + 208] | (x[p + 209] << 8)];
    let ql = p, qh = p + 128, sc = p + 192;
    for (let n = 0; n < QK_K; n += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((x[ql + l] & 0xf) | (((x[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((x[ql + l + 32] & 0xf) | (((x[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((x[ql + l] >> 4) | (((x[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((x[ql + l + 32] >> 4) | (((x[qh + l] >> 6) & 3) << 4)) - 32;
        y[o + l] = Math.fround(d * ((x[sc + is] << 24) >> 24)) * q1;
        y[o + l + 32] = Math.fround(d * ((x[sc + is + 2] << 24) >> 24)) * q2;
        y[o + l + 64] = Math.fround(d * ((x[sc + is + 4] << 24) >> 24)) * q3;
        y[o + l + 96] = Math.fround(d * ((x[sc + is + 6] << 24) >> 24)) * q4;
      }
      o += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

function dequantizeQ8_K(x: Uint8Array, count: number, y: Float32Array): void {
  // block_q8_K: float32 d, int8 qs[256], int16 bsums[16].
  const nb = checkInput("Q8_K", QK_K, 292, x, count, y);
  const view = new DataView(x.buffer, x.byteOffset, x.byteLength);
  for (let i = 0, p = 0, o = 0; i < nb; i++, p += 292, o += QK_K) {
    const d = view.getFloat32(p, true);
    for (let j = 0; j < QK_K; j++) y[o + j] = d * ((x[p + 4 + j] << 24) >> 24);
  }
}

function type(
  id: number,
  name: string,
  blockSize: number,
  typeSize: number,
  extra: Partial<GgmlType> = {},
): GgmlType {
  return Object.freeze({ id, name, blockSize, typeSize, ...extra });
}

/**
 * Every ggml type GGUF files may hold, by id (ggml.c `type_traits`). Ids 4,
 * 5, 31–33 and 36–38 belong to removed types and are absent; the IQ, TQ and
 * MXFP4 types are listed (so files holding them open and copy) without a
 * decoder.
 */
export const GGML_TYPES: readonly GgmlType[] = Object.freeze([
  type(0, "F32", 1, 4, { dtype: "F32" }),
  type(1, "F16", 1, 2, { dtype: "F16" }),
  type(2, "Q4_0", 32, 18, { dequantize: dequantizeQ4_0 }),
  type(3, "Q4_1", 32, 20, { dequantize: dequantizeQ4_1 }),
  type(6, "Q5_0", 32, 22, { dequantize: dequantizeQ5_0 }),
  type(7, "Q5_1", 32, 24, { dequantize: dequantizeQ5_1 }),
  type(8, "Q8_0", 32, 34, { dequantize: dequantizeQ8_0 }),
  type(9, "Q8_1", 32, 36, { dequantize: dequantizeQ8_1 }),
  type(10, "Q2_K", QK_K, 84, { dequantize: dequantizeQ2_K }),
  type(11, "Q3_K", QK_K, 110, { dequantize: dequantizeQ3_K }),
  type(12, "Q4_K", QK_K, 144, { dequantize: dequantizeQ4_K }),
  type(13, "Q5_K", QK_K, 176, { dequantize: dequantizeQ5_K }),
  type(14, "Q6_K", QK_K, 210, { dequantize: dequantizeQ6_K }),
  type(15, "Q8_K", QK_K, 292, { dequantize: dequantizeQ8_K }),
  type(16, "IQ2_XXS", QK_K, 66),
  type(17, "IQ2_XS", QK_K, 74),
  type(18, "IQ3_XXS", QK_K, 98),
  type(19, "IQ1_S", QK_K, 50),
  type(20, "IQ4_NL", 32, 18),
  type(21, "IQ3_S", QK_K, 110),
  type(22, "IQ2_S", QK_K, 82),
  type(23, "IQ4_XS", QK_K, 136),
  type(24, "I8", 1, 1, { dtype: "I8" }),
  type(25, "I16", 1, 2, { dtype: "I16" }),
  type(26, "I32", 1, 4, { dtype: "I32" }),
  type(27, "I64", 1, 8, { dtype: "I64" }),
  type(28, "F64", 1, 8, { dtype: "F64" }),
  type(29, "IQ1_M", QK_K, 56),
  type(30, "BF16", 1, 2, { dtype: "BF16" }),
  type(34, "TQ1_0", QK_K, 54),
  type(35, "TQ2_0", QK_K, 66),
  type(39, "MXFP4", 32, 17),
]);

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(GGML_TYPES.map((t) => [t.name, t]));

/**
 * The ggml type with this id, or `undefined` for ids ggml does not define
 * (or has removed).
 *
 * @example
 * ```ts
 * import { ggmlTypeById } from "./ggml_blocks.ts";
 * console.log(ggmlTypeById(8)?.name); // Q8_0
 * ```
 */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/**
 * The ggml type with this name (`Q4_0`, `F16`, …), or `undefined`.
 *
 * @example
 * ```ts
 * import { ggmlTypeByName } from "./ggml_blocks.ts";
 * console.log(ggmlTypeByName("Q6_K")?.typeSize); // 210
 * ```
 */
export function ggmlTypeByName(name: string): GgmlType | undefined {
  return BY_NAME.get(name);
}

/**
 * Bytes taken by a tensor of `shape` (outermost first) in a block type: its
 * innermost dimension must be a whole number of blocks, as ggml requires of
 * rows. Throws `FormatError` otherwise.
 *
 * @example
 * ```ts
 * import { ggmlByteLength } from "./ggml_blocks.ts";
 * console.log(ggmlByteLength("Q4_0", [4, 64])); // 144
 * ```
 */
export function ggmlByteLength(typeName: string, shape: readonly number[]): number {
  const t = BY_NAME.get(typeName);
  if (!t) throw new UsageError(`Unknown ggml type '${typeName}'`);
  const count = elementCount(shape);
  const row = shape.length === 0 ? 1 : shape[shape.length - 1];
  if (row % t.blockSize !== 0) {
    throw new FormatError(
      `A ${t.name} tensor of shape [${
        shape.join(", ")
      }] has rows of ${row} elements, not a multiple of the block size ${t.blockSize}`,
    );
  }
  const bytes = (count / t.blockSize) * t.typeSize;
  if (!Number.isSafeInteger(bytes)) {
    throw new LimitError(`A ${t.name} tensor of shape [${shape.join(", ")}] is too large to address`);
  }
  return bytes;
}

/**
 * Decode `count` elements of block-encoded bytes to float32.
 *
 * @example
 * ```ts
 * import { dequantizeBlocks } from "./ggml_blocks.ts";
 * const block = new Uint8Array(34);
 * block.set([0x00, 0x3c]); // d = 1.0 (fp16)
 * block[2] = 5; block[3] = 0xfe; // quants 5 and -2
 * const values = dequantizeBlocks("Q8_0", block, 32);
 * console.log(values[0], values[1]); // 5 -2
 * ```
 */
export function dequantizeBlocks(
  typeName: string,
  bytes: Uint8Array,
  count: number,
  out?: Float32Array,
): Float32Array {
  const t = BY_NAME.get(typeName);
  if (!t) throw new UsageError(`Unknown ggml type '${typeName}'`);
  if (!t.dequantize) {
    throw new UsageError(`Cannot dequantize ${t.name}: ckpt has no decoder for this ggml type`);
  }
  const result = out ?? new Float32Array(count);
  t.dequantize(bytes, count, result);
  return result.subarray(0, count);
}

/**
 * A block-encoded entry (one with `encoding` set, as GGUF's quantized
 * tensors are) turned into a plain F32 entry that dequantizes on `read()`.
 * Entries without `encoding` are returned as they are.
 *
 * @example
 * ```ts
 * import { dequantizeEntry } from "./ggml_blocks.ts";
 * const block = new Uint8Array(18); // one Q4_0 block, d = 0: all zeros
 * const q = { name: "w", dtype: "F32" as const, shape: [32], byteLength: 18, encoding: "Q4_0",
 *   read: () => Promise.resolve(block) };
 * const f = dequantizeEntry(q);
 * console.log(f.byteLength, (await f.read()).length); // 128 128
 * ```
 */
export function dequantizeEntry(entry: TensorEntry): TensorEntry {
  if (entry.encoding === undefined) return entry;
  const t = BY_NAME.get(entry.encoding);
  if (!t) {
    throw new UsageError(`Cannot dequantize tensor '${entry.name}': unknown encoding '${entry.encoding}'`);
  }
  if (!t.dequantize) {
    throw new UsageError(
      `Cannot dequantize tensor '${entry.name}': ckpt has no decoder for ggml type ${t.name}`,
    );
  }
  const decode = t.dequantize;
  const count = elementCount(entry.shape);
  const byteLength = count * 4;
  return {
    name: entry.name,
    dtype: "F32",
    shape: entry.shape,
    byteLength,
    async read(out?: Uint8Array): Promise<Uint8Array> {
      const blocks = await entry.read();
      const target = out ? out.subarray(0, byteLength) : new Uint8Array(byteLength);
      if (target.byteOffset % 4 === 0) {
        decode(blocks, count, new Float32Array(target.buffer, target.byteOffset, count));
      } else {
        const values = new Float32Array(count);
        decode(blocks, count, values);
        target.set(new Uint8Array(values.buffer));
      }
      return target;
    },
  };
}
