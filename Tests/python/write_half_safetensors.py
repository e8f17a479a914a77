#!/usr/bin/env python3
"""Copies a model dir with its safetensors tensors rounded to F16 or BF16 (as Hugging Face publishes models).

Usage: python3 Tests/python/write_half_safetensors.py SRC_DIR DST_DIR F16|BF16
The file is written by hand (8-byte header length, JSON header, data): numpy has no bfloat16, so BF16 values are the
top 16 bits of each float32, rounded to nearest even.
"""
import json, os, shutil, struct, sys

import numpy as np
from safetensors.numpy import load_file

src, dst, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(dst, exist_ok=True)
for f in os.listdir(src):
    if f != "model.safetensors":
        shutil.copy(os.path.join(src, f), os.path.join(dst, f))
tensors = load_file(os.path.join(src, "model.safetensors"))
header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
for name in sorted(tensors):
    t = tensors[name].astype(np.float32)
    if dtype == "F16":
        raw = t.astype(np.float16).tobytes()
    else:
        bits = t.view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        raw = rounded.astype(np.uint16).tobytes()
    header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(dst, "model.safetensors"), "wb") as out:
    out.write(struct.pack("<Q", len(h)))
    out.write(h)
    for b in blobs:
        out.write(b)
print(json.dumps({"tensors": len(tensors), "dtype": dtype}))
