#!/usr/bin/env python3
"""The official `openai` client against a running `forge serve` (started by the Swift test with an API key, a moderation
rule for the word "forbiddenword", --max-body-bytes 65536 and a small requests-per-minute limit on a second key).

Usage: python3 Tests/python/openai_client.py BASE_URL KEY MODEL LIMITED_KEY
Prints one JSON object: {"checks": [names that passed], "failures": ["name: why", ...]} (exit 0 either way:
the caller judges the failures).
"""
import json, sys

import httpx
import openai
from openai import OpenAI

base, key, model, limited_key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=120)
checks, failures = [], []


def check(name, fn):
    try:
        fn()
        checks.append(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        failures.append(f"{name}: {type(e).__name__}: {e}")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


messages = [{"role": "user", "content": "Name three primary colors."}]


def chat_stream_equals_chat():
    full = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0)
    expect(full.object == "chat.completion" and full.choices[0].message.role == "assistant", f"shape {full}")
    text = full.choices[0].message.content
    expect(len(text) > 0, "empty reply")
    u = full.usage
    expect(u.prompt_tokens > 0 and u.completion_tokens > 0 and u.total_tokens == u.prompt_tokens + u.completion_tokens, f"usage {u}")
    expect(full.choices[0].finish_reason in ("stop", "length"), f"finish {full.choices[0].finish_reason}")
    pieces, finish, usage = [], None, None
    for chunk in client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    expect("".join(pieces) == text, f"streamed {''.join(pieces)!r} != {text!r}")
    expect(finish == full.choices[0].finish_reason, f"finish {finish}")
    expect(usage is not None and usage.completion_tokens == u.completion_tokens, f"stream usage {usage} vs {u}")


def completion_stream_equals_completion():
    full = client.completions.create(model=model, prompt="The capital of France is", max_tokens=12, temperature=0)
    expect(full.object == "text_completion", f"object {full.object}")
    pieces = [c.choices[0].text for c in client.completions.create(model=model, prompt="The capital of France is", max_tokens=12,
                                                                   temperature=0, stream=True) if c.choices]
    expect("".join(pieces) == full.choices[0].text, f"streamed {''.join(pieces)!r} != {full.choices[0].text!r}")


def stop_strings():
    r = client.completions.create(model=model, prompt="1, 2, 3, 4,", max_tokens=30, temperature=0, stop=[" 7"])
    expect(" 7" not in r.choices[0].text and r.choices[0].finish_reason == "stop", f"{r.choices[0]}")


def seed_and_n():
    a = client.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=1.0, seed=5, n=3)
    b = client.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=1.0, seed=5, n=3)
    expect(len(a.choices) == 3 and [c.index for c in a.choices] == [0, 1, 2], "three choices")
    expect([c.message.content for c in a.choices] == [c.message.content for c in b.choices], "same seed, same texts")
    expect(len({c.message.content for c in a.choices}) > 1, "choices differ")


def logprobs():
    r = client.chat.completions.create(model=model, messages=messages, max_tokens=5, temperature=0, logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    expect(len(content) == r.usage.completion_tokens, f"{len(content)} logprobs for {r.usage.completion_tokens} tokens")
    for t in content:
        expect(t.logprob <= 0 and len(t.top_logprobs) == 2 and t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob, f"{t}")
        expect(t.token == t.top_logprobs[0].token, "greedy picks the most likely token")
    legacy = client.completions.create(model=model, prompt="Hello", max_tokens=3, temperature=0, logprobs=2)
    expect(len(legacy.choices[0].logprobs.token_logprobs) == 3, f"{legacy.choices[0].logprobs}")


def models():
    ids = [m.id for m in client.models.list()]
    expect(ids == [model], f"models {ids}")


def wrong_key():
    bad = OpenAI(base_url=base + "/v1", api_key="not-the-key", max_retries=0)
    try:
        bad.chat.completions.create(model=model, messages=messages, max_tokens=2)
    except openai.AuthenticationError as e:
        expect(e.status_code == 401 and e.body["code"] == "invalid_api_key", f"{e.body}")
        return
    raise AssertionError("a wrong key was accepted")


def unknown_model():
    try:
        client.chat.completions.create(model="gpt-5", messages=messages, max_tokens=2)
    except openai.NotFoundError as e:
        expect(e.body["code"] == "model_not_found", f"{e.body}")
        return
    raise AssertionError("an unknown model was accepted")


def malformed_json():
    r = httpx.post(base + "/v1/chat/completions", content=b'{"model": ', headers={"Authorization": "Bearer " + key,
                                                                                  "Content-Type": "application/json"})
    expect(r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", f"{r.status_code} {r.text}")


def negative_max_tokens():
    try:
        client.chat.completions.create(model=model, messages=messages, max_tokens=-5)
    except openai.BadRequestError as e:
        expect(e.body["param"] == "max_tokens", f"{e.body}")
        return
    raise AssertionError("max_tokens -5 was accepted")


def content_filter():
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "say forbiddenword please"}], max_tokens=2)
    except openai.BadRequestError as e:
        expect(e.body["code"] == "content_filter", f"{e.body}")
        return
    raise AssertionError("blocked input was accepted")


def body_too_large():
    r = httpx.post(base + "/v1/chat/completions", headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
                   content=json.dumps({"model": model, "messages": [{"role": "user", "content": "x" * 100000}]}))
    expect(r.status_code == 413 and r.json()["error"]["message"], f"{r.status_code} {r.text[:200]}")


def rate_limit():
    limited = OpenAI(base_url=base + "/v1", api_key=limited_key, max_retries=0)
    statuses = []
    for _ in range(4):
        try:
            limited.chat.completions.create(model=model, messages=messages, max_tokens=1)
            statuses.append(200)
        except openai.RateLimitError as e:
            statuses.append(429)
            expect(int(e.response.headers["retry-after"]) >= 1, "Retry-After")
    expect(statuses[:2] == [200, 200] and 429 in statuses[2:], f"statuses {statuses}")


def user_field():
    r = client.chat.completions.create(model=model, messages=messages, max_tokens=2, user="tester-1", presence_penalty=0.5,
                                       frequency_penalty=0.5, top_p=0.9, max_completion_tokens=2)
    expect(r.usage.completion_tokens <= 2, f"{r.usage}")


for name, fn in [("chat, streamed equals whole, usage", chat_stream_equals_chat),
                 ("completion, streamed equals whole", completion_stream_equals_completion), ("stop strings", stop_strings),
                 ("seed and n", seed_and_n), ("logprobs", logprobs), ("models", models), ("wrong key", wrong_key),
                 ("unknown model", unknown_model), ("malformed JSON", malformed_json), ("negative max_tokens", negative_max_tokens),
                 ("content filter", content_filter), ("body too large", body_too_large), ("rate limit", rate_limit),
                 ("user, penalties, top_p", user_field)]:
    check(name, fn)
print(json.dumps({"checks": checks, "failures": failures}))
