// Partitioned variables: TensorFlow stores each slice under a key built with
// its OrderedCode encoding (tensorflow/core/util/saved_tensor_slice_util.cc:
// number 0, the full name as an escaped string, the rank, then each
// dimension's start and length as signed numbers, -1 for a full extent), and
// the full name's entry lists the slices. This file builds those keys and
// copies slices into the whole tensor.

import type { SliceExtent } from "./_bundle_proto.ts";

function pushUnsigned(out: number[], value: number): void {
  const bytes: number[] = [];
  for (let v = BigInt(value); v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  out.push(bytes.length, ...bytes);
}

function pushString(out: number[], text: string): void {
  for (const b of new TextEncoder().encode(text)) {
    if (b === 0x00) out.push(0x00, 0xff);
    else if (b === 0xff) out.push(0xff, 0x00);
    else out.push(b);
  }
  out.push(0x00, 0x01);
}

// Header bits of the first two bytes, by encoded length (1–10).
const HEADER: readonly (readonly [number, number])[] = [
  [0, 0],
  [0x80, 0],
  [0xc0, 0],
  [0xe0, 0],
  [0xf0, 0],
  [0xf8, 0],
  [0xfc, 0],
  [0xfe, 0],
  [0xff, 0],
  [0xff, 0x80],
  [0xff, 0xc0],
];

function pushSigned(out: number[], value: number): void {
  const v = BigInt(value);
  const x = v < 0n ? ~v : v;
  const bits = x === 0n ? 0 : x.toString(2).length;
  // n bytes hold numbers of up to 7n − 1 significant bits.
  const len = Math.min(10, Math.max(1, Math.ceil((bits + 1) / 7)));
  const bytes: number[] = [];
  const twos = BigInt.asUintN(80, v);
  for (let i = len - 1; i >= 0; i--) bytes.push(Number((twos >> BigInt(8 * i)) & 0xffn));
  bytes[0] ^= HEADER[len][0];
  if (len > 1) bytes[1] ^= HEADER[len][1];
  out.push(...bytes);
}

/** The table key of one slice of `name`. */
export function sliceKey(name: string, extents: readonly SliceExtent[]): Uint8Array {
  const out: number[] = [];
  pushUnsigned(out, 0);
  pushString(out, name);
  pushUnsigned(out, extents.length);
  for (const e of extents) {
    pushSigned(out, e.length === undefined ? 0 : e.start);
    pushSigned(out, e.length ?? -1);
  }
  return new Uint8Array(out);
}

/**
 * Copy a C-order slice (`sliceBytes`, of shape `sliceShape` starting at
 * `starts`) into the whole tensor `out` of shape `shape`.
 */
export function copySlice(
  out: Uint8Array,
  shape: readonly number[],
  sliceBytes: Uint8Array,
  starts: readonly number[],
  sliceShape: readonly number[],
  itemBytes: number,
): void {
  const rank = shape.length;
  if (rank === 0) {
    out.set(sliceBytes.subarray(0, itemBytes));
    return;
  }
  // Strides in bytes of the whole tensor and of the slice.
  const full = new Array<number>(rank);
  const part = new Array<number>(rank);
  full[rank - 1] = itemBytes;
  part[rank - 1] = itemBytes;
  for (let d = rank - 2; d >= 0; d--) {
    full[d] = full[d + 1] * shape[d + 1];
    part[d] = part[d + 1] * sliceShape[d + 1];
  }
  const run = sliceShape[rank - 1] * itemBytes;
  const index = new Array<number>(rank - 1).fill(0);
  if (sliceShape.some((n) => n === 0)) return;
  for (;;) {
    let src = 0;
    let dst = starts[rank - 1] * itemBytes;
    for (let d = 0; d < rank - 1; d++) {
      src += index[d] * part[d];
      dst += (starts[d] + index[d]) * full[d];
    }
    out.set(sliceBytes.subarray(src, src + run), dst);
    let d = rank - 2;
    while (d >= 0 && ++index[d] === sliceShape[d]) index[d--] = 0;
    if (d < 0) break;
  }
}
