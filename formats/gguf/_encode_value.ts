// Encoding GGUF values and naming the ggml type of plain dtypes: shared by
// the single-file writer, the split writer and the file-type quantizer.

import type { DType } from "../../lib/dtype.ts";
import type { FieldWriter } from "../../lib/binary/field_writer.ts";
import {
  GGUF_VALUE_TYPES,
  type GgufArray,
  type GgufItem,
  type GgufKeyValue,
  type GgufType,
} from "./gguf_value.ts";

/** The ggml type that stores each plain dtype GGUF has. */
export const GGML_TYPE_OF_DTYPE: Readonly<Partial<Record<DType, string>>> = Object.freeze({
  F32: "F32",
  F16: "F16",
  BF16: "BF16",
  F64: "F64",
  I8: "I8",
  I16: "I16",
  I32: "I32",
  I64: "I64",
});

const UTF8 = new TextEncoder();

/** A GGUF string: u64 length, then UTF-8 bytes. */
export function writeString(w: FieldWriter, s: string): void {
  const bytes = UTF8.encode(s);
  w.u64(bytes.length);
  w.bytes(bytes);
}

/** One GGUF value of `type` (arrays recursively). */
export function writeItem(w: FieldWriter, type: GgufType, item: GgufItem): void {
  switch (type) {
    case "u8":
      return w.u8(item as number);
    case "i8":
      return w.i8(item as number);
    case "u16":
      return w.u16(item as number);
    case "i16":
      return w.i16(item as number);
    case "u32":
      return w.u32(item as number);
    case "i32":
      return w.i32(item as number);
    case "f32":
      return w.f32(item as number);
    case "bool":
      return w.u8(item ? 1 : 0);
    case "string":
      return writeString(w, item as string);
    case "u64":
      return w.u64(item as bigint | number);
    case "i64":
      return w.i64(item as bigint | number);
    case "f64":
      return w.f64(item as number);
    case "array": {
      const arr = item as GgufArray;
      w.i32(GGUF_VALUE_TYPES.indexOf(arr.itemType));
      w.u64(arr.items.length);
      for (const x of arr.items) writeItem(w, arr.itemType, x);
      return;
    }
  }
}

/** A GGUF file's start: magic, version, tensor and key counts, then every key/value. */
export function writeHeaderStart(
  w: FieldWriter,
  version: number,
  tensorCount: number,
  kv: readonly GgufKeyValue[],
): void {
  w.bytes(UTF8.encode("GGUF"));
  w.u32(version);
  w.u64(tensorCount);
  w.u64(kv.length);
  for (const { key, type, value } of kv) {
    writeString(w, key);
    w.i32(GGUF_VALUE_TYPES.indexOf(type));
    writeItem(w, type, value);
  }
}
