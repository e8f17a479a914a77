#!/usr/bin/env python3
"""PyTorch peer for `forge bench train`: the same GPT-2-style reference config on the CPU.

Usage: python3 bench/train_pytorch.py [--threads 2] [--steps 8] [--bf16]
       torchrun --nproc_per_node 2 bench/train_pytorch.py --threads 1   (DistributedDataParallel over gloo)
Prints median and best tokens/s over the measured steps (after warm-up), fp32 eager by default,
bf16 autocast with --bf16. Under torchrun each rank takes a batch of B sequences (global batch B × ranks) and the
tokens/s printed are the job's (global tokens / the slowest rank's step time). Install: pip install "torch==2.13.0+cpu".
"""
import argparse, math, os, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=8)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--bf16", action="store_true")
p.add_argument("--arch", default="gpt2", choices=["gpt2"])
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
V, T, C, L, H, B = 8192, 256, 384, 6, 6, 8


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.h:
            x = blk(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, V).float(), targets.view(-1))


model = GPT()
world = int(os.environ.get("WORLD_SIZE", "1"))
if world > 1:
    import torch.distributed as dist
    dist.init_process_group("gloo")
    model = torch.nn.parallel.DistributedDataParallel(model)
decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "wte" not in n and "wpe" not in n]
rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "wte" not in n and "wpe" not in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0}],
                        lr=1e-4, betas=(0.9, 0.95), fused=False, foreach=True)
x = torch.randint(0, V, (B, T))
y = torch.randint(0, V, (B, T))
times = []
for i in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    dt = time.perf_counter() - t0
    if i >= a.warmup:
        times.append(dt)
if world > 1:
    t = torch.tensor(times)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    times = t.tolist()
times.sort()
med, best = times[len(times) // 2], times[0]
if int(os.environ.get("RANK", "0")) == 0:
    label = f"ddp-gloo ranks={world} " if world > 1 else ""
    print(f"pytorch {label}{'bf16-autocast' if a.bf16 else 'fp32'} threads={a.threads} tokens/s median {B*T*world/med:.0f} best {B*T*world/best:.0f}")
if world > 1:
    dist.destroy_process_group()
