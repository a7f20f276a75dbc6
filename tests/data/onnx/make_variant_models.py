"""Models for the ONNX variant tests, and onnxruntime's own variants of them.

Usage: make_variant_models.py OUT_DIR [--bench]

Writes into OUT_DIR:
  toy.onnx        Gather + MatMul + Relu + MatMul (K not a multiple of 32)
  conv.onnx       Conv with bias, then MatMul
  graphs.onnx     weights in If branches and a Loop body, Constant nodes (value, value_float(s),
                  value_int(s)), a sparse initializer, a Constant in the main graph
  graphs_ref.json every tensor of graphs.onnx by graph path, as numpy sees it (hex bytes)
  bert/           a tiny BERT (transformers) exported with torch.onnx.export, with its tokenizer:
                  a transformers.js model folder (config.json, tokenizer files, onnx/model.onnx)
  ort/<model>_<variant>.onnx   onnxruntime.quantization's variants: int8, uint8, int8pc (per channel),
                  q4 (MatMulNBits block 32 symmetric), q4a (asymmetric), q4b64 (block 64), bnb4 (MatMulBnb4 NF4, block 64),
                  fp16 (onnxruntime.transformers.float16, keep_io_types)
  fp16.onnx       float16 edge cases: out-of-range values, block-listed TopK and Min
With --bench: bench/model.onnx, a BERT of about 100 MB, and nothing else.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name))


def bert(folder, hidden, layers, heads, inter, vocab_size):
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
    words = ["hello", "world", "the", "cat", "sat", "on", "mat", "a", "dog", "runs", "fast", "slow", "red", "blue"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + [f"w{i}" for i in range(vocab_size - 5 - len(words))]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=inter, max_position_embeddings=64)
    model = BertModel(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    os.remove(os.path.join(folder, "model.safetensors"))
    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[2, 5, 6, 3]])
    torch.onnx.export(
        Wrapped(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), os.path.join(folder, "onnx", "model.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids"]}
        | {"last_hidden_state": {0: "batch", 1: "sequence"}},
        opset_version=17, dynamo=False,
    )


if "--bench" in sys.argv:
    bert(os.path.join(out, "bench"), 512, 6, 8, 2048, 8000)
    sys.exit(0)

# toy: Gather + MatMul, K = 70 (a partial 4-bit block), N = 48.
nodes = [
    h.make_node("Gather", ["E", "ids"], ["emb"], name="gather"),
    h.make_node("MatMul", ["emb", "W1"], ["h"], name="mm1"),
    h.make_node("Relu", ["h"], ["r"], name="relu"),
    h.make_node("MatMul", ["r", "W2"], ["y"], name="mm2"),
]
g = h.make_graph(nodes, "toy", [h.make_tensor_value_info("ids", T.INT64, [2, 5])],
                 [h.make_tensor_value_info("y", T.FLOAT, [2, 5, 16])],
                 [nh.from_array(f32(30, 70), "E"), nh.from_array(f32(70, 48), "W1"), nh.from_array(f32(48, 16), "W2")])
save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), "toy.onnx")

# conv: Conv (bias) → Flatten → MatMul.
nodes = [
    h.make_node("Conv", ["x", "CW", "CB"], ["c"], name="conv", pads=[1, 1, 1, 1]),
    h.make_node("Relu", ["c"], ["cr"], name="crelu"),
    h.make_node("Flatten", ["cr"], ["fl"], name="flat"),
    h.make_node("MatMul", ["fl", "FW"], ["y"], name="fc"),
]
g = h.make_graph(nodes, "conv", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])],
                 [h.make_tensor_value_info("y", T.FLOAT, [1, 10])],
                 [nh.from_array(f32(4, 3, 3, 3), "CW"), nh.from_array(f32(4), "CB"),
                  nh.from_array(f32(4 * 8 * 8, 10) * 0.1, "FW")])
save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), "conv.onnx")

# graphs: weights everywhere a real model keeps them.
then_g = h.make_graph(
    [h.make_node("MatMul", ["x", "TW"], ["t_out"], name="then_mm")], "then", [],
    [h.make_tensor_value_info("t_out", T.FLOAT, [2, 8])], [nh.from_array(f32(4, 8), "TW")])
else_g = h.make_graph(
    [h.make_node("Constant", [], ["ec"], name="else_const", value=nh.from_array(f32(4, 8), "ec_value")),
     h.make_node("MatMul", ["x", "ec"], ["e_out"], name="else_mm")], "else", [],
    [h.make_tensor_value_info("e_out", T.FLOAT, [2, 8])])
body = h.make_graph(
    [h.make_node("Add", ["acc_in", "LB"], ["acc_out"], name="body_add"),
     h.make_node("Identity", ["cond_in"], ["cond_out"], name="body_id")], "body",
    [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
     h.make_tensor_value_info("acc_in", T.FLOAT, [2, 8])],
    [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("acc_out", T.FLOAT, [2, 8])],
    [nh.from_array(f32(2, 8), "LB")])
sparse_values = nh.from_array(f32(3), "SP")
sparse_indices = nh.from_array(np.array([1, 5, 9], dtype=np.int64), "SP_indices")
nodes = [
    h.make_node("Constant", [], ["flag"], name="flag_const", value=nh.from_array(np.array(True), "flag_value")),
    h.make_node("Constant", [], ["one_f"], name="c_float", value_float=1.5),
    h.make_node("Constant", [], ["some_f"], name="c_floats", value_floats=[0.25, -2.0, 3.0]),
    h.make_node("Constant", [], ["one_i"], name="c_int", value_int=7),
    h.make_node("Constant", [], ["trip"], name="c_ints", value_ints=[3]),
    h.make_node("Reshape", ["trip", "shape0"], ["trip_s"], name="trip_scalar"),
    h.make_node("If", ["flag"], ["branch"], name="the_if", then_branch=then_g, else_branch=else_g),
    h.make_node("Loop", ["trip_s", "", "branch"], ["looped"], name="the_loop", body=body),
    h.make_node("Mul", ["looped", "one_f"], ["y"], name="scale"),
    h.make_node("Add", ["SP", "SP"], ["sp2"], name="sparse_add"),
]
g = h.make_graph(nodes, "graphs", [h.make_tensor_value_info("x", T.FLOAT, [2, 4])],
                 [h.make_tensor_value_info("y", T.FLOAT, [2, 8]), h.make_tensor_value_info("some_f", T.FLOAT, [3]),
                  h.make_tensor_value_info("one_i", T.INT64, []), h.make_tensor_value_info("sp2", T.FLOAT, [4, 4])],
                 [nh.from_array(np.array([], dtype=np.int64), "shape0")],
                 sparse_initializer=[h.make_sparse_tensor(sparse_values, sparse_indices, [4, 4])])
save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), "graphs.onnx")

# The reference listing: tensor name → hex bytes, by the graph-path names ckpt promises.
m = onnx.load(os.path.join(out, "graphs.onnx"))
ref = {}


def walk(graph, prefix):
    for t in graph.initializer:
        ref[prefix + t.name] = nh.to_array(t).tobytes().hex()
    for s in graph.sparse_initializer:
        ref[prefix + s.values.name] = nh.to_array(s.values).tobytes().hex()
        ref[prefix + s.values.name + "/indices"] = nh.to_array(s.indices).tobytes().hex()
    for n in graph.node:
        for a in n.attribute:
            if n.op_type == "Constant":
                if a.name == "value":
                    ref[prefix + n.output[0]] = nh.to_array(a.t).tobytes().hex()
                elif a.name in ("value_float", "value_floats"):
                    v = [a.f] if a.name == "value_float" else list(a.floats)
                    ref[prefix + n.output[0]] = np.array(v, dtype=np.float32).tobytes().hex()
                elif a.name in ("value_int", "value_ints"):
                    v = [a.i] if a.name == "value_int" else list(a.ints)
                    ref[prefix + n.output[0]] = np.array(v, dtype=np.int64).tobytes().hex()
            if a.type == onnx.AttributeProto.GRAPH:
                walk(a.g, f"{prefix}{n.name}/{a.name}/")


walk(m.graph, "")
with open(os.path.join(out, "graphs_ref.json"), "w") as f:
    json.dump(ref, f)

# branches: MatMuls inside If branches, with the weight in the branch and in the main graph.
then_g = h.make_graph([h.make_node("MatMul", ["x", "TW"], ["t_out"], name="then_mm")], "then", [],
                      [h.make_tensor_value_info("t_out", T.FLOAT, [2, 8])], [nh.from_array(f32(40, 8), "TW")])
else_g = h.make_graph([h.make_node("MatMul", ["x", "OW"], ["e_out"], name="else_mm")], "else", [],
                      [h.make_tensor_value_info("e_out", T.FLOAT, [2, 8])])
g = h.make_graph(
    [h.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
     h.make_node("Greater", ["s", "zero"], ["flag"], name="gt"),
     h.make_node("If", ["flag"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)],
    "branches", [h.make_tensor_value_info("x", T.FLOAT, [2, 40])], [h.make_tensor_value_info("y", T.FLOAT, [2, 8])],
    [nh.from_array(f32(40, 8), "OW"), nh.from_array(np.array(0, dtype=np.float32), "zero")])
save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), "branches.onnx")

# fp16: values beyond float16's range (clamped), a block-listed TopK and Min between float16 nodes.
C = np.array([1e6, -1e6, 1e-9, -1e-9, 0.0, 1.5, 3.0e-5, -70000.0], dtype=np.float32)
nodes = [
    h.make_node("Mul", ["x", "C"], ["m"], name="mul"),
    h.make_node("TopK", ["m", "k"], ["top", "idx"], name="topk", axis=1),
    h.make_node("Min", ["top", "floor"], ["low"], name="min"),
    h.make_node("Add", ["low", "low"], ["y"], name="add"),
]
g = h.make_graph(nodes, "fp16", [h.make_tensor_value_info("x", T.FLOAT, [2, 8])],
                 [h.make_tensor_value_info("y", T.FLOAT, [2, 3]), h.make_tensor_value_info("idx", T.INT64, [2, 3])],
                 [nh.from_array(C, "C"), nh.from_array(np.array([3], dtype=np.int64), "k"),
                  nh.from_array(np.full((2, 3), 0.5, dtype=np.float32), "floor")])
save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), "fp16.onnx")

# Broken models (saved unchecked): a use of an undefined value, a cycle, a branch that redefines an outer name.
os.makedirs(os.path.join(out, "bad"), exist_ok=True)
W = nh.from_array(f32(4, 4), "W")
vi = lambda n: h.make_tensor_value_info(n, T.FLOAT, [1, 4])
broken = {
    "dangling": h.make_graph([h.make_node("MatMul", ["nope", "W"], ["y"], name="mm")], "g", [vi("x")], [vi("y")], [W]),
    "cycle": h.make_graph([h.make_node("Add", ["x", "b"], ["a"], name="first"), h.make_node("Relu", ["a"], ["b"], name="second"),
                           h.make_node("MatMul", ["a", "W"], ["y"], name="mm")], "g", [vi("x")], [vi("y")], [W]),
    "shadow": h.make_graph(
        [h.make_node("Constant", [], ["flag"], value=nh.from_array(np.array(True), "f")),
         h.make_node("If", ["flag"], ["y"], name="if",
                     then_branch=h.make_graph([h.make_node("Relu", ["W"], ["x"], name="redefines_x")], "t", [], [vi("x")]),
                     else_branch=h.make_graph([h.make_node("Identity", ["W"], ["e"])], "e", [], [vi("e")]))],
        "g", [vi("x")], [vi("y")], [W]),
}
for name, graph in broken.items():
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], ir_version=8), os.path.join(out, "bad", f"{name}.onnx"))

bert(os.path.join(out, "bert"), 64, 2, 4, 128, 60)
# The same model with its weights in model.onnx_data, as large transformers.js models ship.
os.makedirs(os.path.join(out, "bert_ext"), exist_ok=True)
onnx.save(onnx.load(os.path.join(out, "bert", "onnx", "model.onnx")), os.path.join(out, "bert_ext", "model.onnx"),
          save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)

# onnxruntime's variants.
import logging

logging.disable(logging.WARNING)
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_bnb4_quantizer import MatMulBnb4Quantizer
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

os.makedirs(os.path.join(out, "ort"), exist_ok=True)
for name, path in [("toy", "toy.onnx"), ("conv", "conv.onnx"), ("bert", "bert/onnx/model.onnx")]:
    src = os.path.join(out, path)
    dst = lambda v: os.path.join(out, "ort", f"{name}_{v}.onnx")
    quantize_dynamic(src, dst("int8"), weight_type=QuantType.QInt8)
    quantize_dynamic(src, dst("uint8"), weight_type=QuantType.QUInt8)
    quantize_dynamic(src, dst("int8pc"), weight_type=QuantType.QInt8, per_channel=True)
    for variant, block, sym in [("q4", 32, True), ("q4a", 32, False), ("q4b64", 64, True)]:
        q = MatMulNBitsQuantizer(onnx.load(src), block_size=block, is_symmetric=sym)
        q.process()
        q.model.save_model_to_file(dst(variant))
    q = MatMulBnb4Quantizer(onnx.load(src), MatMulBnb4Quantizer.NF4, 64)
    q.process()
    q.model.save_model_to_file(dst("bnb4"))

# Gemm (torch's nn.Linear in the committed MLP) becomes MatMul + Add before dynamic quantization.
mlp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlp.onnx")
quantize_dynamic(mlp, os.path.join(out, "ort", "mlp_int8.onnx"), weight_type=QuantType.QInt8)
quantize_dynamic(mlp, os.path.join(out, "ort", "mlp_uint8.onnx"), weight_type=QuantType.QUInt8)
quantize_dynamic(mlp, os.path.join(out, "ort", "mlp_int8pc.onnx"), weight_type=QuantType.QInt8, per_channel=True)

# transformers.js quantizes inside subgraphs (EnableSubgraph).
quantize_dynamic(os.path.join(out, "branches.onnx"), os.path.join(out, "ort", "branches_int8.onnx"),
                 weight_type=QuantType.QInt8, extra_options={"EnableSubgraph": True})

# MatMulNBits reaches into subgraphs: the If branch's MatMul.
q = MatMulNBitsQuantizer(onnx.load(os.path.join(out, "graphs.onnx")), block_size=32, is_symmetric=True)
q.process()
# (save_model_to_file's topological sort does not follow values that subgraphs read from outside.)
onnx.save(q.model.model, os.path.join(out, "ort", "graphs_q4.onnx"))

from onnxruntime.transformers.float16 import convert_float_to_float16

for name, path in [("toy", "toy.onnx"), ("conv", "conv.onnx"), ("graphs", "graphs.onnx"), ("fp16", "fp16.onnx"),
                   ("bert", "bert/onnx/model.onnx")]:
    onnx.save(convert_float_to_float16(onnx.load(os.path.join(out, path)), keep_io_types=True),
              os.path.join(out, "ort", f"{name}_fp16.onnx"))
