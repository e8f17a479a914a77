#!/usr/bin/env bash
# Training throughput, Forge beside PyTorch, in one run on the same machine.
#
#   bash bench/train.sh            # fp32, 2 threads, 3 alternating rounds
#
# Also `forge bench train --precision bf16`: bf16 products where the CPU has bf16 instructions, else (with a
# message) the Float32 it falls back to; its figure is set beside PyTorch's bf16 autocast.
#
# Config (both sides): GPT-2 style, vocab 8192, 6 layers, width 384, 6 heads, context 256, batch 8,
# AdamW with clipping. Installs the CPU build of PyTorch if it is missing. Rounds alternate between
# the two programs so that load from other work on the machine hits both alike.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0+cpu"
swift build -c release --product forge >/dev/null
rounds=${ROUNDS:-3}
# Without bf16 instructions PyTorch's bf16 autocast runs reference kernels (about 45 tokens/s on a Zen 2 here):
# one measured step is enough to place it.
bf16_steps=(--steps 8)
if ! grep -q -m1 avx512_bf16 /proc/cpuinfo 2>/dev/null; then
  bf16_steps=(--steps 1 --warmup 1)
  echo "note: this CPU has no avx512_bf16: PyTorch's bf16 autocast is measured over 1 step; Forge's --precision bf16 falls back to Float32"
fi
forge_runs=(); torch_runs=(); torch_bf16=(); forge_bf16=()
for r in $(seq "$rounds"); do
  f=$(FORGE_THREADS=2 .build/release/forge bench train --steps 8 | grep 'tokens/s' | awk '{print $3}')
  fb=$(FORGE_THREADS=2 .build/release/forge bench train --steps 8 --precision bf16 2>/dev/null | grep 'tokens/s' | awk '{print $3}')
  t=$(python3 bench/train_pytorch.py --threads 2 --steps 8 | awk '{print $6}')
  b=$(python3 bench/train_pytorch.py --threads 2 "${bf16_steps[@]}" --bf16 | awk '{print $6}')
  echo "round $r: forge fp32 $f tok/s   forge --precision bf16 $fb tok/s   pytorch fp32 $t tok/s   pytorch bf16-autocast $b tok/s"
  forge_runs+=("$f"); torch_runs+=("$t"); torch_bf16+=("$b"); forge_bf16+=("$fb")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
F=$(median "${forge_runs[@]}"); T=$(median "${torch_runs[@]}"); B=$(median "${torch_bf16[@]}"); FB=$(median "${forge_bf16[@]}")
FORGE_THREADS=2 .build/release/forge bench train --steps 1 --warmup 0 --precision bf16 2>&1 >/dev/null | head -1
echo "median of round medians: forge fp32 $F tok/s, pytorch fp32 $T tok/s, pytorch bf16 $B tok/s"
awk -v f="$F" -v t="$T" -v b="$B" -v fb="$FB" 'BEGIN { printf "ratio forge fp32 / pytorch fp32 = %.2f   forge fp32 / pytorch bf16 = %.2f   forge --precision bf16 / pytorch bf16 = %.2f\n", f / t, f / b, fb / b }'
FORGE_THREADS=2 .build/release/forge bench train --steps 4 | tail -1
