"""Golden FP8 encodings computed independently of ckpt, with exact rational
arithmetic: each float32 input is compared against every finite FP8 value as a
Fraction; the nearest wins, ties go to the even code (mantissa LSB 0).
Out of range follows PyTorch (E4M3FN -> NaN, E5M2 -> Inf) without saturation
and clamps to the largest finite value with saturation (ONNX Cast saturate=1).

Run: /usr/bin/python3 tests/data/quant/make_fp8.py  (writes fp8_golden.json)
"""
import json, math, os, random, struct
from fractions import Fraction

def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]

def bits_f32(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]

def fmt_values(exp_bits, man_bits, bias, fn):
    """Finite non-negative magnitudes: code (without sign) -> Fraction."""
    out = {}
    for code in range(1 << (exp_bits + man_bits)):
        e, m = code >> man_bits, code & ((1 << man_bits) - 1)
        if fn and code == (1 << (exp_bits + man_bits)) - 1:
            continue  # E4M3FN: S.1111.111 is NaN
        if not fn and e == (1 << exp_bits) - 1:
            continue  # E5M2: Inf and NaN
        if e == 0:
            v = Fraction(m, 1 << man_bits) * Fraction(2) ** (1 - bias)
        else:
            v = (1 + Fraction(m, 1 << man_bits)) * Fraction(2) ** (e - bias)
        out[code] = v
    return out

FORMATS = {
    "F8_E4M3": (fmt_values(4, 3, 7, True), 0x7F, 0x7F),   # values, NaN code, overflow code
    "F8_E5M2": (fmt_values(5, 2, 15, False), 0x7F, 0x7C),
}

def encode(bits, name, saturate):
    values, nan_code, overflow_code = FORMATS[name]
    sign = 0x80 if bits & 0x80000000 else 0
    x = bits_f32(bits)
    if math.isnan(x):
        return nan_code | sign
    max_code = max(values, key=lambda c: values[c])
    if math.isinf(x):
        return (max_code if saturate else overflow_code) | sign
    a = abs(Fraction(x))
    codes = sorted(values, key=lambda c: values[c])
    # The rounding boundary above the largest finite value is where the next
    # (non-existent) step would be: max + half a step.
    top = values[codes[-1]]
    step = top - values[codes[-2]]
    best = None
    for c in codes:
        d = abs(values[c] - a)
        if best is None or d < best[1] or (d == best[1] and (c & 1) == 0):
            best = (c, d)
    code = best[0]
    if code == codes[-1] and a > top:
        # Round-to-nearest-even against the virtual next value decides overflow.
        nxt = top + step
        if a > (top + nxt) / 2 or (a == (top + nxt) / 2 and (codes[-1] & 1) == 1):
            return (max_code if saturate else overflow_code) | sign
    return code | sign

def main():
    rng = random.Random(5)
    inputs = set()
    for name in FORMATS:
        vals = sorted(set(FORMATS[name][0].values()))
        for i, v in enumerate(vals):
            f = float(v)
            for s in (1, -1):
                inputs.add(f32_bits(s * f))
            if i + 1 < len(vals):
                mid = float((vals[i] + vals[i + 1]) / 2)
                b = f32_bits(mid)
                for d in (-1, 0, 1):
                    inputs.add(b + d)
                    inputs.add((b + d) | 0x80000000)
        top, prev = vals[-1], vals[-2]
        for extra in (top + (top - prev) / 2, top + (top - prev)):
            b = f32_bits(float(extra))
            for d in (-1, 0, 1):
                inputs.add(b + d)
    for b in (0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0x00000001,
              0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF, f32_bits(1e-30), f32_bits(65536.0), f32_bits(1e9)):
        inputs.add(b)
    for _ in range(2000):
        inputs.add(f32_bits(rng.uniform(-1, 1) * 2.0 ** rng.randint(-22, 18)))
    rows = []
    for b in sorted(inputs):
        rows.append([b] + [encode(b, n, s) for n in FORMATS for s in (False, True)])
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fp8_golden.json")
    with open(out, "w") as fh:
        json.dump({"columns": ["f32_bits", "F8_E4M3", "F8_E4M3_saturate", "F8_E5M2", "F8_E5M2_saturate"],
                   "rows": rows}, fh, separators=(",", ":"))
    print(len(rows), "rows")

main()
