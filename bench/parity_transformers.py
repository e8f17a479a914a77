#!/usr/bin/env python3
"""Hugging Face `transformers` reads a Forge model dir and continues text exactly as Forge does.

Usage: python3 bench/parity_transformers.py MODEL_DIR [--tokens 64]
Loads MODEL_DIR (written by `forge pretrain` / `forge speedrun`: byte-level or BPE) with AutoModelForCausalLM in
float32 (and its tokenizer through AutoTokenizer), generates greedily from a few prompts, runs `forge generate
--temperature 0 --ids` on the same prompts, and prints where the two token sequences agree and the largest difference of the next-token log-probabilities transformers assigns to
Forge's choices. Installs transformers (and the CPU build of torch) if missing.
"""
import argparse, json, os, subprocess, sys

p = argparse.ArgumentParser()
p.add_argument("model_dir")
p.add_argument("--tokens", type=int, default=64)
p.add_argument("--forge", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "forge"))
a = p.parse_args()
try:
    import torch, transformers  # noqa: F401
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "torch==2.13.0+cpu", "transformers"])
    import torch, transformers  # noqa: F401
from transformers import AutoModelForCausalLM, AutoTokenizer

torch.set_num_threads(2)
model = AutoModelForCausalLM.from_pretrained(a.model_dir, dtype=torch.float32).eval()
config = json.load(open(os.path.join(a.model_dir, "config.json")))
# Byte-level dirs (vocabulary 256: id = byte) need no tokenizer; BPE dirs use their tokenizer.json through transformers.
tok = None if config["vocab_size"] == 256 else AutoTokenizer.from_pretrained(a.model_dir)
encode = (lambda s: list(s.encode("utf-8"))) if tok is None else (lambda s: tok(s)["input_ids"])
prompts = ["ROMEO.\n", "To be, or not to be", "KING HENRY.\nNow, lords,", "Enter"]
all_equal = True
for prompt in prompts:
    ids = encode(prompt)
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=a.tokens, do_sample=False, pad_token_id=0,
                             eos_token_id=None)
    hf = out[0, len(ids):].tolist()
    # Forge's greedy continuation as token ids (it stops at an end-of-sequence token; transformers is told not to).
    r = subprocess.run([a.forge, "generate", "--model", a.model_dir, "--prompt", prompt, "-n", str(a.tokens),
                        "--temperature", "0", "--ids"], capture_output=True, check=True, text=True)
    forge = [int(t) for t in r.stdout.split()]
    same = 0
    while same < min(len(hf), len(forge)) and hf[same] == forge[same]:
        same += 1
    gap = ""
    if same < min(a.tokens, len(forge)):
        # How close were transformers' top two choices where the two first differ?
        with torch.no_grad():
            logits = model(torch.tensor([ids + hf[:same]])).logits[0, -1].float()
        probs = torch.softmax(logits, -1)
        top = torch.topk(probs, 2)
        gap = f" (first difference at {same}: transformers' top-2 probabilities {top.values[0]:.4f} vs {top.values[1]:.4f})"
    all_equal &= same >= min(a.tokens, len(forge))
    print(f"{prompt!r}: {same}/{len(forge)} greedy tokens equal{gap}")
print("PARITY OK" if all_equal else "PARITY: differences found (see near-ties above)")
