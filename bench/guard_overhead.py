#!/usr/bin/env python3
"""Guardrail overhead on streamed replies in `forge serve`: the same requests against a server without and with
`--guard POLICY`, alternated, timing every streamed chunk. Prints the mean time per token of each, the added latency per
token and the ratio, from one run.

  python3 bench/guard_overhead.py --forge .build/release/forge --model SmolLM2.gguf --policy policy.yml [--requests 8]
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time, urllib.request


def start(forge, model, extra):
    log = tempfile.NamedTemporaryFile(delete=False, suffix=".log")
    p = subprocess.Popen([forge, "serve", "--model", model, "--name", "m", "--port", "0", "--context", "1024"] + extra,
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(240):
        text = open(log.name).read()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", text)
        if m:
            return p, int(m.group(1))
        time.sleep(0.25)
    p.kill()
    sys.exit("forge serve did not start: " + open(log.name).read()[-2000:])


def stream(port, prompt, tokens):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens, "temperature": 0,
                       "stream": True, "ignore_eos": True}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    stamps = []
    with urllib.request.urlopen(req) as r:
        for line in r:
            if line.startswith(b"data: {"):
                stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps, stamps[1:])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--forge", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--policy", required=True)
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    a = ap.parse_args()
    prompts = ["Tell me a long story about a lighthouse keeper.", "Explain how rain forms, step by step.",
               "Write a letter to a friend about your garden.", "Describe a busy market in the morning."]
    gaps = {"plain": [], "guarded": []}
    for rnd in range(2):
        for name, extra in [("plain", []), ("guarded", ["--guard", a.policy])]:
            p, port = start(a.forge, a.model, extra)
            try:
                for i in range(a.requests // 2):
                    gaps[name] += stream(port, prompts[i % len(prompts)], a.tokens)
            finally:
                p.terminate()
                p.wait()
    plain, guarded = statistics.mean(gaps["plain"]) * 1000, statistics.mean(gaps["guarded"]) * 1000
    print(f"streamed chunks: plain {len(gaps['plain'])}, guarded {len(gaps['guarded'])} (servers alternated, 2 rounds)")
    print(f"ms per chunk: plain {plain:.2f}, guarded {guarded:.2f}; added {guarded - plain:+.2f} ms per token; ratio {guarded / plain:.3f}")


if __name__ == "__main__":
    main()
