#!/usr/bin/env python3
"""Forge's toxicity classifier beside two real baselines on the same held-out texts.

  better-profanity (PyPI, a word list with leetspeak variants) and alt-profanity-check (PyPI, a linear SVM trained on
  ~200k human-labelled comments) score the test split of `forge classifier data`; Forge's classifier scores the same
  texts through `forge classifier score`. Precision, recall, F1 and texts/s of each, one run, side by side.

  python3 bench/classifier_baselines.py --data tox.jsonl --classifier RUN/classifier --forge .build/release/forge
"""
import argparse, json, os, subprocess, sys, tempfile, time


def scores(pred, labels):
    tp = sum(1 for p, y in zip(pred, labels) if p and y == 1)
    fp = sum(1 for p, y in zip(pred, labels) if p and y == 0)
    fn = sum(1 for p, y in zip(pred, labels) if not p and y == 1)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--forge", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the table as JSON here")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.data) if l.strip()]
    rows = [r for r in rows if a.split == "all" or r["split"] == a.split]
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    table = []

    from better_profanity import profanity
    profanity.load_censor_words()
    t = time.perf_counter()
    pred = [profanity.contains_profanity(x) for x in texts]
    table.append(("better-profanity 0.7.0", scores(pred, labels), len(texts) / (time.perf_counter() - t)))

    from profanity_check import predict
    t = time.perf_counter()
    pred = [bool(p) for p in predict(texts)]
    table.append(("alt-profanity-check", scores(pred, labels), len(texts) / (time.perf_counter() - t)))

    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.jsonl"), os.path.join(d, "out.jsonl")
        with open(src, "w") as f:
            for x in texts:
                f.write(json.dumps({"text": x}) + "\n")
        t = time.perf_counter()
        subprocess.run([a.forge, "classifier", "score", "--classifier", a.classifier, "--input", src, "--output", out,
                        "--threads", str(a.threads)], check=True)
        secs = time.perf_counter() - t
        got = [json.loads(l) for l in open(out)]
    pred = [g["flagged"] for g in got]
    table.append(("Forge classifier (process, load included)", scores(pred, labels), len(texts) / secs))

    print(f"{len(texts)} texts ({sum(labels)} toxic), split {a.split}")
    print(f"{'':44s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'texts/s':>9s}")
    for name, (p, r, f), tps in table:
        print(f"{name:44s} {p:9.3f} {r:7.3f} {f:6.3f} {tps:9.0f}")
    best = max(f for _, (_, _, f), _ in table[:2])
    print(f"Forge F1 / best baseline F1: {table[2][1][2] / best:.2f}x")
    by_source = {}
    for r, p in zip(rows, pred):
        ok = p == (r["label"] == 1)
        s = by_source.setdefault(r["source"], [0, 0])
        s[0] += ok
        s[1] += 1
    print("Forge, share right per source: " + ", ".join(f"{k} {v[0] / v[1]:.2f} ({v[1]})" for k, v in sorted(by_source.items())))
    if a.json:
        json.dump([{"name": n, "precision": p, "recall": r, "f1": f, "texts_per_s": t} for n, (p, r, f), t in table], open(a.json, "w"), indent=1)
    sys.exit(0 if table[2][1][2] > best else 1)


if __name__ == "__main__":
    main()
