#!/usr/bin/env python3
"""Structured output through the official `openai` client against a running `forge serve` (no API key).

Usage: python3 Tests/python/openai_structured.py BASE_URL MODEL
Checks response_format json_schema (whole and streamed, chat and completions), json_object, a schema Forge cannot
compile (400 naming the construct) and a cut-off reply (finish_reason "length"); every reply is checked with
`jsonschema`. Prints {"checks": [names that passed], "failures": ["name: why", ...]} (exit 0 either way).
"""
import json
import sys

import jsonschema
import openai
from openai import OpenAI

base, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)
checks, failures = [], []

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 1, "maxItems": 3},
    },
    "required": ["name", "age", "hobbies"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA, "strict": True}}
MESSAGES = [{"role": "user", "content": "Invent a person who likes the sea. Reply in JSON."}]


def check(name, fn):
    try:
        fn()
        checks.append(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        failures.append(f"{name}: {type(e).__name__}: {e}")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def chat_json_schema():
    r = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=120, temperature=0, response_format=FORMAT)
    expect(r.choices[0].finish_reason == "stop", f"finish {r.choices[0].finish_reason}")
    jsonschema.validate(json.loads(r.choices[0].message.content), SCHEMA)
    pieces, finish = [], None
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=120, temperature=0,
                                                response_format=FORMAT, stream=True):
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            finish = c.finish_reason or finish
    expect("".join(pieces) == r.choices[0].message.content, f"streamed {''.join(pieces)!r} vs {r.choices[0].message.content!r}")
    expect(finish == "stop", f"streamed finish {finish}")


def sampled_choices():
    r = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=120, temperature=1.0, seed=3, n=4,
                                       response_format=FORMAT)
    for c in r.choices:
        expect(c.finish_reason == "stop", f"finish {c.finish_reason}: {c.message.content!r}")
        jsonschema.validate(json.loads(c.message.content), SCHEMA)


def completions_json_schema():
    r = client.completions.create(model=model, prompt="A person as JSON:", max_tokens=120, temperature=0,
                                  extra_body={"response_format": FORMAT})
    jsonschema.validate(json.loads(r.choices[0].text), SCHEMA)


def json_object():
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Describe Paris in JSON."}],
                                       max_tokens=200, temperature=0, response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop":
        expect(isinstance(json.loads(r.choices[0].message.content), dict), "not an object")
    else:
        expect(r.choices[0].message.content.startswith("{"), f"{r.choices[0].message.content!r}")


def unsupported_schema():
    bad = {"type": "json_schema", "json_schema": {"name": "bad", "schema": {
        "type": "object", "properties": {"x": {"type": "object", "patternProperties": {"^a": {"type": "string"}}}}}}}
    try:
        client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=10, response_format=bad)
    except openai.BadRequestError as e:
        expect(e.status_code == 400, f"status {e.status_code}")
        body = e.body if isinstance(e.body, dict) else {}
        message = body.get("message", "") if "message" in body else str(e)
        expect("patternProperties" in message and "#/properties/x" in message, f"message {message}")
        expect(body.get("param") == "response_format" and body.get("type") == "invalid_request_error", f"body {body}")
        return
    raise AssertionError("accepted")


def cut_short():
    r = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=5, temperature=0, response_format=FORMAT)
    expect(r.choices[0].finish_reason == "length", f"finish {r.choices[0].finish_reason}")


for name, fn in [("chat_json_schema", chat_json_schema), ("sampled_choices", sampled_choices),
                 ("completions_json_schema", completions_json_schema), ("json_object", json_object),
                 ("unsupported_schema", unsupported_schema), ("cut_short", cut_short)]:
    check(name, fn)
print(json.dumps({"checks": checks, "failures": failures}))
