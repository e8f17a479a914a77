#!/usr/bin/env python3
"""A bounded load on a running `forge serve`: ROUNDS rounds of 64 chat requests from 16 concurrent clients, half
streamed, every eighth one abandoned mid-stream by its client; then the server's counters and memory are checked.

Usage: python3 Tests/python/load_test.py BASE_URL MODEL SERVER_PID [ROUNDS]
Checked: no request fails; every reply that was waited for is complete (finish_reason, usage, [DONE] when streamed,
max_tokens tokens as ignore_eos asks); /metrics moved exactly as the traffic did (requests by route and status,
prompt tokens, generated tokens within what the abandoned streams can add); nothing is left running; the server's
resident memory after the last round is within 10% (and 48 MiB) of its memory after the first.
Prints one JSON object: {"checks": [...], "failures": [...], "rss_mib": [...]} (exit 0 either way).
"""
import asyncio, json, re, sys, time

import httpx

base, model, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
MAX_TOKENS, CLIENTS, REQUESTS = 24, 16, 64
checks, failures = [], []
SYSTEM = "You are a helpful assistant who answers in one short paragraph. " * 8


def expect(condition, message):
    if not condition:
        failures.append(message)
    return condition


def metrics_text():
    return httpx.get(base + "/metrics", timeout=30).text


def metric(text, name, labels=""):
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def body(i, stream):
    # Requests i and i + 1 ask the same thing, so an abandoned one's prompt size is known from its twin.
    q = i // 2
    return {"model": model, "max_tokens": MAX_TOKENS, "temperature": 0.7, "seed": q, "ignore_eos": True, "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
            "messages": [{"role": "system", "content": SYSTEM if q % 2 == 0 else "Be brief."},
                         {"role": "user", "content": f"Question {q}: what is {q} plus {q * 3}?"}]}


async def one(client, i):
    abandon = i % 8 == 7
    stream = i % 2 == 1
    r = {"i": i, "abandoned": abandon, "prompt_tokens": None, "completion_tokens": None}
    if not stream:
        resp = await client.post(base + "/v1/chat/completions", json=body(i, False))
        if not expect(resp.status_code == 200, f"request {i}: HTTP {resp.status_code} {resp.text[:200]}"):
            return r
        d = resp.json()
        c = d["choices"][0]
        expect(c["finish_reason"] == "length" and c["message"]["content"], f"request {i}: incomplete {d}")
        expect(d["usage"]["completion_tokens"] == MAX_TOKENS, f"request {i}: usage {d['usage']}")
        r.update(prompt_tokens=d["usage"]["prompt_tokens"], completion_tokens=d["usage"]["completion_tokens"])
        return r
    async with client.stream("POST", base + "/v1/chat/completions", json=body(i, True)) as resp:
        if not expect(resp.status_code == 200, f"request {i}: HTTP {resp.status_code}"):
            return r
        finish, usage, done, pieces = None, None, False, 0
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            event = json.loads(line[6:])
            expect("error" not in event, f"request {i}: error event {event}")
            if event.get("usage"):
                usage = event["usage"]
            for c in event.get("choices", []):
                finish = c.get("finish_reason") or finish
                if c.get("delta", {}).get("content"):
                    pieces += 1
            if abandon and pieces >= 3:
                return r  # leaves mid-stream: the connection closes here
        expect(done and finish == "length" and usage and usage["completion_tokens"] == MAX_TOKENS,
               f"request {i}: incomplete stream (done {done}, finish {finish}, usage {usage})")
        if usage:
            r.update(prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"])
        return r


async def load():
    results = []
    queue = list(range(REQUESTS))

    async def client_loop():
        async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as client:
            while queue:
                i = queue.pop(0)
                try:
                    results.append(await one(client, i))
                except Exception as e:  # noqa: BLE001
                    failures.append(f"request {i}: {type(e).__name__}: {e}")

    await asyncio.gather(*(client_loop() for _ in range(CLIENTS)))
    return results


rss = []
for round_ in range(rounds):
    before = metrics_text()
    started = time.time()
    results = asyncio.run(load())
    time.sleep(0.5)
    after = metrics_text()
    by_i = {r["i"]: r for r in results}
    done = [r for r in results if not r["abandoned"] and r["completion_tokens"] is not None]
    if expect(len(results) == REQUESTS and len(done) == REQUESTS - REQUESTS // 8,
              f"round {round_}: {len(results)} results, {len(done)} complete"):
        checks.append(f"round {round_}: {REQUESTS} requests, {len(done)} complete, {REQUESTS // 8} abandoned, "
                      f"{time.time() - started:.1f} s")
    route = '{route="/v1/chat/completions",status="200"}'
    d_requests = metric(after, "forge_http_requests_total", route) - metric(before, "forge_http_requests_total", route)
    d_prompt = metric(after, "forge_prompt_tokens_total") - metric(before, "forge_prompt_tokens_total")
    d_generated = metric(after, "forge_generated_tokens_total") - metric(before, "forge_generated_tokens_total")
    prompt_sum = sum((by_i.get(i ^ 1) if r["prompt_tokens"] is None else r)["prompt_tokens"] or 0 for i, r in by_i.items())
    completed_tokens = sum(r["completion_tokens"] for r in done)
    ok = expect(d_requests == REQUESTS, f"round {round_}: requests counter moved by {d_requests}")
    ok &= expect(d_prompt == prompt_sum, f"round {round_}: prompt tokens counter moved by {d_prompt}, sent {prompt_sum}")
    ok &= expect(completed_tokens + REQUESTS // 8 * 3 <= d_generated <= completed_tokens + REQUESTS // 8 * MAX_TOKENS,
                 f"round {round_}: generated counter moved by {d_generated}, completed replies hold {completed_tokens}")
    ok &= expect(metric(after, "forge_active_sequences") == 0 and metric(after, "forge_queue_depth") == 0,
                 f"round {round_}: still running: {metric(after, 'forge_active_sequences')} sequences, "
                 f"{metric(after, 'forge_queue_depth')} queued")
    if ok:
        checks.append(f"round {round_}: metrics match the traffic")
    rss.append(rss_mib())
growth = rss[-1] - rss[0]
if expect(growth <= 0.10 * rss[0] and growth <= 48, f"memory grew from {rss[0]:.0f} to {rss[-1]:.0f} MiB"):
    checks.append(f"memory flat: {', '.join(f'{x:.0f}' for x in rss)} MiB")
print(json.dumps({"checks": checks, "failures": failures, "rss_mib": rss}))
