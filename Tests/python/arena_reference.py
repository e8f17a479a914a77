#!/usr/bin/env python3
"""Reference arena statistics for ReviewTests, computed independently of Forge.

Usage: python3 Tests/python/arena_reference.py > Tests/ForgeTests/Fixtures/arena/reference.json

A fixed, seeded list of battles between four models (wins and ties). Online Elo is LMSYS's `compute_online_elo`
(K=4, scale 400, base 10, initial 1000); Bradley-Terry is LMSYS's `compute_mle_elo` (scikit-learn's unpenalised
LogisticRegression on the win table with ties as one win each and wins counted twice), without its anchor shift, and
again by Hunter's MM algorithm in plain numpy run to convergence. Cohen's kappa of two label lists is
sklearn.metrics.cohen_kappa_score. Prints one JSON object. Needs numpy and scikit-learn (only to write the fixture).
"""
import json, math, random

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

MODELS = ["alpha", "beta", "gamma", "delta"]
STRENGTH = {"alpha": 1.6, "beta": 1.0, "gamma": 0.7, "delta": 0.4}


def battles(n=60, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.sample(MODELS, 2)
        pa = STRENGTH[a] / (STRENGTH[a] + STRENGTH[b])
        u = rng.random()
        winner = "tie" if u < 0.15 else ("model_a" if rng.random() < pa else "model_b")
        out.append({"model_a": a, "model_b": b, "winner": winner})
    return out


def online_elo(battles, K=4, SCALE=400, BASE=10, INIT_RATING=1000):
    rating = {}
    for b in battles:
        ra, rb = rating.get(b["model_a"], INIT_RATING), rating.get(b["model_b"], INIT_RATING)
        ea = 1 / (1 + BASE ** ((rb - ra) / SCALE))
        eb = 1 / (1 + BASE ** ((ra - rb) / SCALE))
        sa = {"model_a": 1, "model_b": 0, "tie": 0.5}[b["winner"]]
        rating[b["model_a"]] = ra + K * (sa - ea)
        rating[b["model_b"]] = rb + K * (1 - sa - eb)
    return rating


def win_table(battles):
    """LMSYS's ptbl_win: a's wins over b counted twice, ties once for each side."""
    names = sorted({b["model_a"] for b in battles} | {b["model_b"] for b in battles})
    w = {(x, y): 0.0 for x in names for y in names}
    seen = set()
    for b in battles:
        a, c = b["model_a"], b["model_b"]
        seen.add((a, c)); seen.add((c, a))
        if b["winner"] == "model_a":
            w[(a, c)] += 2
        elif b["winner"] == "model_b":
            w[(c, a)] += 2
        else:
            w[(a, c)] += 1
            w[(c, a)] += 1
    return names, w, seen


def mle_elo_sklearn(battles, SCALE=400, BASE=10, INIT_RATING=1000):
    names, w, seen = win_table(battles)
    index = {m: i for i, m in enumerate(names)}
    p = len(names)
    X = np.zeros([p * (p - 1) * 2, p])
    Y = np.zeros(p * (p - 1) * 2)
    weights, row = [], 0
    for a in names:
        for b in names:
            if a == b or (a, b) not in seen:
                continue
            X[row, index[a]] = +math.log(BASE)
            X[row, index[b]] = -math.log(BASE)
            Y[row] = 1.0
            weights.append(w[(a, b)])
            X[row + 1, index[a]] = math.log(BASE)
            X[row + 1, index[b]] = -math.log(BASE)
            Y[row + 1] = 0.0
            weights.append(w[(b, a)])
            row += 2
    X, Y = X[:row], Y[:row]
    lr = LogisticRegression(fit_intercept=False, penalty=None, tol=1e-10, max_iter=10000)
    lr.fit(X, Y, sample_weight=weights)
    scores = SCALE * lr.coef_[0] + INIT_RATING
    return {m: float(scores[index[m]]) for m in names}


def mle_elo_mm(battles, SCALE=400, BASE=10, INIT_RATING=1000, iterations=100000):
    """Hunter's MM for Bradley-Terry with ties as half a win each; ratings centred on INIT_RATING."""
    names, w, _ = win_table(battles)
    p = len(names)
    score = np.array([[w[(x, y)] / 2 for y in names] for x in names])
    games = score + score.T
    strength = np.ones(p)
    for _ in range(iterations):
        new = score.sum(axis=1) / (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        new /= np.exp(np.log(new).mean())
        if np.max(np.abs(new - strength)) < 1e-15:
            strength = new
            break
        strength = new
    r = SCALE * np.log(strength) / math.log(BASE)
    r = r - r.mean() + INIT_RATING
    return {m: float(r[i]) for i, m in enumerate(names)}


def main():
    b = battles()
    sk = mle_elo_sklearn(b)
    # Two reviewers' verdicts on 12 items (categories a, b, tie) for Cohen's kappa.
    kappa_x = ["a", "a", "b", "tie", "a", "b", "b", "a", "tie", "a", "b", "a"]
    kappa_y = ["a", "b", "b", "tie", "a", "b", "a", "a", "a", "a", "b", "tie"]
    print(json.dumps({
        "sklearn_version": sklearn.__version__,
        "battles": b,
        "online_elo": online_elo(b),
        "bt_sklearn": sk,
        "bt_sklearn_mean": float(np.mean(list(sk.values()))),
        "bt_mm": mle_elo_mm(b),
        "kappa": {"x": kappa_x, "y": kappa_y, "cohen_kappa_score": float(cohen_kappa_score(kappa_x, kappa_y))},
    }, indent=1))


main()
