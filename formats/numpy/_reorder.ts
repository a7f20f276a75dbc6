// Conversions an .npy may need on read: big-endian to little-endian, and
// column-major (Fortran) to row-major order.

/** Swap the bytes of every `unit`-byte word in place (units of complex64 are its 4-byte halves). */
export function swapBytes(bytes: Uint8Array, unit: number): void {
  if (unit === 1) return;
  for (let i = 0; i + unit <= bytes.length; i += unit) {
    for (let a = i, b = i + unit - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** Copy column-major `src` into row-major `dst` for `shape` and `itemBytes`-byte elements. */
export function fortranToC(
  src: Uint8Array,
  dst: Uint8Array,
  shape: readonly number[],
  itemBytes: number,
): void {
  const n = shape.length;
  let count = 1;
  for (const d of shape) count *= d;
  if (count === 0) return;
  if (n <= 1) {
    dst.set(src.subarray(0, count * itemBytes));
    return;
  }
  // Work in the widest word that divides the item and both offsets.
  let unit = 1;
  for (const u of [4, 2]) {
    if (itemBytes % u === 0 && src.byteOffset % u === 0 && dst.byteOffset % u === 0) {
      unit = u;
      break;
    }
  }
  const s = words(src, unit, (count * itemBytes) / unit);
  const d = words(dst, unit, (count * itemBytes) / unit);
  const perItem = itemBytes / unit;
  // Column-major strides (in elements): axis 0 varies fastest.
  const strides = new Array<number>(n);
  strides[0] = 1;
  for (let k = 1; k < n; k++) strides[k] = strides[k - 1] * shape[k - 1];
  const index = new Array<number>(n).fill(0);
  const last = n - 1;
  const lastStride = strides[last] * perItem;
  const rowLength = shape[last];
  let outAt = 0;
  let base = 0; // column-major offset of index[0..last-1] with index[last] = 0
  for (let row = 0; row < count / rowLength; row++) {
    let inAt = base * perItem;
    for (let j = 0; j < rowLength; j++, inAt += lastStride) {
      for (let w = 0; w < perItem; w++) d[outAt++] = s[inAt + w];
    }
    // Advance the row-major counter over axes last-1 … 0.
    for (let k = last - 1; k >= 0; k--) {
      index[k]++;
      base += strides[k];
      if (index[k] < shape[k]) break;
      base -= strides[k] * shape[k];
      index[k] = 0;
    }
  }
}

function words(bytes: Uint8Array, unit: number, length: number): Uint8Array | Uint16Array | Uint32Array {
  if (unit === 4) return new Uint32Array(bytes.buffer, bytes.byteOffset, length);
  if (unit === 2) return new Uint16Array(bytes.buffer, bytes.byteOffset, length);
  return bytes.subarray(0, length);
}
