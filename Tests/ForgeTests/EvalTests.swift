// forge eval's parts: scoring rules on hand-computed cases, prompts as lm-evaluation-harness builds them, the
// batched log-likelihood scorer against one-sequence-at-a-time scoring, task specs' errors, and the sandbox.
import ForgeCore
@testable import ForgeEval
import ForgeInference
import ForgeModels
import ForgeTokenizer
import Foundation
import Testing

/// C(n, k) in Float64.
func choose(_ n: Int, _ k: Int) -> Double {
    guard k >= 0 && k <= n else { return 0 }
    var r = 1.0
    for i in 0..<k { r = r * Double(n - i) / Double(i + 1) }
    return r
}

/// A spec and its data file in a temporary directory.
func writeTask(_ dir: String, _ spec: [String: Any], rows: [[String: Any]]) throws -> String {
    var lines = ""
    for r in rows { lines += String(decoding: try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys]), as: UTF8.self) + "\n" }
    try lines.write(toFile: dir + "/data.jsonl", atomically: true, encoding: .utf8)
    var s = spec
    s["data"] = s["data"] ?? "data.jsonl"
    try JSONSerialization.data(withJSONObject: s).write(to: URL(fileURLWithPath: dir + "/task.json"))
    return dir + "/task.json"
}

@Suite struct EvalScoringTests {
    @Test func accuracyAndLengthNormalization() {
        #expect(Metrics.accuracy([-1, -0.5, -2], gold: 1) == 1)
        #expect(Metrics.accuracy([-1, -0.5, -2], gold: 0) == 0)
        #expect(Metrics.accuracy([-1, -1, -2], gold: 0) == 1, "a tie goes to the first, as numpy's argmax")
        // −4/4 = −1 beats −3/2 = −1.5: the longer choice wins once normalized, though its sum is lower.
        #expect(Metrics.normalizedAccuracy([-4, -3], choices: ["abcd", "ab"], gold: 0) == 1)
        #expect(Metrics.accuracy([-4, -3], gold: 0) == 0)
        // Characters, not bytes: "é" is one.
        #expect(Metrics.normalizedAccuracy([-2, -2.5], choices: ["éé", "abc"], gold: 1) == 1)
        let (m, se) = Metrics.meanAndStderr([1, 0, 1, 1])
        #expect(m == 0.75 && abs(se - 0.25) < 1e-12)
    }

    @Test func answerExtractionAsLmEval() {
        let strict = "#### (\\-?[0-9\\.\\,]+)", flexible = "(-?[$0-9.,]{2,})|(-?[0-9]+)"
        #expect(Metrics.extract("5 + 3 = 8 apples.\n#### 8", regex: strict) == "8")
        #expect(Metrics.extract("#### -1,250.5 dollars", regex: strict) == "-1,250.5")
        #expect(Metrics.extract("no marker, 42", regex: strict) == "[invalid]")
        #expect(Metrics.extract("She has 3 bags and pays $1,000.", regex: flexible, groupSelect: -1) == "$1,000.")
        #expect(Metrics.extract("3 bags, then 7", regex: flexible, groupSelect: -1) == "7", "the second group when the first is empty")
        #expect(Metrics.extract("nothing here", regex: flexible, groupSelect: -1) == "[invalid]")
        let ignore = [",", "\\$", "(?s).*#### ", "\\.$"]
        #expect(Metrics.exactMatch("$1,000.", "Step one.\nStep two.\n#### 1000", ignore: ignore, ignoreCase: true) == 1)
        #expect(Metrics.exactMatch("1000.5", "#### 1000", ignore: ignore, ignoreCase: true) == 0)
        #expect(Metrics.exactMatch("ABC", "abc", ignore: [], ignoreCase: true) == 1)
        #expect(Metrics.exactMatch("ABC", "abc", ignore: [], ignoreCase: false) == 0)
    }

