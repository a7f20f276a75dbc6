# The Python oracles of tests/hf_gguf_test.ts, batched into one process per call.
# Usage: python oracle.py JOB_JSON, where the job has any of:
#   "convert": [{"src": LLAMA_CPP_SOURCE, "model": DIR, "out": FILE, "outtype": "f32", "pre": NAME or null}]
#       runs llama.cpp's own convert_hf_to_gguf.py. Its BPE pre-tokenizer table is keyed by hashes of
#       known models' encodings, which a freshly trained tokenizer can't match, so `pre` stands in for
#       that lookup (TextModel.get_vocab_base_pre); everything else is the converter's own code.
#   "greedy": [{"model": DIR, "prompts": [[ids]], "steps": N}]  transformers' greedy continuation
#   "compare": [{"a": DIR, "b": DIR, "ids": [ids], "texts": [text]}]  max |logits a - logits b|, and
#       whether AutoTokenizer of each folder gives the same ids for each text
# Prints one JSON object with "greedy" and "compare" results.
import json
import runpy
import sys

job = json.loads(sys.argv[1])
result = {}

for c in job.get("convert", []):
    sys.path[:0] = [c["src"], c["src"] + "/gguf-py"]
    import conversion.base as base  # noqa: E402

    if c.get("pre"):
        base.TextModel.get_vocab_base_pre = lambda self, tokenizer, pre=c["pre"]: pre
    sys.argv = [c["src"] + "/convert_hf_to_gguf.py", c["model"], "--outfile", c["out"], "--outtype", c["outtype"]]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise

if job.get("greedy") or job.get("compare"):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)

    def load(path):
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()

    result["greedy"] = []
    for g in job.get("greedy", []):
        model = load(g["model"])
        outs = []
        for ids in g["prompts"]:
            x = torch.tensor([ids])
            out = []
            with torch.no_grad():
                for _ in range(g["steps"]):
                    nxt = int(model(x).logits[0, -1].argmax())
                    out.append(nxt)
                    x = torch.cat([x, torch.tensor([[nxt]])], dim=1)
            outs.append(out)
        result["greedy"].append(outs)

    result["compare"] = []
    for c in job.get("compare", []):
        a, b = load(c["a"]), load(c["b"])
        x = torch.tensor([c["ids"]])
        with torch.no_grad():
            diff = float((a(x).logits - b(x).logits).abs().max())
        ta, tb = AutoTokenizer.from_pretrained(c["a"]), AutoTokenizer.from_pretrained(c["b"])
        same = [ta(t)["input_ids"] == tb(t)["input_ids"] for t in c.get("texts", [])]
        result["compare"].append({"max_abs_diff": diff, "same_tokens": same, "config": b.config.to_dict()["rope_parameters"]})

print(json.dumps(result))
