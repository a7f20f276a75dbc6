# Reference GGUF files written straight from the GGUF spec (ggml/docs/gguf.md,
# ggml/src/gguf.cpp) with struct and numpy, plus expected.json holding every
# metadata value and every tensor's values (block types dequantized here,
# from ggml-common.h's layouts and ggml-quants.c's dequantize_row_* math,
# in float32 arithmetic).
# Run with Debian's python3: /usr/bin/python3 tests/data/gguf/make_fixtures.py
import json
import os
import struct

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
F32 = np.float32

VALUE_TYPES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"]
SCALAR_FMT = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i", "f32": "<f",
              "bool": "<?", "u64": "<Q", "i64": "<q", "f64": "<d"}
GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
        "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q8_1": (9, 32, 36), "Q2_K": (10, 256, 84),
        "Q3_K": (11, 256, 110), "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210),
        "Q8_K": (15, 256, 292), "I8": (24, 1, 1), "I16": (25, 1, 2), "I32": (26, 1, 4), "I64": (27, 1, 8),
        "F64": (28, 1, 8), "BF16": (30, 1, 2)}


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_value(t, v):
    if t == "string":
        return gguf_string(v)
    if t == "array":
        item_type, items = v
        out = struct.pack("<iQ", VALUE_TYPES.index(item_type), len(items))
        return out + b"".join(gguf_value(item_type, x) for x in items)
    return struct.pack(SCALAR_FMT[t], v)


def pad(n, a):
    return (a - n % a) % a


def write_gguf(path, version, kvs, tensors, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ggml type, shape outermost first, raw bytes)]."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)))
    for key, t, v in kvs:
        out += gguf_string(key) + struct.pack("<i", VALUE_TYPES.index(t)) + gguf_value(t, v)
    offset = 0
    for name, gt, shape, raw in tensors:
        out += gguf_string(name) + struct.pack("<I", len(shape))
        for d in reversed(shape):  # GGUF stores dimensions innermost first
            out += struct.pack("<Q", d)
        out += struct.pack("<iQ", GGML[gt][0], offset)
        offset += len(raw) + pad(len(raw), alignment)
    out += bytes(pad(len(out), alignment))
    for _, _, _, raw in tensors:
        out += raw + bytes(pad(len(raw), alignment))
    with open(os.path.join(here, path), "wb") as f:
        f.write(out)


# --- quantizers: ports of ggml-quants.c quantize_row_*_ref, float32 throughout ---

def round_away(v):
    v = np.asarray(v, dtype=np.float64)  # exact: |v| < 2^24
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def f16(x):
    return np.float16(x).tobytes()


def signed_absmax(block):
    amax, mx = F32(0), F32(0)
    for v in block:
        if amax < abs(v):
            amax, mx = abs(v), v
    return mx


def q8_0(x):
    out = bytearray()
    for b in x.reshape(-1, 32):
        d = F32(np.max(np.abs(b)) / F32(127))
        i = F32(1) / d if d else F32(0)
        q = round_away((b * i).astype(F32))
        out += f16(d) + q.astype(np.int8).tobytes()
    return bytes(out)


def q4_0(x):
    out = bytearray()
    for b in x.reshape(-1, 32):
        d = F32(signed_absmax(b) / F32(-8))
        i = F32(1) / d if d else F32(0)
        q = np.minimum(15, np.trunc((b * i).astype(F32) + F32(8.5)).astype(np.int64))
        out += f16(d) + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    return bytes(out)


def q4_1(x):
    out = bytearray()
    for b in x.reshape(-1, 32):
        mn, mx = F32(b.min()), F32(b.max())
        d = F32((mx - mn) / F32(15))
        i = F32(1) / d if d else F32(0)
        q = np.minimum(15, np.trunc(((b - mn) * i).astype(F32) + F32(0.5)).astype(np.int64))
        out += f16(d) + f16(mn) + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    return bytes(out)


