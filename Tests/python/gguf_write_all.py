"""Writes a GGUF file with the `gguf` package (the reference writer): one metadata key of every value type,
arrays, a custom alignment, and small tensors of each type Forge runs, then prints what a reader must find
(metadata, and per tensor its dims, type and values as the `gguf` package decodes them) as JSON.
Usage: gguf_write_all.py OUT.gguf"""
import json, sys

import numpy as np
from gguf import GGMLQuantizationType as Q, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

path = sys.argv[1]
w = GGUFWriter(path, "llama")
w.add_custom_alignment(64)
meta = [
    ("t.u8", "add_uint8", 200), ("t.i8", "add_int8", -100), ("t.u16", "add_uint16", 60000), ("t.i16", "add_int16", -30000),
    ("t.u32", "add_uint32", 4_000_000_000), ("t.i32", "add_int32", -2_000_000_000), ("t.f32", "add_float32", 0.1),
    ("t.bool", "add_bool", True), ("t.str", "add_string", "h\u00e9llo \u65e5\u672c"), ("t.u64", "add_uint64", 2**63 + 5),
    ("t.i64", "add_int64", -(2**62) - 3), ("t.f64", "add_float64", 0.1), ("t.ints", "add_array", [1, -2, 3]),
    ("t.strs", "add_array", ["a", "", "\u00df"]), ("t.floats", "add_array", [0.5, -1.25]),
]
for key, method, value in meta:
    getattr(w, method)(key, value)

rng = np.random.default_rng(7)
shapes = {"F32": (3, 64), "F16": (2, 96), "BF16": (2, 64), "Q8_0": (5, 64), "Q4_0": (3, 96), "Q4_1": (4, 64),
          "Q5_0": (2, 64), "Q5_1": (3, 32), "Q4_K": (2, 256), "Q6_K": (2, 512)}
for name, (rows, cols) in shapes.items():
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    qtype = Q[name]
    if name == "F32":
        w.add_tensor(f"w.{name}", x)
    elif name == "F16":
        w.add_tensor(f"w.{name}", x.astype(np.float16))
    elif name in ("Q4_K", "Q6_K"):
        # The package decodes K-quants but does not encode them: random blocks with sane f16 scales.
        block = {"Q4_K": 144, "Q6_K": 210}[name]
        raw = rng.integers(0, 256, size=(rows, cols // 256 * block), dtype=np.uint8)
        for r in range(rows):
            for b in range(cols // 256):
                o = b * block + (0 if name == "Q4_K" else 208)
                raw[r, o:o + 2] = np.frombuffer(np.float16(0.01).tobytes(), dtype=np.uint8)
                if name == "Q4_K":
                    raw[r, o + 2:o + 4] = np.frombuffer(np.float16(0.003).tobytes(), dtype=np.uint8)
        w.add_tensor(f"w.{name}", raw, raw_dtype=qtype)
    else:
        w.add_tensor(f"w.{name}", quantize(x, qtype), raw_dtype=qtype)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

reader = GGUFReader(path)
tensors = {}
for t in reader.tensors:
    values = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
    tensors[t.name] = {"type": t.tensor_type.name, "dims": [int(d) for d in t.shape], "values": values.tolist()}
out_meta = {key: value for key, _, value in meta}
print(json.dumps({"metadata": out_meta, "alignment": 64, "tensors": tensors}))
