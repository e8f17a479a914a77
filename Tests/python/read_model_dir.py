#!/usr/bin/env python3
"""Reads a Forge model dir with the reference libraries and prints what they see, as JSON.

Usage: python3 Tests/python/read_model_dir.py MODEL_DIR
Uses the `safetensors` package (numpy backend) for model.safetensors and `json` for config.json.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file

d = sys.argv[1]
tensors = load_file(f"{d}/model.safetensors")
with open(f"{d}/config.json") as f:
    config = json.load(f)
out = {
    "config": config,
    "tensors": {
        name: {
            "dtype": str(t.dtype),
            "shape": list(t.shape),
            "sum": float(t.astype(np.float64).sum()),
            "first": [float(x) for x in t.reshape(-1)[:4]],
            "last": float(t.reshape(-1)[-1]),
        }
        for name, t in tensors.items()
    },
}
print(json.dumps(out))
