"""Make tiny_model.safetensors: a small transformer-shaped model with PyTorch's
own initialisations (Embedding normal, Linear kaiming-uniform, LayerNorm ones
and zeros), seeded, stored as F32. The safetensors bytes are written by hand
(8-byte header length, JSON header padded with spaces to a multiple of 8,
then the data) because Debian's python3 has torch but not safetensors.

Run with Debian's interpreter: /usr/bin/python3 make_tiny_model.py
"""
import json
import os
import struct

import torch

torch.manual_seed(7)
model = torch.nn.ModuleDict({
    "embed": torch.nn.Embedding(64, 48),
    "attn_q": torch.nn.Linear(48, 48),
    "attn_k": torch.nn.Linear(48, 48, bias=False),
    "mlp_up": torch.nn.Linear(48, 128),
    "mlp_down": torch.nn.Linear(128, 48),
    "norm": torch.nn.LayerNorm(48),
})
state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}

header = {"__metadata__": {"format": "pt"}}
offset = 0
blobs = []
# The reference writer's order for tensors of one dtype: by name.
for name in sorted(state):
    data = state[name].numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(state[name].shape), "data_offsets": [offset, offset + len(data)]}
    offset += len(data)
    blobs.append(data)
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_model.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for blob in blobs:
        f.write(blob)
print(out, os.path.getsize(out), "bytes,", sum(t.numel() for t in state.values()), "parameters")
