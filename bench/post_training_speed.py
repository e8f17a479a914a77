#!/usr/bin/env python3
"""Post-training speed, Forge beside TRL: SFT (full and LoRA) tokens/s and DPO steps/s, same model, examples,
sequence length, batch and precision (Float32, 2 threads), runs alternated (Forge, TRL, Forge, TRL...) so both see
the same machine; peak resident memory of each process (GNU time), and Forge's LoRA on the Q4_1 GGUF base (--qlora).

SFT: chitchat conversations, one per padded sequence (Forge --no-pack; TRL gets Forge's own batches pre-tokenized, in
the same order). LoRA: rank 8, α 16, all seven projections, no dropout, on both sides (PEFT for TRL). DPO: chatterbot
pairs as bench/dpo_parity.py builds them; Forge computes the reference log-probabilities once before its loop, TRL
on the fly inside its loop, so the DPO table gives both loop steps/s and whole-process wall time.

  python3 bench/post_training_speed.py --model /work/smollm2-f32 --gguf SmolLM2.Q4_1.gguf --forge .build/release/forge
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def timed(cmd):
    """Runs cmd under GNU time; returns (wall seconds, peak RSS MB, stdout)."""
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    rss = [l for l in p.stderr.splitlines() if l.startswith("RSS ")][-1]
    return wall, int(rss.split()[1]) / 1024, p.stdout


def forge_train(metrics_dir):
    recs = [json.loads(l) for l in open(os.path.join(metrics_dir, "metrics.jsonl"))]
    last = [r for r in recs if r.get("kind") == "train"][-1]
    return last["tokens"], last["elapsed_s"], last["step"]


def trl_worker(a):
    """One TRL run in this process; prints {"tokens", "seconds", "steps"} (the training loop only)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    peft_config = None
    if a.lora:
        from peft import LoraConfig
        peft_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM")
    common = dict(output_dir=tempfile.mkdtemp(prefix="trl-speed-"), per_device_train_batch_size=a.batch, max_steps=a.steps,
                  learning_rate=a.lr, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
                  logging_steps=1, save_strategy="no", report_to=[], bf16=False, fp16=False, use_cpu=True, seed=0,
                  gradient_checkpointing=False)
    if a.worker == "sft":
        from trl import SFTConfig, SFTTrainer
        rows = [json.loads(l) for l in open(a.data)]
        ds = Dataset.from_list(rows)
        cfg = SFTConfig(max_length=a.seq, packing=False, dataloader_drop_last=False, **common)

        class Sequential(SFTTrainer):
            def _get_train_sampler(self, *args, **kwargs):
                return torch.utils.data.SequentialSampler(self.train_dataset)
        trainer = Sequential(model=model, args=cfg, train_dataset=ds, processing_class=tok, peft_config=peft_config)
        tokens = sum(len(r["input_ids"]) for r in rows[: a.steps * a.batch])
    else:
        from trl import DPOConfig, DPOTrainer
        ds = Dataset.from_list([json.loads(l) for l in open(a.data)])
        cfg = DPOConfig(beta=0.1, max_length=a.seq, **common)
        trainer = DPOTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok, peft_config=peft_config)
        tokens = 0
    t0 = time.time()
    trainer.train()
    print(json.dumps({"tokens": tokens, "seconds": time.time() - t0, "steps": a.steps}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="HF model dir (forge convert of SmolLM2)")
    ap.add_argument("--gguf", help="the Q4_1 GGUF, for Forge's LoRA on the quantized base")
    ap.add_argument("--forge")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker", choices=["sft", "dpo"], help=argparse.SUPPRESS)
    ap.add_argument("--lora", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return trl_worker(a)
    from sft_parity import chitchat_path
    from dpo_parity import chatterbot_pairs
    work = tempfile.mkdtemp(prefix="post-training-speed-")
    sft_common = ["--data", chitchat_path(), "--no-pack", "--over-long", "skip", "--limit", "400", "--sequential",
                  "--steps", str(a.steps), "--batch", str(a.batch), "--seq", str(a.seq), "--lr", str(a.lr),
                  "--eval-every", "0", "--checkpoint-every", "0", "--val-fraction", "0.05", "--threads", str(a.threads)]
    lora = ["--lora-rank", "8", "--lora-alpha", "16"]
    # The examples Forge trains on, for TRL.
    dump = os.path.join(work, "batches.jsonl")
    subprocess.run([a.forge, "sft", "--model", a.model, "--run", os.path.join(work, "dump"), "--dump-batches", dump] + sft_common,
                   check=True, stdout=subprocess.DEVNULL)
    rows = [ex for l in open(dump) for seq in json.loads(l)["sequences"] for ex in seq]
    sft_data = os.path.join(work, "sft.jsonl")
    with open(sft_data, "w") as f:
        for r in rows:
            f.write(json.dumps({"input_ids": r["input_ids"], "assistant_masks": r["assistant_masks"]}) + "\n")
    pairs = os.path.join(work, "pairs.jsonl")
    chatterbot_pairs(pairs, a.steps * 2)
    worker = [sys.executable, os.path.abspath(__file__), "--model", a.model, "--steps", str(a.steps), "--seq", str(a.seq),
              "--lr", str(a.lr), "--threads", str(a.threads)]

    results = {}  # case → side → list of (rate, wall, rss)

    def add(case, side, rate, wall, rss):
        results.setdefault(case, {}).setdefault(side, []).append((rate, wall, rss))

    for r in range(a.rounds):
        for case, extra in (("sft-full", []), ("sft-lora", lora)):
            run = os.path.join(work, f"{case}-{r}")
            wall, rss, _ = timed([a.forge, "sft", "--model", a.model, "--run", run] + sft_common + extra)
            tokens, seconds, _ = forge_train(run)
            add(case, "forge", tokens / seconds, wall, rss)
            wall, rss, out = timed(worker + ["--worker", "sft", "--data", sft_data, "--batch", str(a.batch)] + (["--lora"] if extra else []))
            o = json.loads(out.strip().splitlines()[-1])
            add(case, "trl", o["tokens"] / o["seconds"], wall, rss)
        if a.gguf:
            run = os.path.join(work, f"qlora-{r}")
            wall, rss, _ = timed([a.forge, "sft", "--model", a.gguf, "--qlora", "--run", run] + sft_common + lora)
            tokens, seconds, _ = forge_train(run)
            add("sft-lora", "forge-qlora", tokens / seconds, wall, rss)
        run = os.path.join(work, f"dpo-{r}")
        wall, rss, _ = timed([a.forge, "dpo", "--model", a.model, "--pairs", pairs, "--run", run, "--sequential", "--val-fraction", "0",
                              "--steps", str(a.steps), "--batch", "2", "--lr", "5e-6", "--seq", str(max(a.seq, 512)),
                              "--eval-every", "0", "--checkpoint-every", "0", "--threads", str(a.threads)])
        _, seconds, steps = forge_train(run)
        add("dpo", "forge", steps / seconds, wall, rss)
        wall, rss, out = timed(worker + ["--worker", "dpo", "--data", pairs, "--batch", "2"])
        o = json.loads(out.strip().splitlines()[-1])
        add("dpo", "trl", o["steps"] / o["seconds"], wall, rss)

    print(f"\n{a.rounds} rounds alternated, {a.steps} steps each, batch {a.batch}, seq {a.seq}, Float32, {a.threads} threads")
    print(f"{'case':10} {'side':12} {'rate (median)':>16} {'wall s':>8} {'peak RSS MB':>12}")
    for case, sides in results.items():
        unit = "steps/s" if case == "dpo" else "tokens/s"
        for side, runs in sides.items():
            rate = statistics.median(x[0] for x in runs)
            print(f"{case:10} {side:12} {rate:10.2f} {unit:>5} {statistics.median(x[1] for x in runs):8.1f} {max(x[2] for x in runs):12.0f}")
        if "forge" in sides and "trl" in sides:
            ratios = [f[0] / t[0] for f, t in zip(sides["forge"], sides["trl"])]
            walls = [t[1] / f[1] for f, t in zip(sides["forge"], sides["trl"])]
            print(f"{case:10} forge/trl    rate {statistics.median(ratios):.2f}x (pairs: {', '.join(f'{x:.2f}' for x in ratios)}); "
                  f"whole-process wall {statistics.median(walls):.2f}x")


if __name__ == "__main__":
    main()