    @Test func passAtKAgainstItsClosedForm() {
        for (n, c, k) in [(10, 3, 1), (10, 3, 2), (10, 3, 5), (20, 0, 4), (20, 20, 4), (200, 17, 10), (5, 4, 2), (1, 1, 1), (1, 0, 1)] {
            let closed = 1 - choose(n - c, k) / choose(n, k)
            #expect(abs(Metrics.passAtK(n: n, c: c, k: k) - closed) < 1e-12, "n \(n) c \(c) k \(k)")
        }
        #expect(Metrics.passAtK(n: 10, c: 3, k: 1) == 0.3 || abs(Metrics.passAtK(n: 10, c: 3, k: 1) - 0.3) < 1e-15)
    }

    @Test func wordsAsPythonSplitsThem() {
        // len(re.split(r"\s+", s)) for each.
        for (s, n) in [("a b", 2), (" a", 2), ("a b ", 3), ("a\n\n b\tc", 3), ("", 1), ("   ", 2), ("one", 1)] {
            #expect(Metrics.wordCount(s) == n, "\(s.debugDescription)")
        }
    }

    @Test func rollingWindowsCoverEveryTokenOnce() {
        let tokens = (0..<23).map { Int32($0 + 10) }
        let windows = Evaluator.rollingWindows(tokens, prefix: 1, length: 8)
        // Scored targets, in order, are exactly the tokens.
        var targets: [Int32] = []
        for w in windows {
            #expect(w.input.count <= 8)
            let fed = w.input + [w.last]
            targets += fed.suffix(w.scored)
        }
        #expect(targets == tokens)
        #expect(windows[0].input == [1] + tokens[0..<7])
        #expect(windows[1].input == Array(tokens[0..<15].suffix(8)), "later windows see the 8 tokens before their last target")
    }
}

@Suite struct EvalPromptTests {
    /// Five subjects' rows; MMLU-like layout.
    func rows() -> [[String: Any]] {
        (0..<12).map { i in
            ["question": " Q\(i)? ", "a": "x\(i)", "b": "y\(i)", "answer": i % 2, "subject": i < 6 ? "alpha" : "beta", "n": i]
        }
    }

    func spec(_ dir: String, sampler: String = "first_n") throws -> TaskSpec {
        try TaskSpec.load(try writeTask(dir, [
            "name": "t", "kind": "multiple_choice", "group": "subject",
            "description": "About {{ subject }}.\n\n", "prompt": "{{ question | trim }}\nA. {{ a }}\nB. {{ b }}\nAnswer:",
            "choices": ["A", "B"], "answer": "{{ answer }}", "shots": 2, "fewshot_sampler": sampler,
        ], rows: rows()))
    }

