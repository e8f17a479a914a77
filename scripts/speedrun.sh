#!/usr/bin/env bash
# The main job: installs what is missing, builds forge (release), and runs `forge speedrun` on Shakespeare.
# Extra arguments go to forge speedrun (e.g. --minutes 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product forge
exec .build/release/forge speedrun "$@"
