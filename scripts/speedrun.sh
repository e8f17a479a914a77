#!/usr/bin/env bash
# The main job: installs what is missing, builds forge (release), and runs `forge speedrun --serve` on Shakespeare:
# data to trained model, samples and report, then the model served at http://127.0.0.1:8080/ (chat page and OpenAI
# API) until Ctrl-C. Extra arguments go to forge speedrun (e.g. --minutes 2, --port 9000); NO_SERVE=1 stops after the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product forge
if [ "${NO_SERVE:-0}" = 1 ]; then exec .build/release/forge speedrun "$@"; fi
exec .build/release/forge speedrun --serve "$@"