    @Test func contextsAsLmEvalBuildsThem() throws {
        let dir = temporaryDirectory("eval-prompt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try spec(dir)
        let items = try TaskData.load(s)
        #expect(items.count == 12 && items[3].gold == 1 && items[3].choices == ["A", "B"])
        let few = try FewShot(spec: s, items: items, mode: PromptMode(shots: 2))
        // Item 0 of alpha: its shots are rows 1 and 2 (itself excluded); the answer shown is the gold choice.
        let (c0, d0) = try few.context(for: items[0], template: nil)
        #expect(c0 == "About alpha.\n\nQ1?\nA. x1\nB. y1\nAnswer: B\n\nQ2?\nA. x2\nB. y2\nAnswer: A\n\nQ0?\nA. x0\nB. y0\nAnswer:")
        #expect(d0 == " ")
        // An item of beta draws from beta only.
        let (c7, _) = try few.context(for: items[7], template: nil)
        #expect(c7.hasPrefix("About beta.\n\nQ6?") && c7.contains("Q8?") && c7.hasSuffix("Q7?\nA. x7\nB. y7\nAnswer:"))
        // Zero shots: the description and the prompt.
        let zero = try FewShot(spec: s, items: items, mode: PromptMode(shots: 0))
        #expect(try zero.context(for: items[4], template: nil).text == "About alpha.\n\nQ4?\nA. x4\nB. y4\nAnswer:")
        // Chat: the description as system message, the rest one user turn.
        let chat = try FewShot(spec: s, items: items, mode: PromptMode(shots: 1, chat: true))
        let rendered = try chat.context(for: items[0]) { m in m.map { "<\($0.role)>\($0.content)" }.joined() }
        #expect(rendered.text == "<system>About alpha.\n\n<user>Q1?\nA. x1\nB. y1\nAnswer: B\n\nQ0?\nA. x0\nB. y0\nAnswer:" && rendered.delimiter == "")
    }

    @Test func randomShotsAreSeededAndExcludeTheItem() throws {
        let dir = temporaryDirectory("eval-random")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try spec(dir, sampler: "random")
        let items = try TaskData.load(s)
        let few = try FewShot(spec: s, items: items, mode: PromptMode(shots: 2))
        for item in items {
            let shots = few.shots(for: item)
            #expect(shots.count == 2 && !shots.contains { $0.index == item.index } && shots.allSatisfy { $0.group == item.group })
            #expect(few.shots(for: item).map(\.index) == shots.map(\.index), "same seed, same shots")
        }
    }

    @Test func stratifiedLimitKeepsEachGroupsShare() throws {
        let items = (0..<100).map { i in
            EvalItem(index: i, group: i < 70 ? "big" : (i < 95 ? "mid" : "small"), variables: [:], identity: "\(i)", prompt: "", description: "",
                     choices: [], gold: nil, target: nil)
        }
        let picked = Evaluator.select(items, limit: 20, seed: 7)
        #expect(picked.count == 20)
        #expect(picked.filter { $0.group == "big" }.count == 14 && picked.filter { $0.group == "mid" }.count == 5)
        #expect(picked.filter { $0.group == "small" }.count == 1)
        #expect(picked.map(\.index) == picked.map(\.index).sorted(), "file order kept")
        #expect(Evaluator.select(items, limit: 20, seed: 7).map(\.index) == picked.map(\.index))
        #expect(Evaluator.select(items, limit: 500, seed: 7).count == 100)
    }

    @Test func badTasksGiveClearErrors() throws {
        let dir = temporaryDirectory("eval-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func error(_ spec: [String: Any], rows: [[String: Any]] = [["q": "x", "a": 0]]) -> String {
            do {
                let s = try TaskSpec.load(try writeTask(dir, spec, rows: rows))
                _ = try TaskData.load(s)
                return "no error"
            } catch { return "\(error)" }
        }
        let base: [String: Any] = ["name": "t", "kind": "multiple_choice", "prompt": "{{ q }}", "choices": ["A", "B"], "answer": "{{ a }}"]
        #expect(error(base.filter { $0.key != "prompt" }).contains("missing field 'prompt'"))
        #expect(error(base.merging(["kind": "quiz"]) { $1 }).contains("unknown kind 'quiz'"))
        #expect(error(base.merging(["promt": "x"]) { $1 }).contains("unknown key 'promt'"))
        #expect(error(base.merging(["prompt": "{{ q "]) { $1 }).contains("template 'prompt'"))
        #expect(error(base, rows: []).contains("no rows"))
        #expect(error(base, rows: [["q": "x", "a": 5]]).contains("row 1: answer index 5"))
        #expect(error(base.merging(["data": "missing.jsonl"]) { $1 }).contains("data missing.jsonl not found"))
        #expect(error(base.merging(["kind": "generate"]) { $1 }).contains("missing field 'target'"))
        #expect(error(base.merging(["metrics": ["bleu"]]) { $1 }).contains("metric 'bleu'"))
    }

    @Test func bigBenchTaskFiles() throws {
        let dir = temporaryDirectory("eval-bigbench")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let task: [String: Any] = ["name": "tiny", "examples": [
            ["input": "2 + 2 =", "target_scores": ["3": 0, "4": 1]],
            ["input": "3 + 3 =", "target_scores": ["6": 1, "7": 0]],
        ]]
        try JSONSerialization.data(withJSONObject: task).write(to: URL(fileURLWithPath: dir + "/task.json"))
        try JSONSerialization.data(withJSONObject: ["name": "bb", "kind": "multiple_choice", "format": "bigbench", "data": "task.json"])
            .write(to: URL(fileURLWithPath: dir + "/spec.json"))
        let items = try TaskData.load(try TaskSpec.load(dir + "/spec.json"))
        #expect(items.count == 2 && items[0].prompt == "2 + 2 =" && items[0].choices[items[0].gold!] == "4" && items[1].choices[items[1].gold!] == "6")
    }
}

@Suite struct EvalScorerTests {
    /// Requests sharing prefixes, scored in batches through forks, equal each request scored alone from scratch.
    @Test func batchedScoringWithSharedPrefixesEqualsScoringAlone() throws {
        let model = try InferenceModel(try Transformer(config: tinyLongLlama, seed: 21))
        var rng = RNG(seed: 22)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.below(256)) } }
        let shared = tokens(90)
        var requests: [ScoreRequest] = []
        for i in 0..<11 {
            let ctx = (i % 3 == 2 ? tokens(40) : shared + tokens(3 + i * 7))
            let conts = [tokens(1), tokens(1 + i % 4), tokens(5), []]
            requests.append(ScoreRequest(context: ctx, continuations: conts, prefixKey: i % 3 == 2 ? "own \(i)" : "shared"))
        }
        let engine = try InferenceEngine(model: model, cacheType: .f32)
        let scorer = LoglikelihoodScorer(engine: engine)
        scorer.rowsPerStep = 64
        let got = try scorer.score(requests)
        #expect(scorer.reusedTokens >= 6 * 89, "the shared prefix was computed once: \(scorer.reusedTokens)")
        #expect(engine.cache.usage.blocks == 0, "every sequence released")
        let vocab = model.config.vocabSize
        for (i, r) in requests.enumerated() {
            for (c, cont) in r.continuations.enumerated() where !cont.isEmpty {
                let session = try InferenceSession(model: model, cacheType: .f32)
                let input = r.context + cont.dropLast()
                let logits = try session.forward(input, logits: .all)
                var ll = 0.0
                var greedy = true
                for (t, token) in cont.enumerated() {
                    let row = Array(logits[((r.context.count - 1 + t) * vocab)..<((r.context.count + t) * vocab)]).map(Double.init)
                    let m = row.max()!
                    ll += row[Int(token)] - (m + log(row.reduce(0) { $0 + exp($1 - m) }))
                    greedy = greedy && row.firstIndex(of: m)! == Int(token)
                }
                #expect(abs(got[i][c].logLikelihood - ll) < 1e-4, "request \(i) choice \(c): \(got[i][c].logLikelihood) vs \(ll)")
                #expect(got[i][c].greedy == greedy && got[i][c].tokens == cont.count)
            }
        }
    }
}

