# Makes tests/data/torch/expanded_huge.pt for tests/torch_read_test.ts with
# Debian's torch 1.13:  /usr/bin/python3 tests/data/torch/make_expanded.py
# torch.save keeps an expanded view as its 4-byte storage with stride 0, so
# this file of under 1 KiB holds a tensor that reads as 16 GiB; ckpt must
# bound it rather than allocate it. "small" beside it must still read.
import os

import torch

here = os.path.dirname(os.path.abspath(__file__))
torch.save(
    {"big": torch.zeros(1).expand(1 << 16, 1 << 16), "small": torch.arange(4.0)},
    os.path.join(here, "expanded_huge.pt"),
)
