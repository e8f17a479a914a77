#!/usr/bin/env python3
"""Hugging Face `transformers` reads a Forge model dir and continues text exactly as Forge does.

Usage: python3 bench/parity_transformers.py MODEL_DIR [--tokens 64]
Loads MODEL_DIR (written by `forge pretrain` / `forge speedrun`) with AutoModelForCausalLM in float32,
generates greedily from a few prompts, runs `forge generate --temperature 0` on the same prompts, and prints
where the two agree and the largest difference of the next-token log-probabilities transformers assigns to
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
from transformers import AutoModelForCausalLM

torch.set_num_threads(2)
model = AutoModelForCausalLM.from_pretrained(a.model_dir, torch_dtype=torch.float32).eval()
prompts = ["ROMEO.\n", "To be, or not to be", "KING HENRY.\nNow, lords,", "Enter"]
all_equal = True
for prompt in prompts:
    ids = list(prompt.encode("utf-8"))  # byte-level models: id = byte
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=a.tokens, do_sample=False, pad_token_id=0)
    hf = bytes(out[0, len(ids):].tolist())
    r = subprocess.run([a.forge, "generate", "--model", a.model_dir, "--prompt", prompt, "-n", str(a.tokens),
                        "--temperature", "0"], capture_output=True, check=True)
    forge = r.stdout[len(prompt.encode()):-1]  # forge ends its output with one newline
    same = 0
    while same < min(len(hf), len(forge)) and hf[same] == forge[same]:
        same += 1
    gap = ""
    if same < a.tokens:
        # How close were transformers' top two choices where the two first differ?
        with torch.no_grad():
            logits = model(torch.tensor([ids + list(hf[:same])])).logits[0, -1].float()
        probs = torch.softmax(logits, -1)
        top = torch.topk(probs, 2)
        gap = f" (first difference at {same}: transformers' top-2 probabilities {top.values[0]:.4f} vs {top.values[1]:.4f})"
    all_equal &= same >= a.tokens
    print(f"{prompt!r}: {same}/{a.tokens} greedy tokens equal{gap}")
print("PARITY OK" if all_equal else "PARITY: differences found (see near-ties above)")