def q5(x, with_min):
    out = bytearray()
    for b in x.reshape(-1, 32):
        if with_min:
            mn, mx = F32(b.min()), F32(b.max())
            d = F32((mx - mn) / F32(31))
            i = F32(1) / d if d else F32(0)
            q = np.trunc(((b - mn) * i).astype(F32) + F32(0.5)).astype(np.int64)
        else:
            d = F32(signed_absmax(b) / F32(-16))
            i = F32(1) / d if d else F32(0)
            q = np.minimum(31, np.trunc((b * i).astype(F32) + F32(16.5)).astype(np.int64))
        qh = 0
        for j in range(16):
            qh |= ((int(q[j]) & 0x10) >> 4) << j
            qh |= ((int(q[j + 16]) & 0x10) >> 4) << (j + 16)
        qs = ((q[:16] & 0xF) | ((q[16:] & 0xF) << 4)).astype(np.uint8).tobytes()
        out += f16(d) + (f16(mn) if with_min else b"") + struct.pack("<I", qh) + qs
    return bytes(out)


# --- dequantizers: ports of ggml-quants.c dequantize_row_*, float32 throughout ---

def h(raw, at):
    return F32(np.frombuffer(raw[at:at + 2], dtype=np.float16)[0])


def deq(gt, raw, n):
    y = np.zeros(n, dtype=F32)
    bsz, tsz = GGML[gt][1], GGML[gt][2]
    for bi in range(n // bsz):
        x = raw[bi * tsz:(bi + 1) * tsz]
        o = bi * bsz
        u = np.frombuffer(x, dtype=np.uint8).astype(np.int64)
        if gt == "Q8_0":
            y[o:o + 32] = np.frombuffer(x[2:34], dtype=np.int8).astype(F32) * h(x, 0)
        elif gt == "Q4_0":
            qs = u[2:18]
            y[o:o + 16] = ((qs & 0xF) - 8).astype(F32) * h(x, 0)
            y[o + 16:o + 32] = ((qs >> 4) - 8).astype(F32) * h(x, 0)
        elif gt == "Q4_1":
            qs, d, m = u[4:20], h(x, 0), h(x, 2)
            y[o:o + 16] = ((qs & 0xF).astype(F32) * d + m).astype(F32)
            y[o + 16:o + 32] = ((qs >> 4).astype(F32) * d + m).astype(F32)
        elif gt in ("Q5_0", "Q5_1"):
            base = 4 if gt == "Q5_1" else 2
            qh = struct.unpack("<I", x[base:base + 4])[0]
            qs = u[base + 4:base + 20]
            d = h(x, 0)
            m = h(x, 2) if gt == "Q5_1" else F32(0)
            for j in range(16):
                x0 = (int(qs[j]) & 0xF) | (((qh >> j) << 4) & 0x10)
                x1 = (int(qs[j]) >> 4) | ((qh >> (j + 12)) & 0x10)
                if gt == "Q5_0":
                    y[o + j], y[o + j + 16] = F32(x0 - 16) * d, F32(x1 - 16) * d
                else:
                    y[o + j], y[o + j + 16] = F32(F32(x0) * d + m), F32(F32(x1) * d + m)
        elif gt == "Q2_K":
            sc, qs, d, mn = u[0:16], u[16:80], h(x, 80), h(x, 82)
            k, isc = o, 0
            for n0 in (0, 32):
                for shift in (0, 2, 4, 6):
                    for half in (0, 16):
                        s = int(sc[isc]); isc += 1
                        dl, ml = F32(d * F32(s & 0xF)), F32(mn * F32(s >> 4))
                        for l in range(16):
                            y[k] = F32(F32(dl * F32((int(qs[n0 + half + l]) >> shift) & 3)) - ml); k += 1
        elif gt == "Q3_K":
            hm, qs, s12, d = u[0:32], u[32:96], u[96:108], h(x, 108)
            scales = []
            for j in range(16):
                low = (int(s12[j]) & 0xF) if j < 8 else (int(s12[j - 8]) >> 4)
                high = (int(s12[8 + j % 4]) >> (2 * (j // 4))) & 3
                scales.append((low | (high << 4)) - 32)
            k, isc, m = o, 0, 1
            for n0 in (0, 32):
                for shift in (0, 2, 4, 6):
                    for half in (0, 16):
                        dl = F32(d * F32(scales[isc])); isc += 1
                        for l in range(16):
                            q = ((int(qs[n0 + half + l]) >> shift) & 3) - (0 if int(hm[half + l]) & m else 4)
                            y[k] = F32(dl * F32(q)); k += 1
                    m <<= 1
        elif gt in ("Q4_K", "Q5_K"):
            d, mn, s = h(x, 0), h(x, 2), u[4:16]

            def scale_min(j):
                if j < 4:
                    return int(s[j]) & 63, int(s[j + 4]) & 63
                return (int(s[j + 4]) & 0xF) | ((int(s[j - 4]) >> 6) << 4), (int(s[j + 4]) >> 4) | ((int(s[j]) >> 6) << 4)

            qh = u[16:48] if gt == "Q5_K" else None
            ql = u[48:176] if gt == "Q5_K" else u[16:144]
            k, u1, u2 = o, 1, 2
            for isc in (0, 2, 4, 6):
                a, b = scale_min(isc), scale_min(isc + 1)
                d1, m1, d2, m2 = F32(d * F32(a[0])), F32(mn * F32(a[1])), F32(d * F32(b[0])), F32(mn * F32(b[1]))
                q = ql[isc * 16:isc * 16 + 32]
                for l in range(32):
                    v = (int(q[l]) & 0xF) + (16 if qh is not None and int(qh[l]) & u1 else 0)
                    y[k] = F32(F32(d1 * F32(v)) - m1); k += 1
                for l in range(32):
                    v = (int(q[l]) >> 4) + (16 if qh is not None and int(qh[l]) & u2 else 0)
                    y[k] = F32(F32(d2 * F32(v)) - m2); k += 1
                u1 <<= 2; u2 <<= 2
        elif gt == "Q6_K":
            ql, qh, sc, d = u[0:128], u[128:192], np.frombuffer(x[192:208], dtype=np.int8), h(x, 208)
            for n0 in (0, 1):
                L, H, S, Y = ql[n0 * 64:], qh[n0 * 32:], sc[n0 * 8:], o + n0 * 128
                for l in range(32):
                    isc = l // 16
                    q1 = ((int(L[l]) & 0xF) | (((int(H[l]) >> 0) & 3) << 4)) - 32
                    q2 = ((int(L[l + 32]) & 0xF) | (((int(H[l]) >> 2) & 3) << 4)) - 32
                    q3 = ((int(L[l]) >> 4) | (((int(H[l]) >> 4) & 3) << 4)) - 32
                    q4 = ((int(L[l + 32]) >> 4) | (((int(H[l]) >> 6) & 3) << 4)) - 32
                    for off, sidx, q in ((0, 0, q1), (32, 2, q2), (64, 4, q3), (96, 6, q4)):
                        y[Y + l + off] = F32(F32(d * F32(S[isc + sidx])) * F32(q))
        elif gt == "Q8_K":
            d = F32(np.frombuffer(x[0:4], dtype=F32)[0])
            y[o:o + 256] = np.frombuffer(x[4:260], dtype=np.int8).astype(F32) * d
        else:
            raise ValueError(gt)
    return y


def k_block(gt, d_offsets):
    """Random block bytes with small, finite fp16 scales at the given offsets."""
    raw = bytearray(rng.integers(0, 256, GGML[gt][2], dtype=np.uint8).tobytes())
    for at in d_offsets:
        raw[at:at + 2] = f16(rng.uniform(0.001, 0.05) * (1 if at != d_offsets[-1] or gt != "Q6_K" else -1))
    return bytes(raw)


def bf16(x):
    u = x.astype(F32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


expected = {}


def plain(name, gt, a, raw=None):
    raw = raw if raw is not None else a.tobytes()
    return (name, gt, list(a.shape), raw)


def record(path, version, alignment, kvs, tensors):
    write_gguf(path, version, kvs, tensors, alignment)
    entries = []
    for name, gt, shape, raw in tensors:
        n = int(np.prod(shape)) if shape else 1
        values = deq(gt, raw, n).tobytes().hex() if GGML[gt][1] > 1 else raw.hex()
        entries.append({"name": name, "type": gt, "shape": shape, "hex": values, "raw_bytes": len(raw)})

    def jsonable(t, v):
        if t == "array":
            return {"item_type": v[0], "items": [jsonable(v[0], x) for x in v[1]]}
        if t in ("u64", "i64"):
            return str(v)
        if t == "f32":
            return float(F32(v))
        return v

    expected[path] = {"version": version, "alignment": alignment,
                      "kv": [[k, t, jsonable(t, v)] for k, t, v in kvs], "tensors": entries}


w = rng.standard_normal((2, 64)).astype(F32)
kv_all = [
    ("general.architecture", "string", "llama"),
    ("general.name", "string", "ckpt fixture ünïcode"),
    ("ckpt.format", "string", "pt"),
    ("test.u8", "u8", 255), ("test.i8", "i8", -128), ("test.u16", "u16", 65535), ("test.i16", "i16", -32768),
    ("test.u32", "u32", 4294967295), ("test.i32", "i32", -2147483648), ("test.f32", "f32", 0.1),
    ("test.bool", "bool", True), ("test.u64", "u64", 2**64 - 1), ("test.i64", "i64", -(2**63)),
    ("test.f64", "f64", 2.718281828459045),
    ("tokenizer.ggml.tokens", "array", ("string", ["<s>", "</s>", "héllo", ""])),
    ("tokenizer.ggml.scores", "array", ("f32", [0.0, -1.5, 2.25])),
    ("test.nested", "array", ("array", [("i32", [1, 2]), ("i32", []), ("i32", [-3])])),
    ("test.empty", "array", ("u8", [])),
    ("test.bools", "array", ("bool", [True, False])),
    ("test.u64s", "array", ("u64", [0, 2**63])),
]
tensors_all = [
    plain("token_embd.weight", "F32", rng.standard_normal((2, 3)).astype(F32)),
    plain("blk.0.attn_norm.weight", "F16", rng.standard_normal((4,)).astype(np.float16)),
    ("blk.0.bf16", "BF16", [2, 2], bf16(rng.standard_normal(4))),
    plain("blk.0.f64", "F64", rng.standard_normal((3,))),
    plain("blk.0.i8", "I8", np.array([-128, 0, 127], dtype=np.int8)),
    plain("blk.0.i16", "I16", np.array([-32768, 1, 32767], dtype=np.int16)),
    plain("blk.0.i32", "I32", np.array([[-5, 6], [7, 2**31 - 1]], dtype=np.int32)),
    plain("blk.0.i64", "I64", np.array([-(2**63), 2**62], dtype=np.int64)),
    ("blk.0.ffn_up.weight", "Q8_0", [2, 64], q8_0(w)),
    ("blk.0.ffn_down.weight", "Q4_0", [2, 64], q4_0(w)),
    ("blk.0.q4_1", "Q4_1", [1, 64], q4_1(w[0])),
    ("blk.0.q5_0", "Q5_0", [1, 64], q5(w[1], False)),
    ("blk.0.q5_1", "Q5_1", [1, 64], q5(w[0], True)),
    ("blk.0.q2_k", "Q2_K", [1, 256], k_block("Q2_K", [80, 82])),
    ("blk.0.q3_k", "Q3_K", [1, 256], k_block("Q3_K", [108])),
    ("blk.0.q4_k", "Q4_K", [1, 256], k_block("Q4_K", [0, 2])),
    ("blk.0.q5_k", "Q5_K", [1, 256], k_block("Q5_K", [0, 2])),
    ("blk.0.q6_k", "Q6_K", [1, 256], k_block("Q6_K", [208])),
    ("blk.0.q8_k", "Q8_K", [1, 256],
     np.float32(0.0123).tobytes() + rng.integers(-128, 128, 256, dtype=np.int8).tobytes() + bytes(32)),
]
record("all_types_v3.gguf", 3, 32, kv_all, tensors_all)

record("aligned_v2.gguf", 2, 64,
       [("general.architecture", "string", "test"), ("general.alignment", "u32", 64)],
       [plain("a.weight", "F32", rng.standard_normal((3, 5)).astype(F32)),
        plain("b.bias", "F32", rng.standard_normal((7,)).astype(F32)),
        ("c.weight", "Q8_0", [2, 1, 32], q8_0(rng.standard_normal(64).astype(F32))),
        plain("d.scalar", "F32", np.array(1.5, dtype=F32))])

record("metadata_only.gguf", 3, 32, [("general.name", "string", "empty")], [])

# The float32 inputs of the quantized tensors, for checking quantizers against this port.
expected["quantized_from"] = {
    "blk.0.ffn_up.weight": w.tobytes().hex(),
    "blk.0.ffn_down.weight": w.tobytes().hex(),
    "blk.0.q4_1": w[0].tobytes().hex(),
    "blk.0.q5_0": w[1].tobytes().hex(),
    "blk.0.q5_1": w[0].tobytes().hex(),
}

with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
