# Builds tiny Hugging Face model folders for tests/hf_gguf_test.ts, each trained
# for a few steps on a fixed text so that greedy outputs are peaked:
#   llama-spm/   LlamaForCausalLM, SentencePiece tokenizer.model (+ the tokenizer.json transformers writes)
#   llama-bpe/   LlamaForCausalLM, Llama-3-style byte-level BPE tokenizer.json, llama3 rope scaling, tied embeddings
#   qwen2-bpe/   Qwen2ForCausalLM, Qwen2-style BPE tokenizer.json (attention biases)
#   qwen2-yarn/  qwen2-bpe's weights and tokenizer with YaRN rope scaling in config.json (not trained again)
# Usage: python make_tiny_models.py OUT_DIR [--random-size-mb N]
# With --random-size-mb, writes one untrained llama-bpe-shaped model of about N MB (random BF16 weights) to OUT_DIR.
import json
import os
import sys

import torch

torch.manual_seed(0)
torch.set_num_threads(1)

TEXT = (
    "The quick brown fox jumps over the lazy dog. "
    "A llama eats grass in the green field every morning. "
    "Tensors are arrays of numbers stored in files. "
    "One two three four five six seven eight nine ten. "
    "Hello world, hello tensors, hello llamas! "
) * 8

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def bpe_tokenizer(split_regex, specials, bos):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split_regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([TEXT], trainer=trainer)
    if bos is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def train(model, ids, steps=60):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x = torch.tensor([ids[:96]])
    model.train()
    for _ in range(steps):
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    return float(loss)


def save_fast(tok_obj, out, **kw):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok_obj, **kw)
    fast.save_pretrained(out)
    return fast


CHAT = "{% for m in messages %}<|start|>{{ m['role'] }}\n{{ m['content'] }}<|end|>{% endfor %}"


def make_llama_bpe(out):
    from transformers import LlamaConfig, LlamaForCausalLM

    os.makedirs(out, exist_ok=True)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start|>", "<|end|>"]
    tok = bpe_tokenizer(LLAMA3_SPLIT, specials, "<|begin_of_text|>")
    fast = save_fast(tok, out, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", chat_template=CHAT)
    vocab = 336  # padded past the tokenizer's 320, as real checkpoints pad
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=True,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
    )
    model = LlamaForCausalLM(cfg)
    loss = train(model, fast(TEXT)["input_ids"])
    model.save_pretrained(out)
    return loss


def make_qwen2(out):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    os.makedirs(out, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = bpe_tokenizer(QWEN2_SPLIT, specials, None)
    fast = save_fast(tok, out, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT)
    cfg = Qwen2Config(
        vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        eos_token_id=fast.eos_token_id,
    )
    model = Qwen2ForCausalLM(cfg)
    loss = train(model, fast(TEXT)["input_ids"])
    model.save_pretrained(out)
    yarn = out.rstrip("/").replace("qwen2-bpe", "qwen2-yarn")
    cfg.rope_parameters = {"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0,
                           "original_max_position_embeddings": 64, "beta_fast": 32.0, "beta_slow": 1.0}
    model.save_pretrained(yarn)
    fast.save_pretrained(yarn)
    return loss


def make_llama_spm(out):
    import sentencepiece as spm
    from transformers import LlamaConfig, LlamaForCausalLM

    os.makedirs(out, exist_ok=True)
    text_path = os.path.join(out, "_text.txt")
    with open(text_path, "w") as f:
        f.write(TEXT.replace(". ", ".\n"))
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=os.path.join(out, "tokenizer"), vocab_size=300, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
        minloglevel=2, num_threads=1,
    )
    os.remove(text_path)
    os.remove(os.path.join(out, "tokenizer.vocab"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "tokenizer.model"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({
            "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
            "add_bos_token": True, "add_eos_token": False, "legacy": True, "chat_template": CHAT,
            "added_tokens_decoder": {
                "0": {"content": "<unk>", "special": True, "normalized": False, "lstrip": False, "rstrip": False,
                      "single_word": False},
                "1": {"content": "<s>", "special": True, "normalized": False, "lstrip": False, "rstrip": False,
                      "single_word": False},
                "2": {"content": "</s>", "special": True, "normalized": False, "lstrip": False, "rstrip": False,
                      "single_word": False},
            },
        }, f, indent=2)
    cfg = LlamaConfig(
        vocab_size=sp.vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256, rms_norm_eps=1e-6,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )
    model = LlamaForCausalLM(cfg)
    ids = [1] + sp.encode(TEXT)
    loss = train(model, ids)
    model.save_pretrained(out)
    return loss


def make_random(out, size_mb):
    from transformers import LlamaConfig, LlamaForCausalLM

    os.makedirs(out, exist_ok=True)
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    tok = bpe_tokenizer(LLAMA3_SPLIT, specials, "<|begin_of_text|>")
    save_fast(tok, out, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")
    hidden, ff = 1024, 2816
    per_layer = 4 * hidden * hidden + 3 * hidden * ff  # bytes / 2 (BF16)
    layers = max(1, int(size_mb * 1e6 / 2 / per_layer))
    cfg = LlamaConfig(
        vocab_size=320, hidden_size=hidden, intermediate_size=ff, num_hidden_layers=layers,
        num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=2048, torch_dtype="bfloat16",
    )
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    model = model.to_empty(device="cpu").to(torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    model.save_pretrained(out, max_shard_size="200MB")


if __name__ == "__main__":
    dest = sys.argv[1]
    if "--random-size-mb" in sys.argv:
        make_random(dest, float(sys.argv[sys.argv.index("--random-size-mb") + 1]))
        sys.exit(0)
    losses = {
        "llama-spm": make_llama_spm(os.path.join(dest, "llama-spm")),
        "llama-bpe": make_llama_bpe(os.path.join(dest, "llama-bpe")),
        "qwen2-bpe": make_qwen2(os.path.join(dest, "qwen2-bpe")),
    }
    print(json.dumps(losses))
