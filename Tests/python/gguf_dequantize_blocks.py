"""Dequantizes raw GGML blocks with the `gguf` package: gguf_dequantize_blocks.py TYPE FILE -> {"values": [...]}."""
import json, sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize

qtype = GGMLQuantizationType[sys.argv[1].upper()]
raw = np.fromfile(sys.argv[2], dtype=np.uint8)
values = dequantize(raw, qtype).astype(np.float64).reshape(-1)
print(json.dumps({"values": values.tolist()}))
