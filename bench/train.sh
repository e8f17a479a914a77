#!/usr/bin/env bash
# Training throughput, Forge beside PyTorch, in one run on the same machine.
#
#   bash bench/train.sh            # fp32, 2 threads, 3 alternating rounds
#
# Config (both sides): GPT-2 style, vocab 8192, 6 layers, width 384, 6 heads, context 256, batch 8,
# AdamW with clipping. Installs the CPU build of PyTorch if it is missing. Rounds alternate between
# the two programs so that load from other work on the machine hits both alike.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0+cpu"
swift build -c release --product forge >/dev/null
rounds=${ROUNDS:-3}
forge_runs=(); torch_runs=(); torch_bf16=()
for r in $(seq "$rounds"); do
  f=$(FORGE_THREADS=2 .build/release/forge bench train --steps 8 | grep 'tokens/s' | awk '{print $3}')
  t=$(python3 bench/train_pytorch.py --threads 2 --steps 8 | awk '{print $6}')
  b=$(python3 bench/train_pytorch.py --threads 2 --steps 8 --bf16 | awk '{print $6}')
  echo "round $r: forge fp32 $f tok/s   pytorch fp32 $t tok/s   pytorch bf16-autocast $b tok/s"
  forge_runs+=("$f"); torch_runs+=("$t"); torch_bf16+=("$b")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
F=$(median "${forge_runs[@]}"); T=$(median "${torch_runs[@]}"); B=$(median "${torch_bf16[@]}")
echo "median of round medians: forge fp32 $F tok/s, pytorch fp32 $T tok/s, pytorch bf16 $B tok/s"
awk -v f="$F" -v t="$T" -v b="$B" 'BEGIN { printf "ratio forge fp32 / pytorch fp32 = %.2f   forge fp32 / pytorch bf16 = %.2f\n", f / t, f / b }'
FORGE_THREADS=2 .build/release/forge bench train --steps 4 | tail -1
