"""Golden outputs for ckpt's CPU references, from independent numpy ports
with float32 semantics (np.float32 scalars everywhere, no fused multiply-add):

- ggml quantize_row_{q8_0,q4_0,q4_1,q5_0,q5_1}_ref (ggml/src/ggml-quants.c)
- bitsandbytes NF4/FP4 blockwise quantization (dQuantizeNF4/dQuantizeFP4 trees,
  blocks of 64, absmax, x * (1/absmax), first element in the high nibble)
- k-bit min/max codes, LSB-first packing

Inputs are finite (C leaves NaN -> int conversions undefined); edge cases
include zero and constant blocks, exact .5 ties, subnormals and huge ranges.

Run: /usr/bin/python3 tests/data/quant/make_quant_golden.py
Writes quant_golden.bin (float32 input then each output) and quant_golden.json (offsets).
"""
import json, math, os
import numpy as np

F = np.float32
FLT_MAX = F(np.finfo(np.float32).max)

def f16_bytes(x):
    return np.array([x], dtype=np.float32).astype(np.float16).tobytes()

def to_i8(v):
    v = float(v)
    if not math.isfinite(v):
        return 0
    t = int(math.trunc(v)) & 0xFF
    return t - 256 if t >= 128 else t

def roundf(v):
    v = float(v)
    if not math.isfinite(v):
        return 0
    r = math.floor(abs(v) + 0.5)
    return to_i8(-r if v < 0 else r)

def gt(a, b):
    return bool(a > b)

