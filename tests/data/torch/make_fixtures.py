# Makes the PyTorch and numpy fixtures in tests/data/torch/ for
# tests/torch_*_test.ts, with Debian's torch 1.13 and numpy:
#   /usr/bin/python3 tests/data/torch/make_fixtures.py
# Each fixture X.pt / X.pkl comes with X.expected.json:
#   {"tensors": {name: {"dtype", "shape", "hex"}}, "metadata": {...}}
# where "hex" is the tensor's values, contiguous, little-endian, in hex (or
# "sha256", their SHA-256, for the larger model, to keep the fixtures small).
import hashlib
import json
import os
import pickle

import numpy as np
import torch
import torchvision

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
np.random.seed(0)

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64",
}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


def expected_tensor(t, digest=False):
    out = {"dtype": DTYPES[t.dtype], "shape": list(t.shape)}
    if digest:
        out["sha256"] = hashlib.sha256(bytes.fromhex(tensor_bytes(t))).hexdigest()
    else:
        out["hex"] = tensor_bytes(t)
    return out


def write(name, obj, tensors, metadata=None, digest=False, **save_args):
    torch.save(obj, os.path.join(here, name), **save_args)
    stem = name.rsplit(".", 1)[0]
    with open(os.path.join(here, stem + ".expected.json"), "w") as f:
        json.dump({"tensors": {k: expected_tensor(v, digest) for k, v in tensors.items()},
                   "metadata": metadata or {}}, f)


# 1. A real torchvision model's state dict (MobileNetV3-small at width 0.1).
model = torchvision.models.mobilenet_v3_small(width_mult=0.1, num_classes=10)
model.eval()
sd = model.state_dict()
write("mobilenet.pt", sd, sd, digest=True)

# 2. Every storage dtype.
base = torch.linspace(-3, 3, 12)
dtypes = {
    "f64": base.double(), "f32": base, "f16": base.half(), "bf16": base.bfloat16(),
    "i64": torch.arange(-6, 6, dtype=torch.int64) * 1000000007, "i32": torch.arange(-6, 6, dtype=torch.int32) * 99991,
    "i16": torch.arange(-6, 6, dtype=torch.int16) * 1001, "i8": torch.arange(-6, 6, dtype=torch.int8) * 20,
    "u8": torch.arange(0, 240, 20, dtype=torch.uint8), "bool": torch.arange(12) % 3 == 0,
    "c64": torch.complex(base, -base),
}
write("dtypes.pt", dtypes, dtypes)

# 3. Views, strides and shared storages.
m = torch.arange(24, dtype=torch.float32).reshape(4, 6)
shared = torch.arange(10, dtype=torch.int32)
views = {
    "base": m,
    "transposed": m.t(),
    "sliced": m[1:, ::2],
    "narrowed": m.narrow(1, 2, 3),
    "expanded": torch.tensor([1.5, -2.5]).reshape(2, 1).expand(2, 5),
    "scalar": torch.tensor(7.25),
    "empty": torch.zeros(0, 3),
    "offset_view": shared[3:7],
    "tied_a": shared,
    "tied_b": shared,
    "permuted": torch.arange(24, dtype=torch.int16).reshape(2, 3, 4).permute(2, 0, 1),
}
write("views.pt", views, views)

# 4. The same in the legacy (pre-1.6) format.
write("views_legacy.pt", views, views, _use_new_zipfile_serialization=False)

# 5. A training checkpoint: model, optimizer state and plain values.
net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
opt = torch.optim.Adam(net.parameters(), lr=0.01)
net(torch.randn(5, 4)).sum().backward()
opt.step()
ckpt = {"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "loss": 0.25, "name": "tiny"}
flat = {f"model.{k}": v for k, v in net.state_dict().items()}
for pid, state in opt.state_dict()["state"].items():
    for k, v in state.items():
        if torch.is_tensor(v):
            flat[f"optimizer.state.{pid}.{k}"] = v
meta = {"epoch": "3", "loss": "0.25", "name": json.dumps("tiny"),
        "optimizer.param_groups": json.dumps(opt.state_dict()["param_groups"])}
write("checkpoint.pt", ckpt, flat, meta)

# 6. A whole pickled module (needs --permissive to read: its classes are not on the allowlist).
full = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
write("full_model.pt", full, full.state_dict())

# 7. Plain pickles of numpy arrays (protocol 2 and 5), as notebooks write them.
arrays = {
    "weights_f16": np.linspace(-1, 1, 10, dtype=np.float16).reshape(2, 5),
    "bias_f32": np.arange(4, dtype=np.float32) / 3,
    "ids_i64": np.arange(6, dtype=np.int64) - 3,
    "mask": np.array([True, False, True]),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    "big_endian": np.arange(3, dtype=">i4"),
}
expected = {"tensors": {}, "metadata": {}}
for k, a in arrays.items():
    c = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"))
    expected["tensors"][k] = {"dtype": {"float16": "F16", "float32": "F32", "int64": "I64", "bool": "BOOL",
                                        "float64": "F64", "int32": "I32"}[c.dtype.name],
                              "shape": list(c.shape), "hex": c.tobytes().hex()}
for protocol in (2, 5):
    with open(os.path.join(here, f"numpy_p{protocol}.pkl"), "wb") as f:
        pickle.dump(arrays, f, protocol=protocol)
with open(os.path.join(here, "numpy.expected.json"), "w") as f:
    json.dump(expected, f)
