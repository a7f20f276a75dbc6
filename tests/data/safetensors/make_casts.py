#!/usr/bin/python3
"""Golden float32 -> float16 / bfloat16 casts made by PyTorch (Debian's torch 1.13).

Writes casts.safetensors (with make_golden.py's independent writer) holding
  input  F32  the values below, as float32 bit patterns
  f16    F16  torch's `input.half()`
  bf16   BF16 torch's `input.bfloat16()`
The values cover NaN (quiet, signalling, negative, with payloads), +-Inf, +-0,
float32 subnormals, float16 subnormals and underflow, exact ties (to even, both
ways) for each target, overflow to infinity, the largest finite values, and
random normals of many magnitudes. Both the scalar and the vectorised paths of
torch are exercised: the tensor is long enough for vector loops, and the edge
values also appear at its start (a scalar tail would see the same values).

Run: /usr/bin/python3 tests/data/safetensors/make_casts.py
"""
import os
import struct

import numpy as np
import torch

from make_golden import HERE, write


def f32(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


edge_bits = [
    0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA00000, 0xFFFFFFFF, 0x7FC12345,  # NaNs
    0x7F800000, 0xFF800000, 0x00000000, 0x80000000,                          # +-Inf, +-0
    0x00000001, 0x80000001, 0x007FFFFF, 0x00400000,                          # f32 subnormals
    0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF,                          # largest finite, bf16 overflow tie
    0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF,                          # bf16 ties: 1+2^-8 (to even: down), 1+3*2^-8 (up)
    0x3F801000, 0x3F803000, 0x3F801001,                                      # f16 ties: 1+2^-11, 1+3*2^-11
]
edge_values = [f32(b) for b in edge_bits] + [
    65504.0, 65519.0, 65520.0, 65536.0, -65520.0, 1e10, -1e10,   # f16 max and overflow
    6.103515625e-05, 6.0975552e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08,
    8.940697e-08, 1e-8, -1e-8, 1e-45, 3.0e-39,                    # f16 subnormals / underflow ties
    1.0, -1.0, 0.1, 1 / 3, 3.14159265, 2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 1.5 * 2.0 ** -25,
]
rng = np.random.default_rng(42)
scales = 10.0 ** rng.integers(-12, 8, size=1000)
random = (rng.standard_normal(1000) * scales).astype(np.float32)
edge = np.array([np.float32(v) for v in edge_values], dtype=np.float32)
# NaN payloads must survive the array round trip: build from bits.
edge_u32 = edge.view(np.uint32).copy()
edge_u32[: len(edge_bits)] = np.array(edge_bits, dtype=np.uint32)
values = np.concatenate([edge_u32.view(np.float32), random, edge_u32.view(np.float32)])

tensor = torch.from_numpy(values.copy())
half = tensor.half().numpy().view(np.uint16)
bf16 = tensor.bfloat16().view(torch.int16).numpy().view(np.uint16)

write(os.path.join(HERE, "casts.safetensors"), {
    "input": ("F32", values.shape, values.astype("<f4").tobytes()),
    "f16": ("F16", half.shape, half.astype("<u2").tobytes()),
    "bf16": ("BF16", bf16.shape, bf16.astype("<u2").tobytes()),
}, {"torch": torch.__version__})
