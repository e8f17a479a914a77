#!/usr/bin/env python3
"""GRPO against TRL's GRPOTrainer on the same rollouts: Forge samples, TRL replays Forge's tokens.

Sampling differs between any two programs, so the comparison fixes the rollouts: `forge grpo` runs a few steps and
writes every prompt's group (prompt and completion token ids, rewards) to RUN/rollouts.jsonl; TRL's GRPOTrainer then
trains the same starting model (the HF dir) on those tokens through its `rollout_func` hook, with a reward function
that returns Forge's rewards. Everything after sampling is TRL's own code: completion masks, group-relative
advantages, reference log-probabilities, the clipped surrogate with the k3 KL, "dapo" averaging, AdamW with a
constant learning rate, clipping at 1.0. Compared per step: loss, grad_norm, kl, reward. Step 1's loss depends only
on the advantages; grad_norm at step 1 and kl and loss from step 2 on depend on the gradient and the update, so they
check the whole step. Both sides Float32 on the CPU.

  python3 bench/grpo_parity.py --model /work/smollm2-f32 --forge .build/release/forge --steps 3
"""
import argparse, json, os, subprocess, sys, tempfile, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="an HF model dir (forge convert makes one from the SmolLM2 GGUF)")
    ap.add_argument("--forge", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2, help="prompts per step")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", help="keep files here (default: a new temporary dir)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="grpo-parity-")
    os.makedirs(work, exist_ok=True)
    problems = os.path.join(work, "problems.jsonl")
    subprocess.run([a.forge, "problems", "--count", "64", "--output", problems], check=True)
    run = os.path.join(work, "forge")
    t0 = time.time()
    subprocess.run([a.forge, "grpo", "--model", a.model, "--problems", problems, "--run", run, "--steps", str(a.steps),
                    "--batch", str(a.batch), "--group", str(a.group), "--max-tokens", str(a.max_tokens), "--lr", str(a.lr),
                    "--beta", str(a.beta), "--seq", "256", "--checkpoint-every", "0", "--threads", str(a.threads)], check=True)
    forge_seconds = time.time() - t0
    forge = [m for m in map(json.loads, open(os.path.join(run, "metrics.jsonl"))) if m.get("kind") == "train"]
    records = [json.loads(l) for l in open(os.path.join(run, "rollouts.jsonl"))]
    assert len(records) == a.steps * a.batch, f"{len(records)} rollout records for {a.steps} steps of {a.batch} prompts"

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.model)
    if tok.pad_token is None:  # padding is masked out of every sum; TRL needs a token id for it
        tok.pad_token = tok.eos_token
    # TRL renders the prompt with its own chat template: it must give Forge's prompt tokens.
    template_agrees = sum(
        tok.apply_chat_template([{"role": "user", "content": r["question"]}], add_generation_prompt=True, tokenize=True,
                                return_dict=False) == r["prompt_ids"] for r in records)
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r["question"]}], "qid": i} for i, r in enumerate(records)])
    queue = list(records)
    rewards = {}

    def rollout_func(prompts, trainer):
        # prompts in the dataset's order (no shuffling), each repeated `group` times by TRL's sampler or once
        out = {"prompt_ids": [], "completion_ids": [], "logprobs": None}
        step = a.group if len(prompts) == a.batch * a.group else 1
        for i in range(0, len(prompts), step):
            r = queue.pop(0)
            assert prompts[i][0]["content"] == r["question"], "TRL's prompt order differs from Forge's"
            for ids, reward in zip(r["completion_ids"], r["rewards"]):
                out["prompt_ids"].append(r["prompt_ids"])
                out["completion_ids"].append(ids)
                rewards[(r["question"], tuple(ids))] = reward
        return out

    def forge_reward(prompts, completions, completion_ids, **kw):
        return [rewards[(p[0]["content"], tuple(ids))] for p, ids in zip(prompts, completion_ids)]

    collected = []

    config = GRPOConfig(output_dir=os.path.join(work, "trl"), per_device_train_batch_size=a.batch * a.group,
                        num_generations=a.group, gradient_accumulation_steps=1, steps_per_generation=1, num_iterations=1,
                        learning_rate=a.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, adam_beta1=0.9,
                        adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=1.0, beta=a.beta, epsilon=0.2, loss_type="dapo",
                        scale_rewards="group", temperature=1.0, max_completion_length=a.max_tokens, max_steps=a.steps,
                        shuffle_dataset=False, logging_steps=1, report_to=[], use_cpu=True, bf16=False, save_strategy="no",
                        seed=0, model_init_kwargs={"dtype": torch.float32})
    trainer = GRPOTrainer(model=a.model, reward_funcs=forge_reward, args=config, train_dataset=ds, processing_class=tok,
                          rollout_func=rollout_func)
    class Collect(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            collected.append(dict(logs or {}))
    trainer.add_callback(Collect())
    t0 = time.time()
    trainer.train()
    trl_seconds = time.time() - t0
    trl = [m for m in collected if "loss" in m]

    print(f"\nGRPO parity: SmolLM2 ({a.model}), {a.steps} steps of {a.batch} prompts × {a.group} completions, "
          f"β {a.beta}, lr {a.lr}, dapo, Float32, {a.threads} threads")
    print(f"TRL's chat template gives Forge's prompt tokens on {template_agrees}/{len(records)} prompts")
    print(f"{'step':>4} {'metric':<10} {'Forge':>14} {'TRL':>14} {'|Δ|':>10}")
    worst = {}
    for step, (f, t) in enumerate(zip(forge, trl), 1):
        for k, tk in [("loss", "loss"), ("grad_norm", "grad_norm"), ("kl", "kl"), ("reward", "reward"), ("reward_std", "reward_std")]:
            if k in f and tk in t:
                d = abs(f[k] - t[tk])
                worst[k] = max(worst.get(k, 0), d if k != "grad_norm" else d / max(abs(t[tk]), 1e-12))
                print(f"{step:>4} {k:<10} {f[k]:>14.8f} {t[tk]:>14.8f} {d:>10.2e}")
    print("largest difference: " + ", ".join(f"{k} {v:.2e}" + (" (relative)" if k == "grad_norm" else "") for k, v in worst.items()))
    print(f"wall time: Forge {forge_seconds:.1f} s (sampling included), TRL {trl_seconds:.1f} s (replay, no sampling)")
    # Step 1 starts from the same weights: its gradient norm must agree to 1e-4 (relative). Later steps carry each
    # side's Float32 rounding through AdamW, whose normalized updates amplify it where gradients are small, so their
    # gradient norms drift apart (a few 1e-3 by step 4 here); loss and KL must stay within 1e-4 throughout.
    first = abs(forge[0]["grad_norm"] - trl[0]["grad_norm"]) / max(abs(trl[0]["grad_norm"]), 1e-12)
    print(f"step 1 grad_norm relative difference: {first:.2e}")
    ok = worst.get("loss", 1) <= 1e-4 and worst.get("kl", 1) <= 1e-4 and first <= 1e-4 and worst.get("reward", 1) == 0
    print("PASS" if ok else "DIFFERS")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
