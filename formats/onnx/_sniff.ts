// Recognising a ModelProto from its first bytes. This runs for every file
// ckpt opens, so it reads the few leading tags directly instead of loading
// the protobuf runtime (which needs env access in Deno to start).

/** ModelProto field numbers and the wire type each must have. */
const MODEL_WIRE: Readonly<Record<number, number>> = Object.freeze({
  1: 0, // ir_version
  2: 2, // producer_name
  3: 2, // producer_version
  4: 2, // domain
  5: 0, // model_version
  6: 2, // doc_string
  7: 2, // graph
  8: 2, // opset_import
  14: 2, // metadata_props
  20: 2, // training_info
  25: 2, // functions
  26: 2, // configuration
});

/** A varint at `pos`: [value, next position], or undefined when it does not end within 10 bytes of `head`. */
function varint(head: Uint8Array, pos: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10 && pos + i < head.length; i++) {
    const b = head[pos + i];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) return [value, pos + i + 1];
  }
  return undefined;
}

/**
 * True when `head` (the first bytes of a file of `size` bytes) plausibly
 * starts a ModelProto: ir_version (1–100) first, then known fields with the
 * right wire types and lengths that fit in the file.
 */
export function sniffModel(head: Uint8Array, size: number): boolean {
  if (head.length < 4 || head[0] !== 0x08) return false;
  const ir = varint(head, 1);
  if (!ir || ir[0] < 1 || ir[0] > 100) return false;
  let pos = ir[1];
  let fields = 1;
  while (pos < head.length && fields < 6) {
    const tag = varint(head, pos);
    if (!tag) return false;
    const field = Math.floor(tag[0] / 8);
    const wire = tag[0] % 8;
    if (MODEL_WIRE[field] !== wire) return false;
    fields++;
    if (wire === 0) {
      const value = varint(head, tag[1]);
      if (!value) return false;
      pos = value[1];
      continue;
    }
    const length = varint(head, tag[1]);
    if (!length) return false;
    // A truncated model is still an ONNX model (opening it says it is truncated).
    if (length[0] > size - length[1]) return fields >= 3 || field === 7;
    if (length[1] + length[0] > head.length) return true;
    pos = length[1] + length[0];
  }
  return fields >= 2 && pos <= head.length;
}
