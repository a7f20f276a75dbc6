"""Golden int8 quantization from Debian's torch 1.13: scale and zero point
from torch.ao.quantization MinMaxObserver / PerChannelMinMaxObserver, codes
from torch.quantize_per_tensor / quantize_per_channel (int_repr).

Run: /usr/bin/python3 tests/data/quant/make_int8.py            (writes int8_golden.bin/.json)
     /usr/bin/python3 tests/data/quant/make_int8.py IN OUT D0,D1   (one float32 tensor, for tests)
Output per configuration: codes (1 byte each), scales (float32), zero points (int32).
"""
import json, os, sys
import numpy as np
import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

CONFIGS = [
    # name, per_channel, affine, reduce_range, axis
    ("tensor_sym", False, False, False, 0),
    ("tensor_affine", False, True, False, 0),
    ("tensor_sym_reduce", False, False, True, 0),
    ("tensor_affine_reduce", False, True, True, 0),
    ("channel_sym", True, False, False, 0),
    ("channel_affine", True, True, False, 0),
    ("channel_sym_axis1", True, False, False, 1),
    ("channel_affine_axis1_reduce", True, True, True, 1),
]

def run(x):
    out = {}
    for name, per_channel, affine, reduce_range, axis in CONFIGS:
        dtype = torch.quint8 if affine else torch.qint8
        if per_channel:
            scheme = torch.per_channel_affine if affine else torch.per_channel_symmetric
            obs = PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype, qscheme=scheme, reduce_range=reduce_range)
        else:
            scheme = torch.per_tensor_affine if affine else torch.per_tensor_symmetric
            obs = MinMaxObserver(dtype=dtype, qscheme=scheme, reduce_range=reduce_range)
        obs(x)
        scale, zp = obs.calculate_qparams()
        if per_channel:
            q = torch.quantize_per_channel(x, scale.to(torch.float64), zp.to(torch.int64), axis, dtype)
        else:
            q = torch.quantize_per_tensor(x, float(scale), int(zp), dtype)
        codes = q.int_repr().numpy().astype(np.uint8 if affine else np.int8).tobytes()
        out[name] = (codes, scale.reshape(-1).to(torch.float32).numpy().tobytes(),
                     zp.reshape(-1).to(torch.int32).numpy().tobytes())
    return out

def write(out, path_bin, path_json=None):
    blob, index, offset = bytearray(), {}, 0
    for name, _, _, _, _ in CONFIGS:
        parts = out[name]
        index[name] = []
        for p in parts:
            index[name].append([offset, len(p)])
            blob += p
            offset += len(p)
    with open(path_bin, "wb") as fh:
        fh.write(blob)
    if path_json:
        with open(path_json, "w") as fh:
            json.dump(index, fh, indent=1)
    return index

def main():
    if len(sys.argv) == 4:
        shape = [int(d) for d in sys.argv[3].split(",")]
        x = torch.from_numpy(np.fromfile(sys.argv[1], dtype=np.float32).reshape(shape))
        index = write(run(x), sys.argv[2])
        print(json.dumps(index))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    g = torch.Generator().manual_seed(8)
    x = torch.randn(24, 40, generator=g) * torch.linspace(0.01, 5, 40)
    x[3] = 0.0
    x[5] = torch.abs(x[5])
    x[7] = -torch.abs(x[7]) - 1
    x[9, :8] = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127.5])
    x.numpy().tofile(os.path.join(here, "int8_input.bin"))
    write(run(x), os.path.join(here, "int8_golden.bin"), os.path.join(here, "int8_golden.json"))
    print("shape", list(x.shape))

main()
