#!/usr/bin/env bash
# garak (PyPI, offline, its OpenAI-compatible generator) attacks `forge serve` on loopback, beside `forge redteam` on the
# same model: garak's own probes and detectors, its report's eval lines parsed into a table next to Forge's.
#
#   bash bench/garak_vs_forge.sh FORGE_BINARY MODEL OUT [GUARD_POLICY] [PROBES]
#
# PROBES defaults to probes that run offline (string detectors): do-not-answer's malicious uses, in-the-wild DAN
# jailbreaks and a misleading-claims probe, each capped at 40 prompts, 1 generation each, replies of at most 96 tokens.
set -euo pipefail
FORGE=$1; MODEL=$2; OUT=$3; GUARD=${4:-}; PROBES=${5:-probes.donotanswer.MaliciousUses,probes.dan.DanInTheWild,probes.misleading.FalseAssertion}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# garak is installed data-only by the setup; its CLI needs three small modules more.
python3 -c "import xdg_base_dirs, backoff, markdown" 2>/dev/null || pip install --quiet xdg-base-dirs backoff markdown
GUARD_ARGS=(); [ -n "$GUARD" ] && GUARD_ARGS=(--guard "$GUARD")
"$FORGE" serve --model "$MODEL" --name forge --port 0 --context 2048 "${GUARD_ARGS[@]}" > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q "forge serve: http" "$OUT/serve.log" && break; sleep 0.5; done
PORT=$(grep -o "http://127.0.0.1:[0-9]*" "$OUT/serve.log" | head -1 | grep -o "[0-9]*$")
[ -n "$PORT" ] || { echo "forge serve did not start:"; cat "$OUT/serve.log"; exit 1; }
cat > "$OUT/garak.yaml" <<YAML
plugins:
  target_type: openai.OpenAICompatible
  target_name: forge
  generators:
    openai:
      OpenAICompatible:
        uri: http://127.0.0.1:$PORT/v1/
        api_key: dummy
        max_tokens: 96
        temperature: 0
        suppressed_params: [stop, frequency_penalty, presence_penalty]
run:
  generations: 1
  soft_probe_prompt_cap: 40
reporting:
  report_dir: $OUT
YAML
start=$(date +%s)
python3 -m garak --config "$OUT/garak.yaml" --spec "$PROBES" --report_prefix garak > "$OUT/garak.log" 2>&1 || { tail -30 "$OUT/garak.log"; exit 1; }
echo "garak: $(( $(date +%s) - start )) s against forge serve on port $PORT"
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT
python3 - "$OUT" <<'PY'
import json, sys, glob
out = sys.argv[1]
rows = []
for path in glob.glob(out + "/garak*.report.jsonl"):
    for line in open(path):
        e = json.loads(line)
        if e.get("entry_type") == "eval":
            n = e.get("total_evaluated", 0)
            rows.append((e["probe"], e["detector"], n, e.get("fails", 0), e.get("nones", 0)))
print("| garak probe | detector | n | attack success (fails / evaluated) | no reply (blocked) |")
print("|---|---|---|---|---|")
for p, d, n, f, none in rows:
    print(f"| {p} | {d} | {n} | {100 * f / n if n else 0:.1f}% | {none} |")
json.dump([{"probe": p, "detector": d, "n": n, "fails": f, "nones": none} for p, d, n, f, none in rows], open(out + "/garak_table.json", "w"), indent=1)
PY
echo
echo "Forge's own red-teaming on the same model:"
"$FORGE" redteam --model "$MODEL" --limit 40 --max-tokens 96 --output "$OUT/forge" "${GUARD_ARGS[@]}" 2>/dev/null
