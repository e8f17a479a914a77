#!/usr/bin/env python3
"""Load for an OpenAI-compatible server: CLIENTS concurrent clients each send REQUESTS streamed chat completions one
after another, and the figures come back as one JSON line.

    python3 bench/serve_load.py BASE_URL MODEL --clients 8 [--requests 4] [--max-tokens 128]

Half the clients' requests start with the same long system prompt (the case prefix caching is for), the others with a
short one; every request asks a different question. Requests are streamed with `ignore_eos` (llama.cpp's and Forge's
extension) so both servers generate exactly max_tokens tokens per request; temperature 0.
Printed: generated tokens/s over the whole run (first request sent to last reply done), p50/p99 time to first token
and request latency in seconds, and the count of replies that were not complete (must be 0).
"""
import argparse, asyncio, json, statistics, time

import httpx

SYSTEM_LONG = (
    "You are the reference librarian of a large public library. You answer questions about books, authors, history, "
    "science and everyday matters. You are precise and patient; you explain your reasoning in plain words, you cite the "
    "kind of source a reader could look up, and you say clearly when you do not know something. You never invent "
    "quotations, dates or titles. When a question is ambiguous you say which reading you answer. You prefer short "
    "paragraphs to long ones and lists to tables. You keep a warm, calm tone, and you remember that the readers who "
    "ask you questions range from schoolchildren to retired professors, so you adjust your vocabulary to the question "
    "while never talking down to anyone. When asked for a recommendation, you give two or three titles with one "
    "sentence each on why they fit. When asked about a historical event, you give the date, the place, the main people "
    "involved and one consequence. When asked about a scientific idea, you give the idea in one sentence, an everyday "
    "example, and the name of the person or group who first described it. When asked something outside the library's "
    "subjects, such as medical or legal advice for a particular case, you say that a professional should be consulted "
    "and point to general sources instead. "
) * 2
SYSTEM_SHORT = "You are a helpful assistant."
TOPICS = ["the printing press", "lighthouses", "the water cycle", "chess openings", "bread baking", "the Roman roads",
          "volcanoes", "honey bees", "the violin", "paper money", "glaciers", "the telescope", "tea", "sailing ships",
          "the alphabet", "bridges", "clocks", "salt", "maps", "the bicycle"]


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def one(client, base, model, max_tokens, client_id, i, key):
    system = SYSTEM_LONG if client_id % 2 == 0 else SYSTEM_SHORT
    topic = TOPICS[(client_id * 7 + i * 3) % len(TOPICS)]
    body = {"model": model, "stream": True, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": f"Client {client_id}, question {i}: tell me about {topic}."}]}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    start = time.perf_counter()
    first, chunks, usage, done = None, 0, None, False
    async with client.stream("POST", base + "/v1/chat/completions", json=body, headers=headers) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {(await r.aread())[:200]!r}")
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if event.get("usage"):
                usage = event["usage"]
            for c in event.get("choices") or []:
                if (c.get("delta") or {}).get("content"):
                    if first is None:
                        first = time.perf_counter() - start
                    chunks += 1
    latency = time.perf_counter() - start
    tokens = usage["completion_tokens"] if usage else chunks
    return {"ttft": first if first is not None else latency, "latency": latency, "tokens": tokens,
            "complete": done and tokens == max_tokens}


async def run(args):
    limits = httpx.Limits(max_connections=args.clients + 4, max_keepalive_connections=args.clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as client:
        await one(client, args.base, args.model, 8, 999, 0, args.key)  # warm-up, not counted
        results = []

        async def worker(c):
            for i in range(args.requests):
                results.append(await one(client, args.base, args.model, args.max_tokens, c, i, args.key))

        start = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in range(args.clients)))
        wall = time.perf_counter() - start
    ttft = [r["ttft"] for r in results]
    lat = [r["latency"] for r in results]
    tokens = sum(r["tokens"] for r in results)
    return {"clients": args.clients, "requests": len(results), "tokens": tokens, "seconds": wall,
            "tokens_per_second": tokens / wall, "ttft_p50": percentile(ttft, 50), "ttft_p99": percentile(ttft, 99),
            "latency_p50": percentile(lat, 50), "latency_p99": percentile(lat, 99),
            "incomplete": sum(not r["complete"] for r in results)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("base")
    p.add_argument("model")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--requests", type=int, default=4, help="requests per client")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--key", default=None)
    print(json.dumps(asyncio.run(run(p.parse_args()))))


if __name__ == "__main__":
    main()
