/**
 * SentencePiece `tokenizer.model` files (sentencepiece_model.proto's
 * ModelProto): the pieces with their scores and types, and the few trainer
 * and normalizer settings a converter needs. Read and written with
 * @bufbuild/protobuf's wire reader and writer.
 *
 * @module
 */

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FormatError, LimitError } from "../../lib/errors.ts";
import { PIECE_TYPE } from "./_piece_type.ts";

export { PIECE_TYPE };

/** One vocabulary entry. */
export interface SentencePiece {
  /** The piece text (`▁` for a space). */
  readonly piece: string;
  /** Its score (log probability for unigram, merge rank for BPE). */
  readonly score: number;
  /** One of {@linkcode PIECE_TYPE}. */
  readonly type: number;
}

/** What ckpt reads from a ModelProto. */
export interface SentencePieceModel {
  /** Every piece, by id. */
  readonly pieces: readonly SentencePiece[];
  /** trainer_spec.model_type: 1 unigram, 2 BPE, 3 word, 4 char. @default 1 */
  readonly modelType: number;
  /** trainer_spec.byte_fallback. @default false */
  readonly byteFallback: boolean;
  /** normalizer_spec.add_dummy_prefix. @default true */
  readonly addDummyPrefix: boolean;
  /** normalizer_spec.remove_extra_whitespaces. @default true */
  readonly removeExtraWhitespaces: boolean;
}

/** Most pieces accepted: far beyond any real vocabulary, small enough to refuse hostile counts. */
export const MAX_PIECES = 4_000_000;

// Field numbers from sentencepiece_model.proto.
const MODEL = { pieces: 1, trainerSpec: 2, normalizerSpec: 3 };
const PIECE = { piece: 1, score: 2, type: 3 };
const TRAINER = { modelType: 3, vocabSize: 4, byteFallback: 35, unkId: 40, bosId: 41, eosId: 42, padId: 43 };
const NORMALIZER = { name: 1, addDummyPrefix: 3, removeExtraWhitespaces: 4, escapeWhitespaces: 5 };

function parsePiece(bytes: Uint8Array): SentencePiece {
  const r = new BinaryReader(bytes);
  let piece = "";
  let score = 0;
  let type: number = PIECE_TYPE.normal;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === PIECE.piece && wire === WireType.LengthDelimited) piece = r.string();
    else if (field === PIECE.score && wire === WireType.Bit32) score = r.float();
    else if (field === PIECE.type && wire === WireType.Varint) type = r.int32();
    else r.skip(wire, field);
  }
  return { piece, score, type };
}

/**
 * Parse a `tokenizer.model`. Throws `FormatError` (naming `name`) for bytes
 * that are not a ModelProto or hold no pieces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSentencePieceModel, parseSentencePieceModel } from "./sentencepiece_model.ts";
 * const bytes = encodeSentencePieceModel({
 *   pieces: [{ piece: "<unk>", score: 0, type: 2 }, { piece: "▁a", score: -1, type: 1 }],
 *   modelType: 2, byteFallback: false, addDummyPrefix: true, removeExtraWhitespaces: false,
 * });
 * const model = parseSentencePieceModel(bytes);
 * assert.equal(model.pieces[1].piece, "▁a");
 * assert.equal(model.modelType, 2);
 * ```
 */
