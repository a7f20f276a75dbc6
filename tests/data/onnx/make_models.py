"""Make the ONNX test models with Debian's torch.onnx.export and onnx.helper.

    /usr/bin/python3 tests/data/onnx/make_models.py committed OUT_DIR   # small models kept in git
    /usr/bin/python3 tests/data/onnx/make_models.py resnet18 OUT_DIR    # ~45 MB, made at test time

Random weights (pretrained ones cannot be downloaded here); seeds are fixed.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def export(model, example, path, names):
    import torch

    model.eval()
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            path,
            input_names=names[0],
            output_names=names[1],
            opset_version=13,
            do_constant_folding=False,
            # PRESERVE (with the model in eval mode) keeps BatchNormalization
            # nodes instead of folding them into the convolutions, so the
            # initializers are torchvision's parameters plus running statistics.
            training=torch.onnx.TrainingMode.PRESERVE,
        )


def mlp(out_dir):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    export(model, torch.zeros(1, 64), f"{out_dir}/mlp.onnx", (["x"], ["logits"]))
    count = sum(p.numel() for p in model.parameters())
    # The same model with every initializer in an external data file.
    m = onnx.load(f"{out_dir}/mlp.onnx")
    onnx.save_model(
        m,
        f"{out_dir}/mlp_external.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="mlp_external.data",
        size_threshold=0,
    )
    return count


def typed(out_dir):
    """Initializers stored in the typed repeated fields instead of raw_data."""
    rng = np.random.default_rng(1)
    arrays = {
        "f32": rng.standard_normal((2, 3)).astype(np.float32),
        "f64": rng.standard_normal((3,)).astype(np.float64),
        "f16": rng.standard_normal((4,)).astype(np.float16),
        "i64": np.array([-5, 0, 7, 2**40], dtype=np.int64),
        "i32": np.array([[1, -2], [3, -4]], dtype=np.int32),
        "i8": np.array([-128, 0, 127], dtype=np.int8),
        "u8": np.array([0, 200, 255], dtype=np.uint8),
        "b": np.array([True, False, True], dtype=np.bool_),
        "u64": np.array([1, 2**63 + 5], dtype=np.uint64),
        "scalar": np.array(3.5, dtype=np.float32),
    }
    inits = []
    for name, a in arrays.items():
        t = helper.make_tensor(
            name,
            helper.np_dtype_to_tensor_dtype(a.dtype) if hasattr(helper, "np_dtype_to_tensor_dtype")
            else onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype],
            a.shape,
            a.flatten().tolist() if a.dtype != np.float16 else a.flatten(),
            raw=False,
        )
        inits.append(t)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph([helper.make_node("Add", ["x", "f32"], ["y"])], "typed", [x], [y], inits)
    model = helper.make_model(graph, producer_name="make_models.py", opset_imports=[helper.make_opsetid("", 13)])
    model.metadata_props.add(key="purpose", value="typed fields")
    onnx.save(model, f"{out_dir}/typed.onnx")
    expected = {}
    for name, a in arrays.items():
        back = numpy_helper.to_array(onnx.load(f"{out_dir}/typed.onnx").graph.initializer[list(arrays).index(name)])
        assert back.dtype == a.dtype and np.array_equal(back, a), name
        expected[name] = {
            "shape": list(a.shape),
            "hex": a.astype(a.dtype.newbyteorder("<")).tobytes().hex(),
        }
    return expected


def resnet18(out_dir):
    size = 224
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    # Random weights predict one class for every input. So that top-1
    # agreement means something, BatchNorm statistics are measured on random
    # images and the classifier is centred on their mean feature: the logits
    # follow what differs between inputs (with small margins, unlike a
    # trained model). No two initializers are equal (the exporter would
    # merge them).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
                m.reset_running_stats()
                m.momentum = None
        model.train()
        for _ in range(2):
            model(torch.randn(8, 3, size, size))
        model.eval()
        features = []
        hook = model.avgpool.register_forward_hook(lambda mod, i, o: features.append(o.flatten(1)))
        model(torch.randn(16, 3, size, size))
        hook.remove()
        model.fc.bias.copy_(-model.fc.weight @ torch.cat(features).mean(0))
    export(model, torch.zeros(1, 3, size, size), f"{out_dir}/resnet18.onnx", (["input"], ["logits"]))
    count = sum(p.numel() for p in model.parameters())
    return count


def main():
    what, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    if what == "committed":
        info = {"mlp": {"parameters": mlp(out_dir)}, "typed": typed(out_dir)}
        with open(f"{out_dir}/expected.json", "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
    elif what == "resnet18":
        info = {"parameters": resnet18(out_dir)}
        with open(f"{out_dir}/resnet18.json", "w") as f:
            json.dump(info, f)
        print(json.dumps(info))
    else:
        raise SystemExit(f"unknown model set {what}")


if __name__ == "__main__":
    main()
