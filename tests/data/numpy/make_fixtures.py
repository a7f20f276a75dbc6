# Golden .npy/.npz files written by numpy itself, and expected.json with each
# array's values as little-endian, row-major bytes (hex) for exact comparison.
# Run with Debian's python3: /usr/bin/python3 tests/data/numpy/make_fixtures.py
import json
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)
expected = {}


def record(name, a):
    le = a.astype(a.dtype.newbyteorder("<"))
    expected[name] = {
        "descr": a.dtype.str,
        "shape": list(a.shape),
        "hex": np.ascontiguousarray(le).tobytes(order="C").hex(),
    }


def save(name, a, version=None):
    path = os.path.join(here, name)
    with open(path, "wb") as f:
        if version is None:
            np.save(f, a)
        else:
            np.lib.format.write_array(f, a, version=version)
    record(name, a)


floats = np.array([[0.0, -0.0, 1.5], [np.inf, -np.inf, np.nan]])
dtypes = {
    "bool": np.array([[True, False, True], [False, False, True]]),
    "u1": np.array([[0, 1, 255], [128, 7, 9]], dtype=np.uint8),
    "i1": np.array([[0, -1, 127], [-128, 7, -9]], dtype=np.int8),
    "u2": np.array([[0, 1, 65535], [256, 7, 9]], dtype=np.uint16),
    "i2": np.array([[0, -1, 32767], [-32768, 300, -9]], dtype=np.int16),
    "u4": np.array([[0, 1, 2**32 - 1], [2**31, 7, 9]], dtype=np.uint32),
    "i4": np.array([[0, -1, 2**31 - 1], [-(2**31), 70000, -9]], dtype=np.int32),
    "u8": np.array([[0, 1, 2**64 - 1], [2**63, 7, 9]], dtype=np.uint64),
    "i8": np.array([[0, -1, 2**63 - 1], [-(2**63), 2**40, -9]], dtype=np.int64),
    "f2": floats.astype(np.float16),
    "f4": floats.astype(np.float32),
    "f8": floats.astype(np.float64),
    "c8": np.array([[1 + 2j, -0.5j, 3], [np.inf, 0, -1 - 1j]], dtype=np.complex64),
}
for kind, a in dtypes.items():
    save(f"dtype_{kind}.npy", a)

# Big-endian arrays (numpy keeps the byte order it was given).
save("big_f4.npy", rng.standard_normal((2, 3)).astype(">f4"))
save("big_i2.npy", np.array([[1, -2, 300], [-400, 5, 32767]], dtype=">i2"))
save("big_u8.npy", np.array([1, 2**64 - 2, 2**40], dtype=">u8"))
save("big_c8.npy", np.array([1 + 2j, -3.5 - 0.25j], dtype=">c8"))

# Fortran order (np.save writes the column-major bytes and fortran_order True).
save("fortran_f4.npy", np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)))
save("fortran_i2_3d.npy", np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4)))
save("fortran_big_f8.npy", np.asfortranarray(rng.standard_normal((3, 2)).astype(">f8")))

# 0-d, empty, 1-d.
save("scalar_f4.npy", np.array(3.25, dtype=np.float32))
save("empty_f4.npy", np.zeros((0, 3), dtype=np.float32))
save("vector_f8.npy", np.linspace(-1, 1, 7))

# Explicit header versions.
save("v2_f4.npy", np.arange(6, dtype=np.float32).reshape(2, 3), version=(2, 0))
save("v3_i4.npy", np.arange(6, dtype=np.int32).reshape(3, 2), version=(3, 0))

# Archives.
arrays = {
    "weight": rng.standard_normal((4, 8)).astype(np.float32),
    "bias": np.arange(4, dtype=np.int64),
    "layer.0.norm": np.ones((8,), dtype=np.float16),
}
np.savez(os.path.join(here, "savez.npz"), **arrays)
np.savez_compressed(os.path.join(here, "savez_compressed.npz"), **arrays)
for archive in ("savez.npz", "savez_compressed.npz"):
    for key, a in arrays.items():
        record(f"{archive}:{key}", a)

with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
