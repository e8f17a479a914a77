"""Reads a GGUF file written by `forge export` with the reference reader (the `gguf` package) and compares every
tensor with the Hugging Face model dir it came from, transformed as llama.cpp's convert_hf_to_gguf.py does
(its own name table; Llama's Q/K rows permuted with the converter's reshape/swapaxes; GPT-2's Conv1D transposed).
Prints JSON: metadata (scalars and array lengths), per tensor the GGUF type, dims and max |difference|, and the
names present on one side only.  Usage: gguf_export_check.py FILE.gguf MODEL_DIR"""
import json, re, sys

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize
from safetensors.numpy import load_file

reader = GGUFReader(sys.argv[1])
config = json.load(open(sys.argv[2] + "/config.json"))
hf = load_file(sys.argv[2] + "/model.safetensors")

meta = {}
for f in reader.fields.values():
    if f.name.startswith("GGUF."):
        continue
    t = f.types[0]
    if t == GGUFValueType.ARRAY:
        meta[f.name] = {"array_length": len(f.data)}
    elif t == GGUFValueType.STRING:
        meta[f.name] = bytes(f.parts[f.data[0]]).decode("utf-8")
    else:
        meta[f.name] = f.parts[f.data[0]].tolist()[0]
        meta[f.name + "#type"] = t.name

arch = meta["general.architecture"]
LLAMA = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output",
         "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
         "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
         "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
GPT2 = {"wte": "token_embd", "wpe": "position_embd", "ln_f": "output_norm", "ln_1": "attn_norm", "attn.c_attn": "attn_qkv",
        "attn.c_proj": "attn_output", "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}


def permute(w, n_head):  # convert_hf_to_gguf.py LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


expected = {}
for name, w in hf.items():
    name = name.removeprefix("transformer.")
    stem, kind = name.rsplit(".", 1)
    m = re.match(r"(model\.layers|h)\.(\d+)\.(.*)", stem)
    table = LLAMA if arch == "llama" else GPT2
    if m:
        gname = f"blk.{m.group(2)}.{table[m.group(3)]}.{kind}"
    else:
        gname = f"{table[stem]}.{kind}"
    w = w.astype(np.float64)
    if arch == "llama" and name.endswith("q_proj.weight"):
        w = permute(w, config["num_attention_heads"])
    if arch == "llama" and name.endswith("k_proj.weight"):
        w = permute(w, config.get("num_key_value_heads", config["num_attention_heads"]))
    if arch == "gpt2" and kind == "weight" and w.ndim == 2 and not gname.startswith(("token_embd", "position_embd")):
        w = w.T  # Conv1D [in, out] → [out, in]
    expected[gname] = w

tensors = {}
for t in reader.tensors:
    values = dequantize(t.data, t.tensor_type).astype(np.float64).reshape([int(d) for d in reversed(t.shape)])
    e = expected.get(t.name)
    diff = None if e is None or e.shape != values.shape else float(np.max(np.abs(values - e)))
    tensors[t.name] = {"type": t.tensor_type.name, "dims": [int(d) for d in t.shape], "max_abs_diff": diff}
print(json.dumps({"metadata": meta, "tensors": tensors,
                  "missing_in_gguf": sorted(set(expected) - set(tensors)), "extra_in_gguf": sorted(set(tensors) - set(expected))}))