@Suite(.serialized) struct SandboxTests {
    /// Hostile programs end as failed within their limits; a correct one passes; the sandbox goes on after each.
    @Test func hostileProgramsFailAndTheRunGoesOn() throws {
        let sandbox = Sandbox()
        sandbox.memoryBytes = 512 << 20
        sandbox.processes = 32
        #expect(sandbox.run(python: "assert sum(range(10)) == 45\n", timeout: 10).passed, "\(sandbox.description)")
        let loop = sandbox.run(python: "while True:\n    pass\n", timeout: 2)
        #expect(!loop.passed && loop.seconds < 6, "\(loop.status)")
        let sleeper = sandbox.run(python: "import time\ntime.sleep(60)\n", timeout: 2)
        #expect(!sleeper.passed && sleeper.seconds < 6 && sleeper.status == "timed out")
        let hog = sandbox.run(python: "x = []\nwhile True:\n    x.append(bytearray(1 << 24))\n", timeout: 10)
        #expect(!hog.passed && hog.seconds < 10, "\(hog.status)")
        let bomb = sandbox.run(python: "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", timeout: 3)
        #expect(!bomb.passed && bomb.seconds < 8, "\(bomb.status)")
        let outside = "/tmp/forge-sandbox-escape-\(getpid())"
        let writer = sandbox.run(python: "open('\(outside)', 'w').write('x')\n", timeout: 5)
        #expect(!writer.passed && !FileManager.default.fileExists(atPath: outside), "\(writer.status)")
        let home = sandbox.run(python: "open('/root/forge-escape', 'w').write('x')\n", timeout: 5)
        #expect(!home.passed && !FileManager.default.fileExists(atPath: "/root/forge-escape"))
        let inside = sandbox.run(python: "open('scratch.txt', 'w').write('x')\nassert open('scratch.txt').read() == 'x'\n", timeout: 5)
        #expect(inside.passed, "its own directory is writable: \(inside.status)")
        if sandbox.isolated {
            let net = sandbox.run(python: "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n", timeout: 5)
            #expect(!net.passed, "no network")
        }
        #expect(sandbox.run(python: "print('still running')\n", timeout: 10).passed, "the sandbox goes on")
        // No process of the sandbox survives (as root it runs as nobody: none of nobody's processes may be alive).
        if getuid() == 0 { #expect(livingProcesses(uid: 65534) == 0, "a sandboxed process outlived its sandbox") }
    }

    /// Processes of `uid` that are not zombies, from /proc.
    func livingProcesses(uid: Int) -> Int {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil } ?? []
        return pids.filter { pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
            let lines = status.split(separator: "\n")
            let uidLine = lines.first { $0.hasPrefix("Uid:") }?.split(whereSeparator: { $0 == "\t" || $0 == " " })
            let state = lines.first { $0.hasPrefix("State:") } ?? ""
            return uidLine.map { $0.count > 1 && Int($0[1]) == uid } == true && !state.contains("Z")
        }.count
    }
}

