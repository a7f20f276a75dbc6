/**
 * Write a set of tensors back into a copy of an ONNX model: the initializers
 * named in the stream are replaced, in the dtype and shape the graph declares;
 * every other byte of the model is copied unchanged.
 *
 * @module
 */

import { type ByteSink, fileSink } from "../../lib/byte_sink.ts";
import type { ByteSource } from "../../lib/byte_source.ts";
import { canCast, castBytes } from "../../lib/cast.ts";
import { byteLengthOf, elementCount, isFloatDType } from "../../lib/dtype.ts";
import { LimitError, UsageError } from "../../lib/errors.ts";
import type { WriteOptions } from "../../lib/format.ts";
import type { TensorEntry, TensorStream } from "../../lib/tensor.ts";
import type { InitializerLayout, Span } from "./_model.ts";
import { ATTRIBUTE, ENTRY, EXTERNAL, MAX_PROTOBUF_BYTES, TENSOR } from "./_schema.ts";
import { BinaryWriter, lengthPrefix, varintField, WireType } from "./_wire.ts";
import { type OnnxFile, openOnnxPath } from "./decode.ts";
import { resolveExternalPath } from "./_paths.ts";
import { basename } from "../../lib/paths.ts";

/** Where initializers that the source model kept in external files are written. */
export interface OnnxExternalData {
  /** The sink for the data file. */
  sink: ByteSink;
  /** Its location as recorded in the model, relative to the model's folder. */
  location: string;
}

/** Options for {@linkcode writeOnnx}. */
export interface WriteOnnxOptions {
  /** The model to copy, opened with `openOnnx` (its graph, attributes and other initializers are kept). */
  model: OnnxFile;
  /**
   * Where initializers stored externally in `model` go. Without it they are
   * written inline, which works while the model stays under 2 GiB.
   * @default undefined
   */
  externalData?: OnnxExternalData;
  /** Alignment of each tensor in the external data file, in bytes. @default 64 */
  externalAlignment?: number;
}

type Piece =
  | { kind: "copy"; start: number; end: number; from?: ByteSource }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "tensor"; length: number; read: () => Promise<Uint8Array> };

