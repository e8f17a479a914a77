#!/usr/bin/env python3
"""Tool calling through the official `openai` client against a running `forge serve` (started by the Swift test with
SmolLM2-135M-Instruct, whose template has no tools: Forge's fallback prompt is used). A 135M model does not call tools
reliably by itself, so the round trips force the call with tool_choice (a named function, or "required" with one
tool): Forge writes the start of the call into the prompt and the model writes the arguments, which are then parsed
(and repaired where needed). What the model chose to write is reported, not judged, except that it must come back
as either a call with JSON-object arguments or a reported error.

Usage: python3 Tests/python/openai_tools.py BASE_URL MODEL
Prints one JSON object: {"checks": [...], "failures": ["name: why", ...], "arguments": [...]} (exit 0 either way).
"""
import json, sys

import openai
from openai import OpenAI

base, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)
checks, failures, seen_arguments = [], [], []

calculator = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluates an arithmetic expression.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string", "description": "e.g. 2 + 2"}},
                   "required": ["expression"]}}}
weather = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
question = [{"role": "user", "content": "What is 12 times 7? Use the calculator."}]


def check(name, fn):
    try:
        fn()
        checks.append(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        failures.append(f"{name}: {type(e).__name__}: {e}")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def forced_call_round_trip():
    first = client.chat.completions.create(model=model, messages=question, tools=[calculator], temperature=0, max_tokens=48,
                                           tool_choice={"type": "function", "function": {"name": "calculator"}})
    choice = first.choices[0]
    expect(choice.finish_reason == "tool_calls", f"finish {choice.finish_reason}: {choice.message}")
    calls = choice.message.tool_calls
    expect(calls and len(calls) == 1, f"calls {calls}")
    call = calls[0]
    expect(call.type == "function" and call.function.name == "calculator", f"call {call}")
    expect(call.id.startswith("call_") and len(call.id) > 10, f"id {call.id}")
    args = json.loads(call.function.arguments)
    expect(isinstance(args, dict), f"arguments {call.function.arguments!r}")
    seen_arguments.append(call.function.arguments)
    # The result goes back as a tool message; the model answers (tools still offered, "auto").
    history = question + [choice.message.model_dump(exclude_none=True),
                          {"role": "tool", "tool_call_id": call.id, "content": "84"}]
    second = client.chat.completions.create(model=model, messages=history, tools=[calculator], temperature=0, max_tokens=32,
                                            tool_choice="none")
    answer = second.choices[0]
    expect(answer.finish_reason in ("stop", "length") and not answer.message.tool_calls, f"second {answer}")
    expect(isinstance(answer.message.content, str) and answer.message.content.strip(), f"answer {answer.message.content!r}")


def streamed_forced_call():
    name, arguments, ids, finish = "", "", [], None
    for chunk in client.chat.completions.create(model=model, messages=question, tools=[calculator], temperature=0, max_tokens=48,
                                                tool_choice="required", stream=True):
        for c in chunk.choices:
            for d in c.delta.tool_calls or []:
                if d.id:
                    ids.append(d.id)
                if d.function and d.function.name:
                    name += d.function.name
                if d.function and d.function.arguments:
                    arguments += d.function.arguments
            if c.finish_reason:
                finish = c.finish_reason
    expect(finish == "tool_calls" and name == "calculator" and len(ids) == 1, f"streamed {finish} {name} {ids}")
    expect(isinstance(json.loads(arguments), dict), f"arguments {arguments!r}")
    # Same request, not streamed: the same call (greedy).
    whole = client.chat.completions.create(model=model, messages=question, tools=[calculator], temperature=0, max_tokens=48,
                                           tool_choice="required")
    expect(whole.choices[0].message.tool_calls[0].function.arguments == arguments, "streamed arguments differ from whole")


def truncated_arguments_repaired_or_reported():
    # Three tokens cannot finish the arguments: they are repaired (closing quote and braces) or reported, never a 500.
    r = client.chat.completions.create(model=model, messages=question, tools=[calculator], temperature=0, max_tokens=3,
                                       tool_choice={"type": "function", "function": {"name": "calculator"}})
    m = r.choices[0].message
    if m.tool_calls:
        expect(isinstance(json.loads(m.tool_calls[0].function.arguments), dict), "repaired arguments are a JSON object")
        seen_arguments.append(m.tool_calls[0].function.arguments)
    else:
        expect((m.model_extra or {}).get("tool_call_error"), f"neither a call nor an error: {m}")


def required_among_two():
    r = client.chat.completions.create(model=model, messages=question, tools=[weather, calculator], temperature=0, max_tokens=48,
                                       tool_choice="required")
    m = r.choices[0].message
    if m.tool_calls:
        expect(all(c.function.name in ("calculator", "get_weather") for c in m.tool_calls), f"names {m.tool_calls}")
        expect(r.choices[0].finish_reason == "tool_calls", "finish")
    else:  # the model named no offered tool: reported, with its text as content
        expect((m.model_extra or {}).get("tool_call_error") and m.content, f"neither a call nor an error: {m}")


def none_gives_text():
    r = client.chat.completions.create(model=model, messages=question, tools=[calculator], temperature=0, max_tokens=16,
                                       tool_choice="none")
    expect(not r.choices[0].message.tool_calls and r.choices[0].finish_reason in ("stop", "length"), f"{r.choices[0]}")


def bad_requests():
    def status(**kw):
        try:
            client.chat.completions.create(model=model, max_tokens=4, **kw)
        except openai.BadRequestError as e:
            return e.status_code, e.body.get("param") if isinstance(e.body, dict) else None
        return 200, None
    expect(status(messages=question, tools=[calculator], tool_choice={"type": "function", "function": {"name": "nope"}})
           == (400, "tool_choice"), "unknown tool in tool_choice")
    expect(status(messages=question, tool_choice="required") == (400, "tool_choice"), "tool_choice without tools")
    expect(status(messages=question, tools=[{"type": "retrieval"}])[0] == 400, "tool of another type")
    expect(status(messages=question + [{"role": "tool", "tool_call_id": "call_x", "content": "1"}])
           == (400, "messages[1].tool_call_id"), "tool message answering no call")


for name, fn in [("forced_call_round_trip", forced_call_round_trip), ("streamed_forced_call", streamed_forced_call),
                 ("truncated_arguments_repaired_or_reported", truncated_arguments_repaired_or_reported),
                 ("required_among_two", required_among_two), ("none_gives_text", none_gives_text), ("bad_requests", bad_requests)]:
    check(name, fn)
print(json.dumps({"checks": checks, "failures": failures, "arguments": seen_arguments}))
