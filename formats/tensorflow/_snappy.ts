// A bounded Snappy (raw format, as LevelDB blocks use it) decompressor:
// a varint uncompressed length, then literal and copy elements. The declared
// length is checked against a caller's bound before the output is allocated,
// and every literal and copy is checked against the input and the output.

import { FormatError, LimitError } from "../../lib/errors.ts";

/**
 * Decompress a raw Snappy block. `maxLength` bounds the declared output
 * length (checked before allocating); `what` names the block in messages.
 */
export function snappyDecompress(input: Uint8Array, maxLength: number, what: string): Uint8Array {
  const fail = (message: string, at: number) =>
    new FormatError(`Cannot decompress ${what}: ${message} at byte ${at}`, {
      offset: at,
      format: "tensorflow",
    });
  // The length is a varint32.
  let pos = 0;
  let length = 0;
  for (let shift = 0;; shift += 7) {
    if (pos >= input.length) throw fail("the length varint ends early", pos);
    if (shift > 28) throw fail("the length varint is too long", pos);
    const b = input[pos++];
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > maxLength) {
    throw new LimitError(
      `Cannot decompress ${what}: it declares ${length} bytes, more than the ${maxLength} allowed`,
      { limit: maxLength, actual: length },
    );
  }
  const out = new Uint8Array(length);
  let op = 0;
  const n = input.length;
  while (pos < n) {
    const tag = input[pos++];
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59;
        if (pos + extra > n) throw fail("a literal length ends early", pos);
        len = 0;
        for (let k = 0; k < extra; k++) len += input[pos + k] * 2 ** (8 * k);
        pos += extra;
      }
      len += 1;
      if (pos + len > n) throw fail(`a literal of ${len} bytes runs past the input`, pos);
      if (op + len > length) throw fail(`a literal of ${len} bytes runs past the declared length`, pos);
      out.set(input.subarray(pos, pos + len), op);
      pos += len;
      op += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (pos + 1 > n) throw fail("a copy ends early", pos);
      len = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | input[pos++];
    } else if (kind === 2) {
      if (pos + 2 > n) throw fail("a copy ends early", pos);
      len = (tag >>> 2) + 1;
      offset = input[pos] | (input[pos + 1] << 8);
      pos += 2;
    } else {
      if (pos + 4 > n) throw fail("a copy ends early", pos);
      len = (tag >>> 2) + 1;
      offset = (input[pos] | (input[pos + 1] << 8) | (input[pos + 2] << 16) | (input[pos + 3] << 24)) >>> 0;
      pos += 4;
    }
    if (offset === 0 || offset > op) throw fail(`a copy refers ${offset} bytes back from byte ${op}`, pos);
    if (op + len > length) throw fail(`a copy of ${len} bytes runs past the declared length`, pos);
    // Copies may overlap their own output (offset < len): byte by byte.
    for (let k = 0; k < len; k++, op++) out[op] = out[op - offset];
  }
  if (op !== length) throw fail(`it produced ${op} bytes, not the declared ${length}`, pos);
  return out;
}