export function parseSentencePieceModel(bytes: Uint8Array, name = "tokenizer.model"): SentencePieceModel {
  const pieces: SentencePiece[] = [];
  let modelType = 1;
  let byteFallback = false;
  let addDummyPrefix = true;
  let removeExtraWhitespaces = true;
  const r = new BinaryReader(bytes);
  try {
    while (r.pos < r.len) {
      const at = r.pos;
      const [field, wire] = r.tag();
      if (field === MODEL.pieces && wire === WireType.LengthDelimited) {
        if (pieces.length >= MAX_PIECES) {
          throw new LimitError(`Cannot read ${name}: more than ${MAX_PIECES} pieces`, { limit: MAX_PIECES });
        }
        pieces.push(parsePiece(r.bytes()));
      } else if (field === MODEL.trainerSpec && wire === WireType.LengthDelimited) {
        const t = new BinaryReader(r.bytes());
        while (t.pos < t.len) {
          const [f, w] = t.tag();
          if (f === TRAINER.modelType && w === WireType.Varint) modelType = t.int32();
          else if (f === TRAINER.byteFallback && w === WireType.Varint) byteFallback = t.bool();
          else t.skip(w, f);
        }
      } else if (field === MODEL.normalizerSpec && wire === WireType.LengthDelimited) {
        const n = new BinaryReader(r.bytes());
        while (n.pos < n.len) {
          const [f, w] = n.tag();
          if (f === NORMALIZER.addDummyPrefix && w === WireType.Varint) addDummyPrefix = n.bool();
          else if (f === NORMALIZER.removeExtraWhitespaces && w === WireType.Varint) {
            removeExtraWhitespaces = n.bool();
          } else n.skip(w, f);
        }
      } else {
        if (field === 0) throw new Error(`field number 0 at offset ${at}`);
        r.skip(wire, field);
      }
    }
  } catch (cause) {
    if (cause instanceof LimitError) throw cause;
    throw new FormatError(
      `Cannot read ${name}: not a SentencePiece model (${(cause as Error).message})`,
      { offset: r.pos, format: "sentencepiece", cause },
    );
  }
  if (pieces.length === 0) {
    throw new FormatError(`Cannot read ${name}: the SentencePiece model has no pieces`, {
      format: "sentencepiece",
    });
  }
  return { pieces, modelType, byteFallback, addDummyPrefix, removeExtraWhitespaces };
}

/**
 * Encode a ModelProto from pieces and settings (special ids are taken from
 * the unknown/control pieces `<unk>`, `<s>`, `</s>`, `<pad>` where present).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSentencePieceModel } from "./sentencepiece_model.ts";
 * const bytes = encodeSentencePieceModel({ pieces: [{ piece: "<unk>", score: 0, type: 2 }], modelType: 1,
 *   byteFallback: false, addDummyPrefix: true, removeExtraWhitespaces: true });
 * assert.ok(bytes.length > 0);
 * ```
 */
export function encodeSentencePieceModel(model: SentencePieceModel): Uint8Array {
  const w = new BinaryWriter();
  for (const p of model.pieces) {
    w.tag(MODEL.pieces, WireType.LengthDelimited).fork();
    w.tag(PIECE.piece, WireType.LengthDelimited).string(p.piece);
    w.tag(PIECE.score, WireType.Bit32).float(p.score);
    if (p.type !== PIECE_TYPE.normal) w.tag(PIECE.type, WireType.Varint).int32(p.type);
    w.join();
  }
  const idOf = (text: string) =>
    model.pieces.findIndex((p) => p.piece === text && p.type !== PIECE_TYPE.normal);
  w.tag(MODEL.trainerSpec, WireType.LengthDelimited).fork();
  w.tag(TRAINER.modelType, WireType.Varint).int32(model.modelType);
  w.tag(TRAINER.vocabSize, WireType.Varint).int32(model.pieces.length);
  w.tag(TRAINER.byteFallback, WireType.Varint).bool(model.byteFallback);
  w.tag(TRAINER.unkId, WireType.Varint).int32(
    Math.max(0, model.pieces.findIndex((p) => p.type === PIECE_TYPE.unknown)),
  );
  w.tag(TRAINER.bosId, WireType.Varint).int32(idOf("<s>"));
  w.tag(TRAINER.eosId, WireType.Varint).int32(idOf("</s>"));
  w.tag(TRAINER.padId, WireType.Varint).int32(idOf("<pad>"));
  w.join();
  w.tag(MODEL.normalizerSpec, WireType.LengthDelimited).fork();
  w.tag(NORMALIZER.name, WireType.LengthDelimited).string("identity");
  w.tag(NORMALIZER.addDummyPrefix, WireType.Varint).bool(model.addDummyPrefix);
  w.tag(NORMALIZER.removeExtraWhitespaces, WireType.Varint).bool(model.removeExtraWhitespaces);
  w.tag(NORMALIZER.escapeWhitespaces, WireType.Varint).bool(true);
  w.join();
  return w.finish();
}
