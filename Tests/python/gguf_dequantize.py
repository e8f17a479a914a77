"""Dequantizes tensors of a GGUF file with the `gguf` package (the reference reader) and prints, per
tensor, its type, shape and values at fixed flat indices, as JSON.  Usage: gguf_dequantize.py FILE NAME..."""
import json, sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

reader = GGUFReader(sys.argv[1])
byname = {t.name: t for t in reader.tensors}
out = {}
for name in sys.argv[2:]:
    t = byname[name]
    values = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
    idx = np.linspace(0, values.size - 1, 2000).astype(np.int64)
    out[name] = {"type": t.tensor_type.name, "dims": [int(d) for d in t.shape], "indices": idx.tolist(),
                 "values": values[idx].tolist(), "sum": float(values.sum())}
print(json.dumps({"tensors": out}))
