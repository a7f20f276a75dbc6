"""Real layer weights for the GPU/CPU equality tests: torchvision's resnet18
conv1 (kaiming-normal init, seed 0) and a torch.nn.Linear(128, 64) weight,
as raw float32 (C order) in real_weights.bin.

Run: /usr/bin/python3 tests/data/quant/make_real.py
"""
import json, os
import torch, torchvision

torch.manual_seed(0)
conv = torchvision.models.resnet18().conv1.weight.detach()
linear = torch.nn.Linear(128, 64).weight.detach()
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "real_weights.bin"), "wb") as fh:
    fh.write(conv.numpy().tobytes())
    fh.write(linear.numpy().tobytes())
print(json.dumps({"conv1": list(conv.shape), "linear": list(linear.shape)}))
