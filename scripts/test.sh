#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
FORGE_SETUP_TESTS=1 bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
