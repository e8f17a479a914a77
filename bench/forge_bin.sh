#!/usr/bin/env bash
# Prints the Forge binary the bench scripts run: $FORGE_BIN when set, else a release build made (or brought up to
# date) here, for this CPU (ISA=native, the default) or for AVX2 only (ISA=avx2: FORGE_TARGET_CPU=znver2 in
# .build-avx2, to measure an AVX2 host on a machine with AVX-512). Paths are relative to the repository.
#
#   forge=$(bash bench/forge_bin.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${FORGE_BIN:-}" ]; then echo "$FORGE_BIN"; exit 0; fi
case "${ISA:-native}" in
  native) swift build -c release --product forge >/dev/null; echo .build/release/forge ;;
  avx2) FORGE_TARGET_CPU=znver2 swift build -c release --product forge --scratch-path .build-avx2 >/dev/null
        echo .build-avx2/release/forge ;;
  *) echo "ISA must be native or avx2, not '$ISA'" >&2; exit 2 ;;
esac
