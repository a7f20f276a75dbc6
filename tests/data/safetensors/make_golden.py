#!/usr/bin/python3
"""Golden safetensors files for ckpt's tests, written by an independent writer.

Debian's python3 has numpy but not the `safetensors` package, so this script
implements the reference writer (huggingface/safetensors, safetensors/src/tensor.rs,
`prepare` and `Metadata::serialize`) with json/struct/numpy:
  * tensors sorted by dtype descending in the Rust `Dtype` enum's order, then by
    name (UTF-8 bytes);
  * header JSON with no spaces: `__metadata__` first (only when metadata is given),
    then each tensor as {"dtype","shape","data_offsets"}; non-ASCII is written as is;
  * header padded with spaces to a multiple of 8; u64 little-endian length first;
  * tensor bytes back to back, little-endian, C order.
BF16 values are made from float32 bits by round-to-nearest-even, F4/F6 as raw bytes.

Run: /usr/bin/python3 tests/data/safetensors/make_golden.py
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# Rust `Dtype` declaration order (safetensors/src/tensor.rs).
ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
         "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
         "C64", "F64", "I64", "U64"]


def bf16_bits(values):
    u = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write(path, tensors, metadata=None):
    """tensors: name -> (dtype, shape, raw bytes)."""
    items = sorted(tensors.items(), key=lambda kv: (-ORDER.index(kv[1][0]), kv[0].encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, (dtype, shape, raw) in items:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, (_, _, raw) in items:
            f.write(raw)


def t(dtype, array):
    array = np.asarray(array)  # ascontiguousarray would turn 0-d into 1-d
    return (dtype, array.shape, array.astype(array.dtype.newbyteorder("<")).tobytes())


def main():
    rng = np.random.default_rng(1234)
    mixed = {
        "model.embed.weight": t("F32", rng.standard_normal((4, 6)).astype(np.float32)),
        "model.norm.weight": t("F16", np.linspace(-2, 2, 7).astype(np.float16)),
        "model.bf16.weight": ("BF16", (2, 3), bf16_bits(rng.standard_normal(6)).tobytes()),
        "model.f64": t("F64", np.array([np.pi, -np.e], dtype=np.float64)),
        "step": t("I64", np.array(1234567890123, dtype=np.int64)),  # 0-d
        "empty.i32": t("I32", np.zeros((0, 4), dtype=np.int32)),
        "empty.u8": t("U8", np.zeros((0,), dtype=np.uint8)),
        "mask": t("BOOL", np.array([True, False, True, True])),
        "counts.u16": t("U16", np.array([1, 65535, 7], dtype=np.uint16)),
        "counts.i8": t("I8", np.array([-128, 0, 127], dtype=np.int8)),
        "counts.u32": t("U32", np.array([4000000000], dtype=np.uint32)),
        "counts.u64": t("U64", np.array([2**63 + 5], dtype=np.uint64)),
        "counts.i16": t("I16", np.array([-300, 300], dtype=np.int16)),
        "complex": t("C64", np.array([1 + 2j, -3.5j], dtype=np.complex64)),
        "fp8.e4m3": ("F8_E4M3", (4,), bytes([0x00, 0x38, 0xB8, 0x7E])),
        "fp4.packed": ("F4", (2, 4), bytes([0x12, 0x34, 0x56, 0x78])),
        "fp6.packed": ("F6_E2M3", (4,), bytes([0xAA, 0xBB, 0xCC])),
        "w\u00e9ird \"name\"/\u2713\ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16"): t("U8", np.array([9], dtype=np.uint8)),
        "\uff21wide": t("U8", np.array([8], dtype=np.uint8)),
    }
    write(os.path.join(HERE, "mixed.safetensors"), mixed,
          {"format": "pt", "note": "caf\u00e9 \u2713 \"quoted\"\nline", "zeta": "last"})

    # No __metadata__ at all (what save_file(tensors, path) writes).
    write(os.path.join(HERE, "no_metadata.safetensors"),
          {"b": t("F32", np.array([1.5, -2.0], dtype=np.float32)), "a": t("F32", np.array([3.0], dtype=np.float32))})

    # A small model for the sharding and CLI tests.
    model = {}
    for layer in range(3):
        model[f"layers.{layer}.weight"] = t("F32", rng.standard_normal((16, 16)).astype(np.float32))
        model[f"layers.{layer}.bias"] = t("F32", rng.standard_normal(16).astype(np.float32))
    model["position_ids"] = t("I64", np.arange(8, dtype=np.int64))
    write(os.path.join(HERE, "small_model.safetensors"), model, {"format": "pt"})


if __name__ == "__main__":
    main()
