#!/usr/bin/env python3
"""LoRA against Hugging Face PEFT on the same model, adapter and batch.

1. Forge trains a LoRA adapter for a few steps (so B is not zero) and saves it in PEFT's layout.
2. Gradients: Forge's gradients of every lora_A / lora_B on the first batch of a run that starts from that adapter
   (`forge sft --lora-init A --dump-gradients`), beside PEFT's on the same batch (PeftModel.from_pretrained(...,
   is_trainable=True), the causal-LM loss over the assistant tokens). Bound: max |Δ| ≤ 1e-4.
3. Logits: PEFT loads Forge's adapter over the base; its logits beside Forge's (base + adapter, unmerged, the same
   forward). Two Float32 implementations differ by their own rounding (the base alone, without the adapter, already
   differs by ~1e-4 at the largest logits), so the bound max |Δ| ≤ 1e-4 is taken against PEFT in Float64 (the same
   adapter file over the base in double precision: the exact value Forge's Float32 approximates); PEFT in Float32
   beside Forge is printed too. Also beside transformers' on the model dir `forge lora merge` writes (merging
   changes float rounding: reported, not bounded).

  python3 bench/lora_parity.py --model /work/smollm2-f32 --forge .build/release/forge
"""
import argparse, json, os, subprocess, sys, tempfile


def chitchat_path():
    import importlib.util
    return os.path.join(os.path.dirname(importlib.util.find_spec("chitchat_dataset").origin), "dataset.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="HF model dir (forge convert of SmolLM2)")
    ap.add_argument("--forge", required=True)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="lora-parity-")
    data = ["--data", chitchat_path(), "--no-pack", "--over-long", "skip", "--limit", "64", "--batch", "2", "--seq", "256",
            "--eval-every", "0", "--checkpoint-every", "0", "--threads", str(a.threads)]
    run = os.path.join(work, "train")
    subprocess.run([a.forge, "sft", "--model", a.model, "--run", run, "--steps", "3", "--lr", "1e-3",
                    "--lora-rank", str(a.rank)] + data, check=True)
    adapter = os.path.join(run, "adapter")
    grads_path, batches_path = os.path.join(work, "grads.safetensors"), os.path.join(work, "batches.jsonl")
    common = [a.forge, "sft", "--model", a.model, "--run", os.path.join(work, "probe"), "--steps", "1", "--lora-init", adapter]
    subprocess.run(common + ["--dump-gradients", grads_path] + data, check=True)
    subprocess.run(common + ["--dump-batches", batches_path] + data, check=True)
    # The base alone (a fresh adapter: B = 0 adds exactly nothing), for the size of Forge-vs-transformers float noise.
    base_path = os.path.join(work, "base.safetensors")
    subprocess.run([a.forge, "sft", "--model", a.model, "--run", os.path.join(work, "probe0"), "--steps", "1",
                    "--lora-rank", str(a.rank), "--dump-gradients", base_path] + data, check=True)
    merged = os.path.join(work, "merged")
    subprocess.run([a.forge, "lora", "merge", "--model", a.model, "--lora", adapter, "--output", merged], check=True)

    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(a.threads)

    # Gradients on the first batch.
    batch = json.loads(open(batches_path).readline())
    examples = [ex for seq in batch["sequences"] for ex in seq]
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.zeros((len(examples), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor([t if m else -100 for t, m in zip(e["input_ids"], e["assistant_masks"])])
    base = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    peft = PeftModel.from_pretrained(base, adapter, is_trainable=True)
    peft.train()
    out = peft(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    forge = load_file(grads_path)
    worst, scale, n = 0.0, 0.0, 0
    for name, p in peft.named_parameters():
        if not p.requires_grad or name == "logits":
            continue
        ours = forge[name.replace(".default", "")]
        worst = max(worst, (ours - p.grad).abs().max().item())
        scale = max(scale, p.grad.abs().max().item())
        n += 1
    print(f"gradients: {n} LoRA tensors, max |Δ| {worst:.2e} (largest gradient {scale:.2e}), loss {out.loss.item():.6f}")

    # Logits: PEFT over the base with Forge's adapter, transformers over Forge's merged dir.
    peft.eval()
    merged_model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
    with torch.no_grad():
        l1 = peft(input_ids=ids, attention_mask=mask).logits
        l2 = merged_model(input_ids=ids, attention_mask=mask).logits
        with peft.disable_adapter():
            l0 = peft(input_ids=ids, attention_mask=mask).logits
    del merged_model
    # The same adapter file over the base in Float64: the reference both Float32 forwards approximate. transformers
    # computes rotary angles in Float32 even in a Float64 model (autocast off, `.float()`), so the exact reference
    # also gets its rotary table in Float64 (Forge computes its table in Float64 and rounds cos/sin once).
    base64 = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float64)
    peft64 = PeftModel.from_pretrained(base64, adapter).eval()
    with torch.no_grad():
        l64_hf = peft64(input_ids=ids, attention_mask=mask).logits
    import types
    rotary = base64.model.rotary_emb
    cfg = base64.config
    theta = getattr(cfg, "rope_theta", None) or (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta")
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads

    def rope64(self, x, position_ids):
        inv = 1.0 / (float(theta) ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        freqs = position_ids[:, :, None].double() * inv[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    rotary.forward = types.MethodType(rope64, rotary)
    with torch.no_grad():
        l64 = peft64(input_ids=ids, attention_mask=mask).logits
    m = mask.bool()
    vocab = l1.shape[-1]
    # Forge pads each row of the batch to its own width (a multiple of its attention block): keep the first `width`.
    ours = forge["logits"].reshape(len(examples), -1, vocab)[:, :width]
    dl = (l1 - ours).abs()[m].max().item()
    dm = (l1 - l2).abs()[m].max().item()
    print(f"logits: PEFT(base + Forge's adapter) vs Forge (unmerged): max |Δ| {dl:.2e} over {int(m.sum())} positions")
    d64 = (l64 - ours.double()).abs()[m].max().item()
    dt64 = (l64 - l1.double()).abs()[m].max().item()
    d64hf = (l64_hf - ours.double()).abs()[m].max().item()
    dt64hf = (l64_hf - l1.double()).abs()[m].max().item()
    print(f"logits: PEFT(base + Forge's adapter) in Float64 (rotary table in Float64 too) vs Forge: max |Δ| {d64:.2e} "
          f"(PEFT's own Float32 vs it: {dt64:.2e})")
    print(f"logits: against transformers' Float64 as it ships (rotary angles in Float32): Forge {d64hf:.2e}, PEFT Float32 {dt64hf:.2e}")
    print(f"logits: PEFT(base + Forge's adapter) vs transformers(Forge's merge): max |Δ| {dm:.2e}")
    base = load_file(base_path)["logits"].reshape(len(examples), -1, vocab)[:, :width]
    db = (l0 - base).abs()[m].max().item()
    print(f"logits: the base alone, transformers vs Forge: max |Δ| {db:.2e} (largest |logit| {l0.abs()[m].max().item():.1f})")
    ok = worst <= 1e-4 and d64 <= 1e-4 and n > 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
