#!/usr/bin/env python3
"""Guardrail overhead on streamed replies in `forge serve`: the same requests against a server without and with
`--guard POLICY` (or `--moderation M`, e.g. classifier:DIR), alternated, timing every streamed chunk. Prints the mean time per token of each, the added latency per
token and the ratio, from one run.

  python3 bench/guard_overhead.py --forge .build/release/forge --model SmolLM2.gguf --policy policy.yml [--requests 8]
  python3 bench/guard_overhead.py --forge .build/release/forge --model SmolLM2.gguf --moderation classifier:CLF_DIR
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
    t0, first = time.perf_counter(), None
    with urllib.request.urlopen(req) as r:
        for line in r:
            if line.startswith(b"data: {") and first is None:
                first = time.perf_counter() - t0
    return first, (time.perf_counter() - t0) / tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--forge", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--policy", help="a guardrail policy (--guard)")
    ap.add_argument("--moderation", help="a --moderation value instead of a policy (rules file or classifier:DIR)")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    a = ap.parse_args()
    if (a.policy is None) == (a.moderation is None):
        sys.exit("give --policy or --moderation")
    guarded = ["--guard", a.policy] if a.policy else ["--moderation", a.moderation]
    prompts = ["Tell me a long story about a lighthouse keeper.", "Explain how rain forms, step by step.",
               "Write a letter to a friend about your garden.", "Describe a busy market in the morning."]
    gaps = {"plain": [], "guarded": []}  # (first chunk s, s per token) per request
    for rnd in range(2):
        for name, extra in [("plain", []), ("guarded", guarded)]:
            p, port = start(a.forge, a.model, extra)
            try:
                for i in range(a.requests // 2):
                    gaps[name].append(stream(port, prompts[i % len(prompts)], a.tokens))
            finally:
                p.terminate()
                p.wait()
    per = {k: statistics.mean(t for _, t in v) * 1000 for k, v in gaps.items()}
    first = {k: statistics.mean(f for f, _ in v) * 1000 for k, v in gaps.items()}
    print(f"{len(gaps['plain'])} + {len(gaps['guarded'])} streamed replies of {a.tokens} tokens (servers alternated, 2 rounds)")
    print(f"ms per token (whole reply): plain {per['plain']:.2f}, guarded {per['guarded']:.2f}; added {per['guarded'] - per['plain']:+.2f} ms "
          f"per token; ratio {per['guarded'] / per['plain']:.3f}")
    print(f"first chunk: plain {first['plain']:.0f} ms, guarded {first['guarded']:.0f} ms (the guard holds back the last 48 characters)")


if __name__ == "__main__":
    main()