function pieceLength(p: Piece): number {
  return p.kind === "copy" ? p.end - p.start : p.kind === "bytes" ? p.bytes.length : p.length;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A reader that yields `entry`'s bytes in the initializer's dtype. */
function conform(entry: TensorEntry, init: InitializerLayout): () => Promise<Uint8Array> {
  const dtype = init.dtype!;
  if (entry.encoding) {
    throw new UsageError(
      `Cannot write '${entry.name}' into an ONNX model: it is ${entry.encoding}-encoded; dequantize it first (fake quantization)`,
    );
  }
  if (!sameShape(entry.shape, init.dims)) {
    throw new UsageError(
      `Cannot write '${entry.name}' into an ONNX model: its shape [${
        entry.shape.join(", ")
      }] differs from the graph's [${init.dims.join(", ")}]`,
    );
  }
  if (entry.dtype === dtype) return () => entry.read();
  if (isFloatDType(entry.dtype) && isFloatDType(dtype) && canCast(entry.dtype, dtype)) {
    // The graph's types are fixed: other float dtypes go back to the declared one.
    const count = elementCount(init.dims);
    return async () => castBytes(await entry.read(), entry.dtype, dtype, count);
  }
  throw new UsageError(
    `Cannot write '${entry.name}' into an ONNX model: it is ${entry.dtype} but the graph declares ${dtype}`,
  );
}

function externalEntry(key: string, value: string): Uint8Array {
  const w = new BinaryWriter();
  w.tag(TENSOR.externalData, WireType.LengthDelimited).fork();
  w.tag(ENTRY.key, WireType.LengthDelimited).string(key);
  w.tag(ENTRY.value, WireType.LengthDelimited).string(value);
  return w.join().finish();
}

async function copyRange(source: ByteSource, start: number, end: number, sink: ByteSink, buffer: Uint8Array) {
  for (let pos = start; pos < end;) {
    const n = Math.min(buffer.length, end - pos);
    await sink.write(await source.read(pos, n, buffer));
    pos += n;
  }
}

/**
 * The pieces of `[start, end)` of the source with each edit's message put in
 * place of the original, and every enclosing message (graph, node,
 * attribute, subgraph…) given its new length. `depth` is how many
 * ancestors of the edits lie outside `[start, end)`.
 */
function splice(
  start: number,
  end: number,
  edits: { init: InitializerLayout; pieces: Piece[] }[],
  depth: number,
): Piece[] {
  const out: Piece[] = [];
  let cursor = start;
  let i = 0;
  while (i < edits.length) {
    const { init } = edits[i];
    if (init.ancestors.length === depth) {
      out.push({ kind: "copy", start: cursor, end: init.start }, ...edits[i].pieces);
      cursor = init.end;
      i++;
      continue;
    }
    const span: Span = init.ancestors[depth];
    let j = i;
    while (
      j < edits.length && edits[j].init.ancestors.length > depth &&
      edits[j].init.ancestors[depth].start === span.start
    ) j++;
    const inner = splice(span.valueStart, span.end, edits.slice(i, j), depth + 1);
    const length = inner.reduce((n, p) => n + pieceLength(p), 0);
    out.push({ kind: "copy", start: cursor, end: span.start }, {
      kind: "bytes",
      bytes: lengthPrefix(span.field, length),
    }, ...inner);
    cursor = span.end;
    i = j;
  }
  out.push({ kind: "copy", start: cursor, end });
  return out;
}

/** A Constant's value_float(s)/value_int(s) field holding `bytes` (F32 or I64 values). */
function attributeValues(init: InitializerLayout, bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w = new BinaryWriter();
  const field = (init.data as { field: number }).field;
  const count = elementCount(init.dims);
  if (field === ATTRIBUTE.f) w.tag(field, WireType.Bit32).float(view.getFloat32(0, true));
  else if (field === ATTRIBUTE.i) w.tag(field, WireType.Varint).int64(view.getBigInt64(0, true));
  else {
    w.tag(field, WireType.LengthDelimited).fork();
    for (let k = 0; k < count; k++) {
      if (field === ATTRIBUTE.floats) w.float(view.getFloat32(k * 4, true));
      else w.int64(view.getBigInt64(k * 8, true));
    }
    w.join();
  }
  return w.finish();
}

/**
 * Write `stream`'s tensors into a copy of `options.model`. Each tensor must
 * name an initializer of the model and have its shape; float tensors of
 * another dtype are cast back to the dtype the graph declares (so a
 * quantized-then-dequantized stream gives a "fake quantized" model any ONNX
 * runtime can run). Initializers the stream leaves out are copied as they
 * are, as is everything else in the model, byte for byte. Replaced tensors
 * are stored as `raw_data`, or in `options.externalData` when the source
 * kept them externally. Memory stays bounded by one tensor.
 *
 * @example
 * ```ts ignore
 * import { openOnnxPath, writeOnnx } from "./mod.ts";
 * import { cast, fileSink, pipe } from "@ckpt/ckpt";
 * const model = await openOnnxPath("model.onnx");
 * const sink = await fileSink("model-f16-fake.onnx");
 * await writeOnnx(pipe(model, cast("F16")), sink, { model });
 * await sink.close();
 * ```
 */
export async function writeOnnx(
  stream: TensorStream,
  sink: ByteSink,
  options: WriteOnnxOptions,
): Promise<void> {
  const model = options.model;
  if (!model?.model?.layout) {
    throw new UsageError("Cannot write ONNX: options.model must be a model opened with openOnnx");
  }
  const { layout, source } = model.model;
  const alignment = options.externalAlignment ?? 64;
  if (!Number.isSafeInteger(alignment) || alignment < 1) {
    throw new UsageError(`Cannot write ONNX: externalAlignment must be a positive integer, got ${alignment}`);
  }
  const inits = new Map<string, InitializerLayout>();
  for (const init of layout.initializers) if (init.dtype !== undefined) inits.set(init.name, init);
  const given = new Map<string, TensorEntry>();
  for await (const entry of stream.tensors) {
    if (!inits.has(entry.name)) {
      throw new UsageError(
        `Cannot write '${entry.name}' into the ONNX model: it has no initializer of that name`,
      );
    }
    if (given.has(entry.name)) {
      throw new UsageError(`Cannot write ONNX: tensor '${entry.name}' appears twice`);
    }
    given.set(entry.name, entry);
  }
  const original = new Map(model.tensors.map((t) => [t.name, t]));

  const externalPieces: Piece[] = [];
  let externalOffset = 0;
  const edits: { init: InitializerLayout; pieces: Piece[] }[] = [];
  for (const init of layout.initializers) {
    const isExternal = init.data.kind === "external";
    const changed = init.dtype === undefined ? undefined : given.get(init.name);
    const entry = changed ?? (isExternal && init.dtype !== undefined ? original.get(init.name) : undefined);
    if (!entry) continue;
    const length = byteLengthOf(init.dtype!, init.dims);
    const read = conform(entry, init);
    if (changed && (init.data.kind === "typed" || init.data.kind === "attribute")) {
      // Values kept in typed fields (always small: they are inside the message) are rewritten only when they
      // changed, so a model written back with its own tensors stays byte for byte the same.
      const before = await original.get(init.name)!.read();
      const after = await read();
      if (before.length === after.length && before.every((b, i) => b === after[i])) continue;
    }
    // External data the stream left out is copied from where it lies, in chunks. (A stream's own
    // entries are always read: a transform that spreads an entry keeps its location with new bytes.)
    const tensorPiece: Piece = !changed && entry.location
      ? {
        kind: "copy",
        start: entry.location.offset,
        end: entry.location.offset + length,
        from: entry.location.source,
      }
      : { kind: "tensor", length, read };
    let dataPieces: Piece[];
    if (init.data.kind === "attribute") {
      dataPieces = [{ kind: "bytes", bytes: attributeValues(init, await read()) }];
    } else if (isExternal && options.externalData) {
      const padding = (alignment - (externalOffset % alignment)) % alignment;
      if (padding > 0) externalPieces.push({ kind: "bytes", bytes: new Uint8Array(padding) });
      externalOffset += padding;
      externalPieces.push(tensorPiece);
      dataPieces = [
        { kind: "bytes", bytes: externalEntry("location", options.externalData.location) },
        { kind: "bytes", bytes: externalEntry("offset", String(externalOffset)) },
        { kind: "bytes", bytes: externalEntry("length", String(length)) },
        { kind: "bytes", bytes: varintField(TENSOR.dataLocation, EXTERNAL) },
      ];
      externalOffset += length;
    } else {
      dataPieces = [{ kind: "bytes", bytes: lengthPrefix(TENSOR.rawData, length) }, tensorPiece];
    }
    // Keep every non-data field where it was; the new data goes where the old began.
    const message: Piece[] = [];
    let pos = init.valueStart;
    let placed = false;
    for (const [start, end] of init.dataFields) {
      if (start > pos) message.push({ kind: "copy", start: pos, end: start });
      if (!placed) message.push(...dataPieces);
      placed = true;
      pos = end;
    }
    if (init.end > pos) message.push({ kind: "copy", start: pos, end: init.end });
    if (!placed) message.push(...dataPieces);
    const messageLength = message.reduce((n, p) => n + pieceLength(p), 0);
    edits.push({
      init,
      pieces: [{ kind: "bytes", bytes: lengthPrefix(init.field, messageLength) }, ...message],
    });
  }
  const pieces = splice(0, layout.size, edits, 0);
  const total = pieces.reduce((n, p) => n + pieceLength(p), 0);
  if (total > MAX_PROTOBUF_BYTES) {
    throw new LimitError(
      `Cannot write ONNX: the model would be ${total} bytes, over protobuf's 2 GiB limit; store its initializers as external data`,
      { limit: MAX_PROTOBUF_BYTES, actual: total },
    );
  }
  const buffer = new Uint8Array(Math.min(1 << 23, Math.max(total, 1)));
  const emit = async (list: Piece[], out: ByteSink) => {
    for (const p of list) {
      if (p.kind === "copy") await copyRange(p.from ?? source, p.start, p.end, out, buffer);
      else if (p.kind === "bytes") await out.write(p.bytes);
      else {
        const bytes = await p.read();
        if (bytes.length !== p.length) {
          throw new UsageError(
            `Cannot write ONNX: a tensor produced ${bytes.length} bytes, expected ${p.length}`,
          );
        }
        await out.write(bytes);
      }
    }
  };
  await emit(pieces, sink);
  if (options.externalData) await emit(externalPieces, options.externalData.sink);
}

/**
 * Write `stream` into a copy of the ONNX model at `options.input`, saved at
 * `path` (and, when the source keeps its initializers in external data, a
 * data file `<name>.data` beside it). Nothing is left behind on failure.
 *
 * @example
 * ```ts ignore
 * import { openOnnxPath, writeOnnxPath } from "./mod.ts";
 * import { cast, pipe } from "@ckpt/ckpt";
 * const model = await openOnnxPath("model.onnx");
 * await writeOnnxPath(pipe(model, cast("BF16")), "model-bf16-fake.onnx", { input: "model.onnx" });
 * await model.close();
 * ```
 */
export async function writeOnnxPath(
  stream: TensorStream,
  path: string,
  options: WriteOptions,
): Promise<void> {
  const input = options.input;
  if (typeof input !== "string") {
    throw new UsageError(
      "Cannot write ONNX without a source model: an .onnx output is a copy of an .onnx input with its initializers replaced",
    );
  }
  const model = await openOnnxPath(input);
  const sinks: ByteSink[] = [];
  try {
    const found = model.model;
    const needsExternal = found.layout.initializers.some((i) => i.data.kind === "external");
    const sink = await fileSink(path, { protect: [input] });
    sinks.push(sink);
    let externalData: OnnxExternalData | undefined;
    if (needsExternal) {
      const location = `${basename(path)}.data`;
      const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
      const sourceData = found.baseDir === undefined
        ? []
        : found.layout.initializers.flatMap((i) =>
          i.data.kind === "external" ? [resolveExternalPath(found.baseDir!, i.data.location, i.name)] : []
        );
      externalData = {
        sink: await fileSink(`${dir}/${location}`, { protect: [input, ...sourceData] }),
        location,
      };
      sinks.push(externalData.sink);
    }
    await writeOnnx(stream, sink, { model, externalData });
    for (const s of sinks) await s.close();
  } catch (error) {
    for (const s of sinks) await s.abort();
    throw error;
  } finally {
    await model.close();
  }
}
