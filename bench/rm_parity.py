#!/usr/bin/env python3
"""Reward model against TRL's RewardTrainer: the same starting model, pairs, order, batch and optimizer, one run each.

Both sides need the same score head to start from, so Forge writes it first: `forge rm --steps 1 --lr 1e-30` saves the
model with its freshly initialized head (`--lr 1e-30`: Forge refuses 0, and a step that small moves no Float32 weight) as Hugging Face's LlamaForSequenceClassification dir (score.weight,
num_labels 1). transformers loads that dir for TRL (which also checks that the layout reads back); Forge starts from it
too. Pairs (conversational, explicit prompt) are built from chatterbot-corpus as in dpo_parity.py; both render prompt +
reply with the chat template and score the last token. Bradley–Terry loss, AdamW (0.9/0.999, ε 1e-8, no weight
decay), linear decay without warmup, clip 1.0, Float32, sequential order. Compared per step: loss, accuracy, margin
(|Δ| ≤ 1e-4).

  python3 bench/rm_parity.py --model /work/smollm2-f32 --forge .build/release/forge --steps 3
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpo_parity import chatterbot_pairs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="HF model dir (forge convert of SmolLM2)")
    ap.add_argument("--forge", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rm-parity-")
    pairs = os.path.join(work, "pairs.jsonl")
    chatterbot_pairs(pairs, a.steps * a.batch)
    common = ["--pairs", pairs, "--sequential", "--val-fraction", "0", "--batch", str(a.batch), "--seq", "512",
              "--eval-every", "0", "--checkpoint-every", "0", "--threads", str(a.threads)]
    start = os.path.join(work, "start")
    subprocess.run([a.forge, "rm", "--model", a.model, "--run", start, "--steps", "1", "--lr", "1e-30"] + common, check=True)
    start_model = os.path.join(start, "model")
    run = os.path.join(work, "forge")
    t0 = time.time()
    subprocess.run([a.forge, "rm", "--model", start_model, "--run", run, "--steps", str(a.steps), "--lr", str(a.lr),
                    "--decay", "linear"] + common, check=True)
    forge_seconds = time.time() - t0
    forge = [m for m in map(json.loads, open(os.path.join(run, "metrics.jsonl"))) if m.get("kind") == "train"]

    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig, RewardTrainer
    torch.set_num_threads(a.threads)
    ds = Dataset.from_list([json.loads(l) for l in open(pairs)])
    tok = AutoTokenizer.from_pretrained(start_model)
    model = AutoModelForSequenceClassification.from_pretrained(start_model, dtype=torch.float32)
    assert model.config.pad_token_id is not None, "Forge's reward model dir names no pad_token_id"
    # transformers builds the embedding with padding_idx = pad_token_id, and nn.Embedding never gives that row a
    # gradient. SmolLM2's padding token is its end-of-turn token <|im_end|>, which every conversation holds, so Hugging
    # Face training leaves that embedding frozen while Forge (which masks padding by position, not by token id) trains
    # it. Measured before this line: every gradient agrees within 2.3e-5 except that row (norm 0.767 in Forge, 0 in
    # transformers), which moved the total gradient norm by 0.35%. The comparison below is of the loss, so the row is
    # given its gradient on the TRL side too.
    model.model.embed_tokens.padding_idx = None
    cfg = RewardConfig(output_dir=os.path.join(work, "trl"), per_device_train_batch_size=a.batch, max_steps=a.steps,
                       learning_rate=a.lr, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, adam_beta1=0.9,
                       adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=1.0, logging_steps=1, save_strategy="no",
                       report_to=[], bf16=False, fp16=False, use_cpu=True, max_length=512, seed=0,
                       gradient_checkpointing=False, center_rewards_coefficient=None)
    logs = []

    class Collect(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                collected.append(dict(logs))
    collected = logs

    class Sequential(RewardTrainer):
        def _get_train_sampler(self, *args, **kwargs):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    t0 = time.time()
    Sequential(model=model, args=cfg, train_dataset=ds, processing_class=tok, callbacks=[Collect()]).train()
    trl_seconds = time.time() - t0

    print(f"\nReward model parity: {a.model}, {a.steps} steps of {a.batch} pairs, lr {a.lr}, Float32, {a.threads} threads")
    worst = 0.0
    for i, (f, t) in enumerate(zip(forge, logs)):
        row = []
        for fk, tk in [("loss", "loss"), ("accuracy", "accuracy"), ("margin", "margin")]:
            fv, tv = float(f[fk]), float(t[tk])
            row.append(f"{fk} {fv:.6f}/{tv:.6f}")
            worst = max(worst, abs(fv - tv))
        fmean = (float(f["reward/chosen"]) + float(f["reward/rejected"])) / 2
        row.append(f"mean reward {fmean:.6f}/{float(t['mean_reward']):.6f}")
        worst = max(worst, abs(fmean - float(t["mean_reward"])))
        print(f"step {i + 1} (Forge/TRL): " + "  ".join(row))
    print(f"largest |Δ| over loss, accuracy, margin and mean reward: {worst:.2e}")
    print(f"wall: forge {forge_seconds:.1f}s (load included), trl {trl_seconds:.1f}s (train only)")
    ok = worst <= 1e-4 and len(logs) == a.steps == len(forge)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
