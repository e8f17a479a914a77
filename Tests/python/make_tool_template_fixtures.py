#!/usr/bin/env python3
"""Writes Tests/ForgeTests/Fixtures/tool_templates.json: conversations with tools (OpenAI-format `tools`, assistant
`tool_calls` with arguments as objects, `tool` messages with `tool_call_id`) rendered by Hugging Face transformers'
own renderer (transformers.utils.chat_template_utils.render_jinja_template) with the templates in
chat_templates.json that define tools: Llama 3.1/3.2/3.3, Qwen 2.5, Mistral Nemo and Small 3.2 (llama.cpp's copies
from the llama-cpp-python==0.3.36 source package, fetched by scripts/fetch_llama_vocab.py). Templates are referenced,
not copied. Errors raised by a template are recorded as expected errors.

Usage: python3 Tests/python/make_tool_template_fixtures.py   (needs transformers, jinja2)
"""
import datetime as _datetime
import json, os, subprocess, sys

import transformers
import transformers.utils.chat_template_utils as _ctu
from transformers.utils.chat_template_utils import render_jinja_template

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
models = subprocess.check_output([sys.executable, os.path.join(root, "scripts", "fetch_llama_vocab.py")], text=True).strip()

templates = [
    ("llama-3.1", "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama-3.2", "meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama-3.3", "meta-llama-Llama-3.3-70B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    ("qwen-2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>"),
    ("mistral-nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    ("mistral-small-3.2", "Mistral-Small-3.2-24B-Instruct-2506.jinja", "<s>", "</s>"),
]

weather = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
calculator = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluates an arithmetic expression.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}

S = lambda c: {"role": "system", "content": c}
U = lambda c: {"role": "user", "content": c}
# Mistral's templates want call ids of exactly 9 letters or digits.
call = {"id": "abc123XYZ", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
called = {"role": "assistant", "content": None, "tool_calls": [call]}
result = {"role": "tool", "tool_call_id": "abc123XYZ", "content": "18 degrees, sunny"}
conversations = [
    ([U("What is the weather in Paris?")], [weather], True),
    ([S("You are a weather bot."), U("Weather in Paris, please.")], [weather, calculator], True),
    ([U("What is the weather in Paris?"), called, result], [weather], True),
    ([S("Be brief."), U("Weather in Paris?"), called, result, {"role": "assistant", "content": "It is 18 degrees and sunny."},
      U("And 2+2?")], [weather, calculator], True),
]

# Templates that print today's date render with this fixed moment (as chat_templates.json).
NOW = "2026-11-23T12:00:00"
class _FrozenDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return _datetime.datetime.fromisoformat(NOW)
_ctu.datetime = _FrozenDatetime

out = []
for name, file, bos, eos in templates:
    src = open(os.path.join(models, "templates", file), encoding="utf-8").read()
    cases = []
    for msgs, tools, agp in conversations:
        case = {"messages": msgs, "tools": tools, "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos,
                "date_string": "26 Jul 2024"}
        try:
            case["expected"] = render_jinja_template([msgs], tools=tools, chat_template=src, add_generation_prompt=agp,
                                                     bos_token=bos, eos_token=eos, date_string="26 Jul 2024")[0][0]
        except Exception as e:  # raise_exception() in the template, or an error while rendering
            case["error"] = str(e)
        cases.append(case)
    out.append({"name": name, "source": {"llama.cpp": "models/templates/" + file}, "cases": cases})
path = os.path.join(root, "Tests", "ForgeTests", "Fixtures", "tool_templates.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump({"generator": "Tests/python/make_tool_template_fixtures.py", "transformers": transformers.__version__, "now": NOW,
               "templates": out}, f, ensure_ascii=False, indent=1)
print(f"{sum(len(t['cases']) for t in out)} renders of {len(out)} templates -> {path}")
