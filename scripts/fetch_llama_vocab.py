#!/usr/bin/env python3
"""Fetches llama.cpp's tokenizer test vectors and chat templates from the PyPI source package
`llama-cpp-python==0.3.36` (vendor/llama.cpp/models/ggml-vocab-*.gguf with .inp/.out, and
models/templates/*.jinja) into ~/.cache/forge/llama-cpp-python-0.3.36/models. Nothing is committed.

`pip download` cannot fetch this sdist here without building its metadata (it needs CMake), so the
archive is taken from the index page directly and only those files are extracted.
Usage: python3 scripts/fetch_llama_vocab.py   (prints the models directory)
"""
import io, os, re, sys, tarfile, urllib.request

VERSION = "0.3.36"
dest = os.path.expanduser(f"~/.cache/forge/llama-cpp-python-{VERSION}/models")
marker = os.path.join(dest, ".complete")
if not os.path.exists(marker):
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page = urllib.request.urlopen(f"{index}/llama-cpp-python/", timeout=120).read().decode()
    links = [h for h in re.findall(r'href="([^"]+)"', page) if f"llama_cpp_python-{VERSION}.tar.gz" in h]
    if not links:
        sys.exit(f"llama_cpp_python-{VERSION}.tar.gz not found on {index}")
    url = links[0] if links[0].startswith("http") else urllib.request.urljoin(f"{index}/llama-cpp-python/", links[0])
    data = urllib.request.urlopen(url, timeout=600).read()
    os.makedirs(dest, exist_ok=True)
    prefix = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/models/"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            if not m.isfile() or not m.name.startswith(prefix):
                continue
            rel = m.name[len(prefix):]
            if not (rel.startswith("ggml-vocab-") or rel.startswith("templates/")):
                continue
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(tar.extractfile(m).read())
    open(marker, "w").close()
print(dest)
