#!/usr/bin/env python3
"""DPO against TRL's DPOTrainer: the same pairs, order, batch, β, learning rate and optimizer, one run each.

Pairs (conversational, TRL's layout) are built from chatterbot-corpus: the prompt a question, chosen its own answer,
rejected the answer of another question. Forge runs `forge dpo --sequential` (file order); TRL gets a sequential
sampler. Both: AdamW (0.9/0.999, ε 1e-8, no weight decay), linear decay without warmup, clip 1.0, Float32, sigmoid
loss. Compared per step: loss, rewards/chosen, rewards/rejected, rewards/margins (|Δ| ≤ 1e-4 on the first steps;
step 1's loss must be ln 2).

  python3 bench/dpo_parity.py --model /work/smollm2-f32 --forge .build/release/forge --steps 3
"""
import argparse, glob, json, math, os, subprocess, sys, tempfile, time


def chatterbot_pairs(path, n):
    import importlib.util, yaml
    root = os.path.join(os.path.dirname(importlib.util.find_spec("chatterbot_corpus").origin), "data", "english")
    qa = []
    for f in sorted(glob.glob(os.path.join(root, "*.yml"))):
        for c in yaml.safe_load(open(f)).get("conversations", []):
            if len(c) >= 2 and isinstance(c[0], str) and isinstance(c[1], str) and c[0].strip() and c[1].strip():
                qa.append((c[0], c[1]))
    with open(path, "w") as out:
        for i in range(n):
            q, a = qa[(i * 37) % len(qa)]
            _, wrong = qa[(i * 37 + 101) % len(qa)]
            out.write(json.dumps({"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": a}],
                                  "rejected": [{"role": "assistant", "content": wrong}]}) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--forge", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-6)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rpo-alpha", type=float, default=0.0,
                    help="Forge's --rpo-alpha; TRL 1.16 has no rpo_alpha: its equivalent, loss_type ['sigmoid', 'sft'] "
                         "with loss_weights [1, α] (the mean NLL of the chosen tokens), is used")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="dpo-parity-")
    pairs = os.path.join(work, "pairs.jsonl")
    chatterbot_pairs(pairs, a.steps * a.batch)
    run = os.path.join(work, "forge")
    t0 = time.time()
    subprocess.run([a.forge, "dpo", "--model", a.model, "--pairs", pairs, "--run", run, "--sequential", "--val-fraction", "0",
                    "--steps", str(a.steps), "--batch", str(a.batch), "--lr", str(a.lr), "--beta", str(a.beta), "--seq", "512",
                    "--eval-every", "0", "--checkpoint-every", "0", "--threads", str(a.threads), "--rpo-alpha", str(a.rpo_alpha)],
                   check=True)
    forge_seconds = time.time() - t0
    forge = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    forge = [m for m in forge if m.get("kind") == "train"]

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer
    torch.set_num_threads(a.threads)
    ds = Dataset.from_list([json.loads(l) for l in open(pairs)])
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    cfg = DPOConfig(output_dir=os.path.join(work, "trl"), per_device_train_batch_size=a.batch, max_steps=a.steps,
                    learning_rate=a.lr, beta=a.beta, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
                    adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=1.0, logging_steps=1,
                    save_strategy="no", report_to=[], bf16=False, fp16=False, use_cpu=True, max_length=512, seed=0,
                    gradient_checkpointing=False,
                    **({"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, a.rpo_alpha]} if a.rpo_alpha > 0 else {}))
    logs = []

    class Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                trl_logs.append(dict(logs))

    trl_logs = logs

    class Sequential(DPOTrainer):
        def _get_train_sampler(self, *args, **kwargs):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    t0 = time.time()
    Sequential(model=model, args=cfg, train_dataset=ds, processing_class=tok, callbacks=[Log()]).train()
    trl_seconds = time.time() - t0
    keys = ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"]
    worst = 0.0
    for i, (f, t) in enumerate(zip(forge, logs)):
        row = []
        for k in keys:
            fv, tv = float(f[k]), float(t[k])
            row.append(f"{k} {fv:.6f}/{tv:.6f}")
            if k != "rewards/accuracies":
                worst = max(worst, abs(fv - tv))
        print(f"step {i + 1}: " + "  ".join(row))
    # With the NLL term, step 1's loss is ln 2 + α · NLL (Forge logs the NLL as nll_loss).
    first = float(forge[0]["loss"]) - math.log(2) - a.rpo_alpha * float(forge[0].get("nll_loss", 0))
    print(f"forge/trl: max |Δ| over loss, rewards and margins: {worst:.2e}; step-1 loss − ln 2"
          + (f" − α·NLL" if a.rpo_alpha > 0 else "") + f": {first:.2e}")
    print(f"wall: forge {forge_seconds:.1f}s (load and reference included), trl {trl_seconds:.1f}s (train only)")
    ok = worst <= 1e-4 and abs(first) <= 1e-5 and len(logs) == a.steps
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
