// Walking protobuf messages that live in a random-access source without
// loading them: field headers are decoded by @bufbuild/protobuf's BinaryReader
// from a small buffered window, and large payloads (raw_data, node attributes)
// are skipped by offset, never read.

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { ByteSource } from "../../lib/byte_source.ts";
import { FormatError, TruncatedError } from "../../lib/errors.ts";

export { BinaryReader, BinaryWriter, WireType };

/** One field of a message: where its tag starts and where its value lies. */
export interface FieldHead {
  /** Field number. */
  field: number;
  /** Wire type. */
  wireType: WireType;
  /** Offset of the tag in the source. */
  start: number;
  /** Offset of the value (after the length prefix for length-delimited fields). */
  valueStart: number;
  /** Offset just past the value. */
  end: number;
  /** The value of a varint field, else 0n. */
  varint: bigint;
}

const WINDOW_BYTES = 1 << 16;
const HEAD_BYTES = 24;

/** A buffered reader over a source, for many small reads that are mostly sequential. */
export class Window {
  readonly source: ByteSource;
  #start = 0;
  #bytes: Uint8Array = new Uint8Array(0);

  constructor(source: ByteSource) {
    this.source = source;
  }

  /** Up to `length` bytes at `offset`, fewer only where `limit` comes first. */
  async bytes(offset: number, length: number, limit: number = this.source.size): Promise<Uint8Array> {
    const want = Math.max(0, Math.min(length, limit - offset));
    if (offset >= this.#start && offset + want <= this.#start + this.#bytes.length) {
      return this.#bytes.subarray(offset - this.#start, offset - this.#start + want);
    }
    if (want > WINDOW_BYTES) return await this.source.read(offset, want);
    const span = Math.min(Math.max(want, WINDOW_BYTES), this.source.size - offset);
    this.#bytes = await this.source.read(offset, span);
    this.#start = offset;
    return this.#bytes.subarray(0, want);
  }
}

function wireError(what: string, offset: number, cause: unknown): FormatError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new FormatError(`Cannot decode ONNX ${what} at offset ${offset}: ${detail}`, {
    offset,
    format: "onnx",
    cause,
  });
}

/**
 * The fields of the message occupying `[start, end)` of the source, in order.
 * Every length is checked against the enclosing message before it is used.
 */
export async function* walkFields(
  window: Window,
  start: number,
  end: number,
  what: string,
): AsyncGenerator<FieldHead> {
  let pos = start;
  while (pos < end) {
    const head = await window.bytes(pos, HEAD_BYTES, end);
    const reader = new BinaryReader(head);
    let field: number;
    let wireType: WireType;
    let varint = 0n;
    let valueStart: number;
    let valueEnd: number;
    try {
      [field, wireType] = reader.tag();
      switch (wireType) {
        case WireType.Varint:
          varint = BigInt(reader.uint64());
          valueStart = pos;
          valueEnd = pos + reader.pos;
          break;
        case WireType.Bit64:
          valueStart = pos + reader.pos;
          valueEnd = valueStart + 8;
          break;
        case WireType.Bit32:
          valueStart = pos + reader.pos;
          valueEnd = valueStart + 4;
          break;
        case WireType.LengthDelimited: {
          const length = BigInt(reader.uint64());
          valueStart = pos + reader.pos;
          if (length > BigInt(end - valueStart)) {
            throw new TruncatedError(
              `Cannot decode ONNX ${what} at offset ${pos}: field ${field} declares ${length} bytes but only ${
                end - valueStart
              } remain in its message`,
              { offset: pos },
            );
          }
          valueEnd = valueStart + Number(length);
          break;
        }
        default:
          throw new Error(`unsupported wire type ${wireType} (groups are not used by ONNX)`);
      }
      if (reader.pos > head.length) throw new RangeError("the message ends inside a field header");
    } catch (error) {
      if (error instanceof TruncatedError || error instanceof FormatError) throw error;
      throw wireError(what, pos, error);
    }
    if (valueEnd > end) {
      throw new TruncatedError(
        `Cannot decode ONNX ${what} at offset ${pos}: field ${field} runs past the end of its message (offset ${end})`,
        { offset: pos },
      );
    }
    yield { field, wireType, start: pos, valueStart, end: valueEnd, varint };
    pos = valueEnd;
  }
}

/** Decode a small, already-loaded message with BinaryReader, mapping its errors to FormatError. */
export function decodeSmall<T>(
  bytes: Uint8Array,
  offset: number,
  what: string,
  body: (r: BinaryReader) => T,
): T {
  try {
    return body(new BinaryReader(bytes));
  } catch (error) {
    if (error instanceof FormatError || error instanceof TruncatedError) throw error;
    throw wireError(what, offset, error);
  }
}

/** The bytes of a field's tag and length prefix, for a length-delimited value of `length` bytes. */
export function lengthPrefix(field: number, length: number): Uint8Array {
  return new BinaryWriter().tag(field, WireType.LengthDelimited).uint64(length).finish();
}

/** A varint-valued field encoded alone. */
export function varintField(field: number, value: number): Uint8Array {
  return new BinaryWriter().tag(field, WireType.Varint).uint64(value).finish();
}

/** Expect a field to have a wire type; throw a FormatError naming the message otherwise. */
export function expectWire(head: FieldHead, wireType: WireType, what: string): void {
  if (head.wireType !== wireType) {
    throw new FormatError(
      `Cannot decode ONNX ${what} at offset ${head.start}: field ${head.field} has wire type ${head.wireType}, expected ${wireType}`,
      { offset: head.start, format: "onnx" },
    );
  }
}