def q8_0(x):
    out = bytearray()
    for b in range(len(x) // 32):
        blk = x[b * 32:(b + 1) * 32]
        amax = F(0)
        for v in blk:
            av = F(abs(v))
            amax = amax if gt(amax, av) else av
        d = F(amax / F(127))
        idv = F(F(1) / d) if d != 0 else F(0)
        out += f16_bytes(d)
        for v in blk:
            out.append(roundf(F(v * idv)) & 0xFF)
    return bytes(out)

def sym(x, nbits):
    out = bytearray()
    half = 16 if nbits == 5 else 8
    top = 31 if nbits == 5 else 15
    for b in range(len(x) // 32):
        blk = x[b * 32:(b + 1) * 32]
        amax, mx = F(0), F(0)
        for v in blk:
            if amax < abs(v):
                amax, mx = F(abs(v)), v
        d = F(mx / F(-half))
        idv = F(F(1) / d) if d != 0 else F(0)
        out += f16_bytes(d)
        codes = []
        for j in range(32):
            codes.append(min(top, to_i8(F(F(blk[j] * idv) + F(half + 0.5)))) & 0xFF)
        if nbits == 4:
            out += bytes(((codes[j] | (codes[j + 16] << 4)) & 0xFF) for j in range(16))
        else:
            qh = 0
            for j in range(16):
                qh |= ((codes[j] & 0x10) >> 4) << j
                qh |= ((codes[j + 16] & 0x10) >> 4) << (j + 16)
            out += qh.to_bytes(4, "little")
            out += bytes((codes[j] & 15) | ((codes[j + 16] & 15) << 4) for j in range(16))
    return bytes(out)

def asym(x, nbits):
    out = bytearray()
    levels = 31 if nbits == 5 else 15
    for b in range(len(x) // 32):
        blk = x[b * 32:(b + 1) * 32]
        mn, mx = FLT_MAX, -FLT_MAX
        for v in blk:
            if v < mn: mn = v
            if v > mx: mx = v
        d = F(F(mx - mn) / F(levels))
        idv = F(F(1) / d) if d != 0 else F(0)
        out += f16_bytes(d) + f16_bytes(mn)
        codes = []
        for j in range(32):
            v = F(F(F(blk[j] - mn) * idv) + F(0.5))
            if nbits == 4:
                codes.append(min(15, to_i8(v)) & 0xFF)
            else:
                codes.append((int(math.trunc(float(v))) & 0xFF) if math.isfinite(float(v)) else 0)
        if nbits == 4:
            out += bytes(((codes[j] | (codes[j + 16] << 4)) & 0xFF) for j in range(16))
        else:
            qh = 0
            for j in range(16):
                qh |= ((codes[j] & 0x10) >> 4) << j
                qh |= ((codes[j + 16] & 0x10) >> 4) << (j + 16)
            out += qh.to_bytes(4, "little")
            out += bytes((codes[j] & 15) | ((codes[j + 16] & 15) << 4) for j in range(16))
    return bytes(out)

NF4_T = [F(t) for t in [0.03979014977812767, 0.3893125355243683, 0.6427869200706482, 0.8614784181118011,
                        0.5016634166240692, 0.2035212516784668, 0.2920137718319893, 0.1202552504837513,
                        -0.33967943489551544, -0.13791173323988914, -0.045525018125772476,
                        -0.23460740596055984, -0.6106329262256622, -0.4599952697753906,
                        -0.8480964004993439]]

def nf4(x):
    t = NF4_T
    if x > t[0]:
        if x > t[1]:
            if x > t[2]:
                return 15 if x > t[3] else 14
            return 13 if x > t[4] else 12
        if x > t[5]:
            return 11 if x > t[6] else 10
        return 9 if x > t[7] else 8
    if x > t[8]:
        if x > t[9]:
            return 7 if x > t[10] else 6
        return 5 if x > t[11] else 4
    if x > t[12]:
        return 3 if x > t[13] else 2
    return 1 if x > t[14] else 0

FP4_T = [F(t) for t in [0.29166667, 0.583333, 0.8333333, 0.4166667, 0.0859375, 0.20833333, 0.00260417]]

def fp4(x):
    t = FP4_T
    sign = 8 if x < 0 else 0
    a = abs(x)
    if a > t[0]:
        if a > t[1]:
            return (3 if a > t[2] else 2) + sign
        return (5 if a > t[3] else 4) + sign
    if a > t[4]:
        return (7 if a > t[5] else 6) + sign
    return (1 if a > t[6] else 0) + sign

def bnb(x, code):
    n = len(x)
    pad = np.zeros((n + 63) // 64 * 64, dtype=np.float32)
    pad[:n] = x
    out, absmax = bytearray(), []
    with np.errstate(all="ignore"):
        for b in range(len(pad) // 64):
            blk = pad[b * 64:(b + 1) * 64]
            am = -FLT_MAX
            for v in blk:
                am = max(am, F(abs(v)))
            absmax.append(am)
            inv = F(F(1) / am)
            for j in range(0, 64, 2):
                if b * 64 + j >= n:
                    break
                out.append((code(F(blk[j] * inv)) << 4) | code(F(blk[j + 1] * inv)))
    return bytes(out) + np.array(absmax, dtype=np.float32).tobytes()

def minmax(x, k):
    levels = 2 ** k - 1
    mn, mx = F(np.min(x)), F(np.max(x))
    mn, mx = F(mn + F(0)), F(mx + F(0))
    rng = F(mx - mn)
    factor = F(F(levels) / rng) if (math.isfinite(float(rng)) and rng > 0) else F(0)
    step = F(rng / F(levels)) if factor != 0 else F(0)
    out = bytearray((len(x) * k + 7) // 8)
    if factor != 0:
        for i, v in enumerate(x):
            r = int(np.rint(F(F(v - mn) * factor)))
            r = max(0, min(levels, r))
            bit = i * k
            out[bit >> 3] |= (r << (bit & 7)) & 0xFF
            if (bit & 7) + k > 8:
                out[(bit >> 3) + 1] |= r >> (8 - (bit & 7))
    return bytes(out) + np.array([mn, step], dtype=np.float32).tobytes()

def inputs():
    rng = np.random.default_rng(5)
    blocks = []
    for scale in (1.0, 0.02, 300.0, 1e-3):
        for _ in range(6):
            blocks.append(rng.standard_normal(32).astype(np.float32) * F(scale))
    blocks.append(np.zeros(32, np.float32))
    blocks.append(np.full(32, 0.75, np.float32))
    blocks.append(np.full(32, -2.5, np.float32))
    # Q8_0 ties: amax 127 gives d = 1 and id = 1, so x = k + 0.5 is an exact tie.
    blocks.append(np.array([127.0] + [k + 0.5 for k in range(-15, 16)], np.float32))
    # Q4_0/Q5_0 truncation boundaries: max -8 (d = 1) with integers and halves.
    blocks.append(np.array([-8.0] + [(k % 16) * 0.5 - 4 for k in range(31)], np.float32))
    blocks.append(np.array([-16.0] + [(k % 32) - 16.5 + (k % 2) for k in range(31)], np.float32))
    # Q4_1/Q5_1 ties: min 0, max 15 (d = 1) with .5 steps.
    blocks.append(np.array([0.0, 15.0] + [(k % 30) * 0.5 for k in range(30)], np.float32))
    blocks.append(np.array([0.0, 31.0] + [(k % 62) * 0.5 for k in range(30)], np.float32))
    # Subnormals and tiny values.
    blocks.append((rng.standard_normal(32) * 1e-39).astype(np.float32))
    blocks.append(np.array([1e-45 * (k - 16) for k in range(32)], np.float32))
    # Huge ranges (max - min overflows float32 in Q4_1/Q5_1).
    blocks.append(np.array([3e38, -3e38] + list(rng.standard_normal(30) * 1e38), np.float32))
    blocks.append(np.array([-3.4e38] + list(rng.standard_normal(31)), np.float32))
    blocks.append(np.array([-0.0, 0.0] * 16, np.float32))
    return np.concatenate(blocks)

def main():
    x = inputs()
    here = os.path.dirname(os.path.abspath(__file__))
    parts = [("input", x.tobytes())]
    with np.errstate(all="ignore"):
        parts += [("Q8_0", q8_0(x)), ("Q4_0", sym(x, 4)), ("Q5_0", sym(x, 5)),
                  ("Q4_1", asym(x, 4)), ("Q5_1", asym(x, 5)),
                  ("NF4", bnb(x[:-3], nf4)), ("FP4", bnb(x[:-3], fp4))]
        small = x[: 32 * 24]  # moderate values only: one min/max for the whole tensor
        parts += [("input_minmax", small.tobytes())]
        parts += [(f"minmax{k}", minmax(small[:-5], k)) for k in range(1, 9)]
    index, blob, offset = {}, bytearray(), 0
    for name, data in parts:
        index[name] = [offset, len(data)]
        blob += data
        offset += len(data)
    with open(os.path.join(here, "quant_golden.bin"), "wb") as fh:
        fh.write(blob)
    with open(os.path.join(here, "quant_golden.json"), "w") as fh:
        json.dump({"elements": len(x), "parts": index}, fh, indent=1)
    print(len(x), "elements,", len(blob), "bytes")

main()
