#!/usr/bin/env python3
"""SFT against TRL: the same examples, batches, learning rate and masking, one run each, side by side.

Forge writes the batches its sampler draws (`forge sft --dump-batches`): token ids and assistant masks per example.
TRL's SFTTrainer gets exactly those examples, pre-tokenized ("input_ids" + "assistant_masks"), in the same order
(sequential sampler), one sequence per example padded (Forge runs with --no-pack: TRL's own packing on CPU would
need padding-free attention). Both use AdamW (β 0.9/0.999, ε 1e-8, no weight decay), a linear decay to zero without
warmup, gradient-norm clip 1.0, Float32. Compared: the first step's loss (|Δ| ≤ 1e-4) and every step's loss
(relative |Δ| ≤ 2%), and tokens/s and peak RSS of both.

  python3 bench/sft_parity.py --model /work/smollm2-f32 --forge .build/release/forge --steps 50
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time


def chitchat_path():
    import importlib.util
    return os.path.join(os.path.dirname(importlib.util.find_spec("chitchat_dataset").origin), "dataset.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="HF model dir (forge convert of SmolLM2)")
    ap.add_argument("--forge", required=True)
    ap.add_argument("--data", default=None, help="conversation file (default: chitchat-dataset)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON with both curves")
    a = ap.parse_args()
    data = a.data or chitchat_path()
    work = tempfile.mkdtemp(prefix="sft-parity-")
    common = ["--model", a.model, "--data", data, "--no-pack", "--over-long", "skip", "--limit", str(a.limit),
              "--steps", str(a.steps), "--batch", str(a.batch), "--seq", str(a.seq), "--lr", str(a.lr),
              "--eval-every", "0", "--checkpoint-every", "0", "--val-fraction", "0.05", "--threads", str(a.threads)]
    dump = os.path.join(work, "batches.jsonl")
    subprocess.run([a.forge, "sft", "--run", os.path.join(work, "dump"), "--dump-batches", dump] + common, check=True)
    batches = [json.loads(l) for l in open(dump)]

    # Forge's run, timed, with its peak resident memory (GNU time).
    run = os.path.join(work, "forge")
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", a.forge, "sft", "--run", run] + common, stderr=subprocess.PIPE, text=True)
    forge_seconds = time.time() - t0
    if p.returncode != 0:
        sys.exit("forge sft failed:\n" + p.stderr[-2000:])
    forge_rss_mb = int(p.stderr.strip().splitlines()[-1]) / 1024
    metrics = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    forge_loss = [m["loss"] for m in metrics if m.get("kind") == "train"]
    forge_tps = [m for m in metrics if m.get("kind") == "train"][-1]["tokens_per_s"]

    # TRL on the same examples.
    import torch
    torch.set_num_threads(a.threads)
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    rows = [ex for b in batches for seq in b["sequences"] for ex in seq]
    ds = Dataset.from_list([{"input_ids": r["input_ids"], "assistant_masks": r["assistant_masks"]} for r in rows])
    tok = AutoTokenizer.from_pretrained(a.model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    cfg = SFTConfig(output_dir=os.path.join(work, "trl"), per_device_train_batch_size=a.batch, max_steps=a.steps,
                    learning_rate=a.lr, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
                    adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=1.0, logging_steps=1,
                    save_strategy="no", report_to=[], bf16=False, fp16=False, use_cpu=True, max_length=a.seq,
                    packing=False, gradient_checkpointing=False, dataloader_drop_last=False, seed=0)
    losses, tokens = [], []

    class Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    class Sequential(SFTTrainer):
        def _get_train_sampler(self, *args, **kwargs):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    trainer = Sequential(model=model, args=cfg, train_dataset=ds, processing_class=tok, callbacks=[Log()])
    t0 = time.time()
    trainer.train()
    trl_seconds = time.time() - t0
    trl_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trained_tokens = sum(len(r["input_ids"]) for r in rows[: a.steps * a.batch])
    trl_tps = trained_tokens / trl_seconds

    n = min(len(losses), len(forge_loss))
    rel = [abs(forge_loss[i] - losses[i]) / abs(losses[i]) for i in range(n)]
    print(f"steps compared: {n}")
    print(f"first-step loss: forge {forge_loss[0]:.6f}  trl {losses[0]:.6f}  |Δ| {abs(forge_loss[0] - losses[0]):.2e}")
    print(f"max relative loss difference over {n} steps: {max(rel):.4%} (step {rel.index(max(rel)) + 1})")
    print(f"last loss: forge {forge_loss[n-1]:.4f}  trl {losses[n-1]:.4f}")
    print(f"tokens/s: forge {forge_tps:.0f}  trl {trl_tps:.0f}  ratio {forge_tps / trl_tps:.2f}x")
    print(f"wall: forge {forge_seconds:.1f}s (load included)  trl {trl_seconds:.1f}s (train only)")
    print(f"peak RSS: forge {forge_rss_mb:.0f} MB  trl process {trl_rss_mb:.0f} MB")
    ok = abs(forge_loss[0] - losses[0]) <= 1e-4 and max(rel) <= 0.02 and n == a.steps
    if a.out:
        json.dump({"forge": forge_loss, "trl": losses, "forge_tps": forge_tps, "trl_tps": trl_tps,
                   "forge_rss_mb": forge_rss_mb, "trl_rss_mb": trl_rss_mb}, open(a.out, "w"), indent=1)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
