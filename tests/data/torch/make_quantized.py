# Writes small torch.ao quantized state dicts into the folder given as the
# first argument, for tests/torch_quantized_test.ts (run by the test setup
# with the venv's torch 2.x):
#   static.pt   QuantStub -> Conv2d -> ReLU -> Conv2d -> DeQuantStub, fbgemm
#               (per-channel qint8 conv weights, quint8 activation scale/zero point)
#   dynamic.pt  Linear -> ReLU -> Linear under quantize_dynamic (qint8 packed
#               weight and float bias in `_packed_params._packed_params`)
#   tensors.pt  quantize_per_tensor/per_channel corner cases: qint8 with a
#               nonzero zero point, quint8 along axis 1, float64 scales that
#               float32 cannot hold, qint32, float zero points
# and for each NAME.pt a NAME.expected.safetensors holding, under the names
# ckpt gives them, every quantized tensor's torch dequantize() (float32) and
# every other tensor as it is.
import os
import sys
import warnings

import torch
import torch.ao.quantization as tq
from safetensors.torch import save_file

warnings.simplefilter("ignore")
out = sys.argv[1]
torch.manual_seed(3)
torch.backends.quantized.engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines else "qnnpack"


class Static(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = torch.nn.Conv2d(3, 4, 3)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(4, 2, 1)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.conv2(self.relu(self.conv1(self.quant(x)))))


static = Static().eval()
static.qconfig = tq.get_default_qconfig(torch.backends.quantized.engine)
tq.prepare(static, inplace=True)
for _ in range(4):
    static(torch.randn(2, 3, 8, 8))
tq.convert(static, inplace=True)

dynamic = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).eval()
dynamic = tq.quantize_dynamic(dynamic, {torch.nn.Linear}, dtype=torch.qint8)

x = torch.randn(5, 6)
tensors = {
    "qint8_zp": torch.quantize_per_tensor(x, 0.02, -7, torch.qint8),
    "quint8_axis1": torch.quantize_per_channel(
        x, (torch.rand(6) * 0.05 + 0.01).float().double(), torch.randint(0, 30, (6,)), 1, torch.quint8
    ),
    "qint8_f64_scales": torch.quantize_per_channel(
        x, torch.tensor([0.1, 0.2, 0.3, 0.01, 0.07], dtype=torch.float64), torch.zeros(5, dtype=torch.long), 0,
        torch.qint8,
    ),
    "qint32": torch.quantize_per_tensor(x * 100, 0.0123, 17, torch.qint32),
    "float_qparams": torch.quantize_per_channel(x, torch.rand(5) * 0.05 + 0.01, torch.randn(5), 0, torch.quint8),
    "plain": torch.randn(3),
}


def expected(state):
    flat = {}
    for name, value in state.items():
        if isinstance(value, tuple) and name.endswith("._packed_params._packed_params"):
            base = name[: -len("._packed_params._packed_params")]
            pairs = [(f"{base}.weight", value[0]), (f"{base}.bias", value[1])]
        else:
            pairs = [(name, value)]
        for key, tensor in pairs:
            if not isinstance(tensor, torch.Tensor):
                continue
            flat[key] = (tensor.dequantize() if tensor.is_quantized else tensor).contiguous()
    return flat


for name, state in [("static", static.state_dict()), ("dynamic", dynamic.state_dict()), ("tensors", tensors)]:
    torch.save(state, os.path.join(out, f"{name}.pt"))
    save_file(expected(state), os.path.join(out, f"{name}.expected.safetensors"))
print("ok")
