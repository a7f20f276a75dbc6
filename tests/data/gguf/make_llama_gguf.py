# Writes a small llama-architecture GGUF with gguf-py (llama.cpp's own writer),
# for the file-type tests: python make_llama_gguf.py OUT.gguf CONFIG_JSON [OUT.gguf CONFIG_JSON ...]
#
# CONFIG keys: layers, embd, ff, heads, heads_kv, vocab, rows (when set, every
# weight has this many rows instead of its real shape: llama-quantize checks
# names and row lengths, not shapes, so type choices for a deep model cost
# little), tied (no output.weight), dtype (F32, F16, BF16), extra (a list of
# [name, rows, cols] tensors added as they are), experts (a mixture of experts:
# expert_count, a router and 3-D ffn_*_exps tensors instead of the dense FFN),
# arch ("falcon": one attn_qkv tensor, LayerNorm epsilon; for its own type rules), seed.
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, TokenType



def make(out, config):
    layers, embd, ff = config["layers"], config["embd"], config["ff"]
    heads, heads_kv, vocab = config["heads"], config["heads_kv"], config["vocab"]
    rows = config.get("rows")
    dtype = config.get("dtype", "F32")
    rng = np.random.default_rng(config.get("seed", 0))

    arch = config.get("arch", "llama")
    w = GGUFWriter(out, arch)
    w.add_name("tiny-llama")
    w.add_context_length(256)
    w.add_embedding_length(embd)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(heads_kv)
    w.add_rope_dimension_count(embd // heads)
    if arch == "falcon":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(0 if dtype == "F32" else 1 if dtype == "F16" else 32)
    w.add_vocab_size(vocab)
    experts = config.get("experts", 0)
    if experts:
        w.add_expert_count(experts)
        w.add_expert_used_count(2)

    # A SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then pieces.
    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        scores.append(0.0)
        types.append(TokenType.BYTE)
    letters = "abcdefghijklmnopqrstuvwxyz"
    i = 0
    while len(tokens) < vocab:
        piece = "\u2581" + letters[i % 26] + (letters[(i // 26) % 26] if i >= 26 else "")
        if piece not in tokens:
            tokens.append(piece)
            scores.append(-float(i))
            types.append(TokenType.NORMAL)
        i += 1
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)


    def tensor(name, shape, scale=0.05, norm=False):
        if norm:
            a = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            if rows is not None and len(shape) >= 2:
                shape = (*shape[:-2], rows, shape[-1])
            a = (scale * rng.standard_normal(shape)).astype(np.float32)
            # a few outliers, as real weights have
            flat = a.reshape(-1)
            flat[rng.integers(0, flat.size, max(1, flat.size // 500))] *= 8
        if norm or dtype == "F32":
            w.add_tensor(name, a)
        elif dtype == "F16":
            w.add_tensor(name, a.astype(np.float16))
        else:
            bits = a.view(np.uint32)
            bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
            w.add_tensor(name, bf16.reshape(a.shape), raw_dtype=GGMLQuantizationType.BF16)


    head_dim = embd // heads
    tensor("token_embd.weight", (vocab, embd), 0.5)
    tensor("output_norm.weight", (embd,), norm=True)
    if not config.get("tied"):
        tensor("output.weight", (vocab, embd))
    for i in range(layers):
        tensor(f"blk.{i}.attn_norm.weight", (embd,), norm=True)
        if arch == "falcon":
            tensor(f"blk.{i}.attn_qkv.weight", (embd + 2 * heads_kv * head_dim, embd))
        else:
            tensor(f"blk.{i}.attn_q.weight", (embd, embd))
            tensor(f"blk.{i}.attn_k.weight", (heads_kv * head_dim, embd))
            tensor(f"blk.{i}.attn_v.weight", (heads_kv * head_dim, embd))
        tensor(f"blk.{i}.attn_output.weight", (embd, embd))
        tensor(f"blk.{i}.ffn_norm.weight", (embd,), norm=True)
        if experts:
            tensor(f"blk.{i}.ffn_gate_inp.weight", (experts, embd))
            tensor(f"blk.{i}.ffn_gate_exps.weight", (experts, ff, embd))
            tensor(f"blk.{i}.ffn_up_exps.weight", (experts, ff, embd))
            tensor(f"blk.{i}.ffn_down_exps.weight", (experts, embd, ff))
        else:
            tensor(f"blk.{i}.ffn_gate.weight", (ff, embd))
            tensor(f"blk.{i}.ffn_up.weight", (ff, embd))
            tensor(f"blk.{i}.ffn_down.weight", (embd, ff))
    for name, r, c in config.get("extra", []):
        tensor(name, (r, c))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


for k in range(1, len(sys.argv), 2):
    make(sys.argv[k], json.loads(sys.argv[k + 1]))