@Suite(.serialized) struct EvalCommandTests {
    /// `forge eval` end to end on SmolLM2: a spec file with a few items, results and samples written, the markdown
    /// table printed; bad input (a spec with a missing field, an empty task, a model that cannot load) gives a clear
    /// error and a non-zero exit.
    @Test func evalEndToEndAndBadInput() throws {
        let dir = temporaryDirectory("eval-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rows: [[String: Any]] = (0..<8).map { i in
            ["q": "What is \(i) + \(i)?", "choices": ["\(2 * i)", "\(2 * i + 1)", "\(3 * i + 7)"], "gold": 0, "kind": i < 4 ? "small" : "big"]
        }
        let spec = try writeTask(dir, ["name": "sums", "kind": "multiple_choice", "prompt": "Question: {{ q }}\nAnswer:", "group": "kind",
                                       "choices_field": "choices", "answer": "{{ gold }}", "shots": 1], rows: rows)
        let r = try runForge(["eval", "--model", smolLM2Path, "--tasks", spec, "--output", dir + "/out", "--limit", "6"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("| sums | acc |") && r.stdout.contains("| sums | acc_norm |"), "\(r.stdout)")
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/sums.json"))) as! [String: Any]
        #expect(result["n"] as? Int == 6 && (result["model"] as? [String: Any])?["sha256"] as? String != nil)
        #expect(((result["settings"] as? [String: Any])?["shots"] as? Int) == 1 && result["forge_version"] as? String != nil)
        let samples = try String(contentsOfFile: dir + "/out/sums.samples.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(samples.count == 6)
        #expect(FileManager.default.fileExists(atPath: dir + "/out/results.md"))
        #expect(r.stderr.contains("[sums] 6/6"), "a progress line: \(r.stderr)")

        // The score cache: a run interrupted after three items (its file cut there, mid-line) resumes from them and gives
        // the same records as the run without a cache.
        let cache = dir + "/scores.jsonl"
        let cached = try runForge(["eval", "--model", smolLM2Path, "--tasks", spec, "--output", dir + "/c1", "--limit", "6", "--cache", cache])
        #expect(cached.status == 0, "\(cached.stderr)")
        let lines = try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6, "one line per item: \(lines.count)")
        try (lines.prefix(3).joined(separator: "\n") + "\n" + lines[3].prefix(40)).write(toFile: cache, atomically: true, encoding: .utf8)
        let resumed = try runForge(["eval", "--model", smolLM2Path, "--tasks", spec, "--output", dir + "/c2", "--limit", "6", "--cache", cache])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let again = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/c2/sums.json"))) as! [String: Any]
        #expect((again["settings"] as? [String: Any])?["items_from_cache"] as? Int == 3)
        let resumedSamples = try String(contentsOfFile: dir + "/c2/sums.samples.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(resumedSamples == samples, "\(resumedSamples)\n\(samples)")
        #expect(try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n").filter { $0.hasSuffix("}") }.count == 6)

        try JSONSerialization.data(withJSONObject: ["name": "x", "kind": "multiple_choice", "data": "data.jsonl", "choices": ["A"]])
            .write(to: URL(fileURLWithPath: dir + "/bad.json"))
        let bad = try runForge(["eval", "--model", smolLM2Path, "--tasks", dir + "/bad.json"])
        #expect(bad.status != 0 && bad.stderr.contains("bad.json") && bad.stderr.contains("missing field 'prompt'"), "\(bad.stderr)")
        try "".write(toFile: dir + "/empty.jsonl", atomically: true, encoding: .utf8)
        try JSONSerialization.data(withJSONObject: ["name": "e", "kind": "multiple_choice", "data": "empty.jsonl", "prompt": "{{ q }}",
                                                    "choices": ["A", "B"], "answer": "0"]).write(to: URL(fileURLWithPath: dir + "/empty.json"))
        let empty = try runForge(["eval", "--model", smolLM2Path, "--tasks", dir + "/empty.json"])
        #expect(empty.status != 0 && empty.stderr.contains("no rows"), "\(empty.stderr)")
        try "not a model".write(toFile: dir + "/broken.gguf", atomically: true, encoding: .utf8)
        let broken = try runForge(["eval", "--model", dir + "/broken.gguf", "--tasks", spec])
        #expect(broken.status != 0 && broken.stderr.contains("broken.gguf"), "\(broken.stderr)")
        let unknown = try runForge(["eval", "--model", smolLM2Path, "--tasks", "no_such_task"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown task 'no_such_task'"))
        let nothing = try runForge(["report", "--run", dir])
        #expect(nothing.status != 0 && nothing.stderr.contains("holds none of a run's files"), "\(nothing.stderr)")
    }
}

@Suite(.serialized) struct EvalParityTests {
    /// MMLU items scored by Forge on `forge convert`'s Float32 SmolLM2 dir give the per-choice log-likelihoods
    /// lm-evaluation-harness computed on the same dir, items and 5-shot prompts (its hf backend, transformers;
    /// `python3 bench/eval_parity.py --fixture ...` wrote the fixture) within 1e-3, and the same predicted answers.
    @Test func mmluLogLikelihoodsMatchLmEvaluationHarness() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("bench/fixtures/smollm2_lm_eval_mmlu.json")
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let items = fixture["items"] as! [[String: Any]]
        let dir = temporaryDirectory("eval-parity")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runForge(["convert", "--model", smolLM2Path, "--output", dir + "/model"])
        #expect(r.status == 0, "\(r.stderr)")
        var options = EvalOptions()
        options.shots = fixture["shots"] as? Int
        options.only = Set(items.map { $0["index"] as! Int })
        let result = try Evaluator(model: try LoadedModel.open(dir + "/model"), options: options).score(try BuiltinTasks.spec("mmlu"))
        #expect(result.n == items.count)
        var worst = 0.0, same = 0
        for (record, expected) in zip(result.records, items.sorted { ($0["index"] as! Int) < ($1["index"] as! Int) }) {
            #expect(record["index"] as? Int == expected["index"] as? Int)
            let ours = record["loglikelihoods"] as! [Double], theirs = expected["loglikelihoods"] as! [Double]
            worst = max(worst, zip(ours, theirs).map { abs($0 - $1) }.max()!)
            if Metrics.argmax(ours) == Metrics.argmax(theirs) { same += 1 }
        }
        #expect(worst < 1e-3, "largest log-likelihood difference from lm-eval: \(worst)")
        #expect(same == items.count)
    }
}
