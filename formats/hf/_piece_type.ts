// SentencePiece piece types, as sentencepiece_model.proto numbers them (and
// GGUF's tokenizer.ggml.token_type reuses), apart from the protobuf codec so
// that BPE-only paths never load the protobuf runtime.

/** SentencePiece piece types (= GGUF token types). */
export const PIECE_TYPE: Readonly<{
  normal: 1;
  unknown: 2;
  control: 3;
  userDefined: 4;
  unused: 5;
  byte: 6;
}> = Object.freeze(
  {
    normal: 1,
    unknown: 2,
    control: 3,
    userDefined: 4,
    unused: 5,
    byte: 6,
  } as const,
);
