#!/usr/bin/env python3
"""Step-time model of data-parallel training on N nodes (docs/SCALING.md).

    t_step(N) = t_compute + t_allreduce(N)             (Forge does not overlap the exchange with the backward yet)
    t_compute = b / R                                   (b tokens per node per step, R tokens/s of one node)
    t_allreduce(N) = 2·log2(N)·α + 2·(N−1)/N · S/β       (recursive halving + doubling, Forge's collectives)
    ring (NCCL, gloo):   2·(N−1)·α + 2·(N−1)/N · S/β

S = 4·P bytes of Float32 gradients; α is the per-message latency and β the bandwidth each link gives.
Usage: python3 bench/scaling_model.py [--rate R] [--params P] [--tokens b] [--check-alpha A --check-beta B --check-rate R1]
"""
import argparse, math

p = argparse.ArgumentParser()
p.add_argument("--rate", type=float, default=1640, help="tokens/s of one node on the model (measured: bench/train_dp.sh)")
p.add_argument("--params", type=float, default=13.9e6, help="parameters (reference config: 13.9M)")
p.add_argument("--tokens", type=float, default=4096, help="tokens per node per step")
p.add_argument("--node-scale", type=float, default=32, help="compute of a 'big node' relative to this 2-core machine")
a = p.parse_args()

S = 4 * a.params
networks = [("10 GbE", 25e-6, 1.1e9), ("25 GbE", 10e-6, 2.8e9), ("100 Gb IB", 2e-6, 11e9)]


def allreduce(n, alpha, beta, ring=False):
    if n == 1:
        return 0.0
    lat = 2 * (n - 1) * alpha if ring else 2 * math.ceil(math.log2(n)) * alpha
    return lat + 2 * (n - 1) / n * S / beta


for label, rate in [("this machine (2 cores) per node", a.rate), (f"a node {a.node_scale:g}x this machine", a.rate * a.node_scale)]:
    tc = a.tokens / rate
    print(f"\n{label}: {a.params / 1e6:.1f}M parameters, {a.tokens:.0f} tokens per node per step, compute {tc * 1e3:.0f} ms per step")
    print("| network | N | all-reduce ms (ring) | step ms | tokens/s | efficiency |")
    print("|---|---|---|---|---|---|")
    for name, alpha, beta in networks:
        for n in (8, 64, 512):
            t = allreduce(n, alpha, beta)
            step = tc + t
            print(f"| {name} | {n} | {t * 1e3:.1f} ({allreduce(n, alpha, beta, ring=True) * 1e3:.1f}) | {step * 1e3:.0f} | "
                  f"{n * a.tokens / step:,.0f} | {tc / step:.0%} |")
