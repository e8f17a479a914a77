// RL with verifiable rewards: the GRPO loss against Float64 and finite differences for each loss type, the group
// sampler against generation from scratch, generated problems whose steps check out, answer extraction, and a GRPO
// run (full with a reference, and LoRA) whose resumed form equals the uninterrupted one.
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation
import Testing

@Suite struct GRPOLossTests {
    /// Three completions of width 5 (some positions without targets), ratios inside and outside the clip range,
    /// positive and negative advantages, a reference for the KL term.
    @Test(arguments: GRPOLossType.allCases)
    func theLossAndItsGradientMatchFloat64(type: GRPOLossType) {
        let (rows, width) = (3, 5)
        let targets: [Int32] = [-1, 4, 7, 2, -1,   -1, -1, 3, 3, 9,   5, 1, 8, 6, 2]
        var rng = RNG(seed: 11)
        let lp = (0..<(rows * width)).map { _ in Float(-0.2 - 3 * rng.uniform()) }
        // old = lp − offset, so ρ = e^offset: inside [0.8, 1.2] for small offsets, clipped for ±0.5 and more.
        let offsets: [Float] = [0, 0.05, -0.6, 0.7, 0, 0, 0, -0.03, 0.5, -0.4, 0.1, 0.9, -0.7, 0.02, 0.3]
        let old = zip(lp, offsets).map { $0 - $1 }
        let reference = lp.map { $0 + Float(rng.uniform() - 0.5) }
        let advantages: [Float] = [1.3, -0.8, 0.4]
        var settings = GRPOSettings()
        (settings.lossType, settings.beta, settings.epsilon, settings.epsilonHigh) = (type, 0.05, 0.2, 0.28)
        let batch = RolloutBatch(inputs: [Int32](repeating: 0, count: rows * width), targets: targets, layout: TokenLayout(batch: rows, seq: width),
                                 advantages: advantages, rewards: [1, 0, 1], reference: reference, old: old, completionTokens: 11, tokens: 15)
        checkOp("grpoLoss/\(type.rawValue)", inputs: [Tensor(shape: [rows * width], values: lp)], tolerance: 1e-4,
                fast: { t, v in t.grpoLoss(v[0], batch: batch, settings: settings) },
                reference: { x in
                    let l = x[0]
                    var total = 0.0
                    let all = Double(targets.filter { $0 >= 0 }.count)
                    for r in 0..<rows {
                        let own = Double(targets[(r * width)..<((r + 1) * width)].filter { $0 >= 0 }.count)
                        for t in (r * width)..<((r + 1) * width) where targets[t] >= 0 {
                            let ratio = exp(l[t] - Double(old[t])), a = Double(advantages[r])
                            let surrogate = min(ratio * a, min(max(ratio, 0.8), 1.28) * a)
                            let d = Double(reference[t]) - l[t]
                            let perToken = -(surrogate - 0.05 * (exp(d) - d - 1))
                            total += perToken / (type == .grpo ? Double(rows) * own : all)
                        }
                    }
                    return [total]
                })
    }

    /// With one iteration (no old log-probabilities) the ratio is 1 and the gradient is −A·∇log π per token (plus the KL's).
    @Test func withOneIterationTheRatioIsOne() {
        let targets: [Int32] = [-1, 3, 4, -1]
        var settings = GRPOSettings()
        settings.beta = 0
        let batch = RolloutBatch(inputs: [0, 0, 0, 0], targets: targets, layout: TokenLayout(batch: 1, seq: 4), advantages: [2],
                                 rewards: [1], reference: [], old: [], completionTokens: 2, tokens: 4)
        let tape = Tape()
        let v = Variable(Tensor(shape: [4], values: [0, -1.5, -0.25, 0]), requiresGrad: true)
        let loss = tape.grpoLoss(v, batch: batch, settings: settings)
        tape.backward(loss)
        let value = loss.value.data[0]
        #expect(abs(value + 2) < 1e-6, "−mean(ρ·A) = −2: \(value)")
        #expect(v.grad!.array == [0, -1, -1, 0])
    }
}

@Suite struct ProblemTests {
    /// Every generated problem is the same when generated again, its steps are true arithmetic ending at its answer,
    /// and training and held-out problems never share a question.
    @Test func problemsAreReproducibleCorrectAndSplit() throws {
        for i in 0..<700 {
            let p = ArithmeticProblems.problem(i, seed: 3)
            #expect(p == ArithmeticProblems.problem(i, seed: 3))
            var last: Int?
            for step in p.steps.split(separator: ".").map({ $0.trimmingCharacters(in: .whitespaces) }) where !step.isEmpty {
                let sides = step.components(separatedBy: " = ")
                let parts = sides[0].split(separator: " ")
                let (a, op, b, c) = (Int(parts[0])!, parts[1], Int(parts[2])!, Int(sides[1])!)
                let value = op == "+" ? a + b : op == "-" ? a - b : op == "×" ? a * b : a / b
                #expect(value == c && (op != "÷" || a % b == 0), "\(p.origin): \(step)")
                last = c
            }
            #expect(last.map(String.init) == p.answer, "\(p.origin): \(p.steps) → \(p.answer)")
            #expect(AnswerChecker.reward(p.solution, answer: p.answer) == 1)
        }
        let train = Set(ArithmeticProblems.problems(count: 2000, heldOut: false).map(\.question))
        let held = ArithmeticProblems.problems(count: 200, heldOut: true)
        #expect(train.count == 2000 && held.count == 200 && held.allSatisfy { !train.contains($0.question) })
    }

    @Test func answersAreReadAsGSM8KsFlexibleExtractionReadsThem() {
        let cases: [(String, String, Double)] = [
            ("3 + 4 = 7. The answer is 7.", "7", 1), ("The answer is 1,234.", "1234", 1), ("It is -5", "-5", 1),
            ("The answer is 12 apples, not 15", "12", 1), ("12 + 3 = 15", "15", 1), ("no number here", "3", 0),
            ("The answer is 8. Wait, 9", "8", 1), ("$42.", "42", 1), ("4.5", "4.5", 1), ("7 - 2 = 5. The answer is 6.", "5", 0),
        ]
        for (reply, answer, want) in cases { #expect(AnswerChecker.reward(reply, answer: answer) == want, "\(reply) vs \(answer)") }
    }

    @Test func problemFilesReadGSM8KAnswersAndNameBadLines() throws {
        let dir = temporaryDirectory("problems")
        let good = dir + "/p.jsonl"
        try """
            {"question": "Ann has 3 cats and gets 2 more. How many?", "answer": "3 + 2 = 5\\n#### 5"}
            {"prompt": "What is 2 × 21?", "answer": 42}
            """.write(toFile: good, atomically: true, encoding: .utf8)
        let p = try ArithmeticProblems.read(good)
        #expect(p.map(\.answer) == ["5", "42"] && p[0].steps == "3 + 2 = 5")
        try #"{"prompt": "x", "answer": "many"}"#.write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        #expect(throws: ForgeError.self) { try ArithmeticProblems.read(dir + "/bad.jsonl") }
        do { _ = try ArithmeticProblems.read(dir + "/bad.jsonl") } catch { #expect("\(error)".contains("bad.jsonl:1") && "\(error)".contains("not a number")) }
    }
}

@Suite struct GroupSamplerTests {
    /// Greedy completions equal generation from scratch (the whole sequence recomputed for every token), and
    /// sampled groups do not depend on how many prompts share an engine step.
    @Test func completionsEqualGenerationFromScratchAndDoNotDependOnBatching() throws {
        let transformer = try Transformer(config: tinyLongLlama, seed: 5)
        let model = try InferenceModel(transformer)
        var rng = RNG(seed: 6)
        let prompts = (0..<5).map { i in (0..<(3 + 4 * i)).map { _ in Int32(rng.below(256)) } }
        let ends: Set<Int32> = [7, 8]
        let greedy = try GroupSampler.sample(model, prompts: prompts, group: 1, settings: .greedy, maxTokens: 12, endTokens: ends)
        for (p, prompt) in prompts.enumerated() {
            var tokens = prompt, out: [Int32] = []
            let vocab = model.config.vocabSize
            while out.count < 12 {
                let logits = try InferenceSession(model: model, cacheType: .f32).forward(tokens, logits: .last)
                let next = Int32(Sampler.argmax(Array(logits.suffix(vocab))))
                out.append(next); tokens.append(next)
                if ends.contains(next) { break }
            }
            #expect(greedy[p][0].tokens == out, "prompt \(p)")
            #expect(greedy[p][0].ended == ends.contains(out.last!))
        }
        var s = SamplingSettings()
        (s.temperature, s.topK, s.topP, s.minP, s.seed) = (1, 0, 1, 0, 99)
        let together = try GroupSampler.sample(model, prompts: prompts, group: 4, settings: s, maxTokens: 10, endTokens: ends, promptsPerStep: 5)
        let alone = try GroupSampler.sample(model, prompts: prompts, group: 4, settings: s, maxTokens: 10, endTokens: ends, promptsPerStep: 1)
        #expect(together == alone)
        #expect(Set(together.flatMap { $0.map(\.tokens) }).count > 10, "completions of a group differ")
    }
}

@Suite struct GRPORunTests {
    /// A GRPO run stopped after two steps and resumed equals the run that went straight through (rollouts, rewards,
    /// losses and weights), with a reference model (full) and with LoRA (the base as reference). The reward here
    /// varies within groups (a random tiny model never answers right), so the steps really move the weights.
    @Test(arguments: [false, true])
    func aResumedRunEqualsAnUninterruptedOne(lora: Bool) throws {
        let base = try FineTuningRunTests.tinyBase()
        let problems = ArithmeticProblems.problems(count: 12, heldOut: false)
        var options = GRPO.defaultOptions
        options.batch = 2; options.seq = 128; options.steps = 4; options.learningRate = 1e-2; options.checkpointEvery = 0
        var settings = GRPOSettings()
        (settings.group, settings.maxTokens, settings.beta) = (3, 6, 0.1)
        let reward: @Sendable (String, Problem) -> Double = { reply, _ in Double(reply.unicodeScalars.count % 5) }
        func train(_ dir: String, stopAt: Int?, resume: Bool) throws -> Trainer<RolloutBatch> {
            let config = lora ? try LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: ["q", "v", "up"]) : nil
            let reference = lora ? nil : try BaseModel.load(base).transformer
            let t = try GRPO.trainer(base: try BaseModel.load(base), problems: problems, settings: settings, options: options, runDir: dir,
                                     resume: resume, reference: reference, lora: config, reward: reward)
            t.progress = nil
            _ = try t.run(stopAt: stopAt)
            return t
        }
        let straight = try train(temporaryDirectory("grpo-a"), stopAt: nil, resume: false)
        let dir = temporaryDirectory("grpo-b")
        _ = try train(dir, stopAt: 2, resume: false)
        let resumed = try train(dir, stopAt: nil, resume: true)
        let records = { (t: Trainer<RolloutBatch>) in t.metrics.records.filter { $0.kind == "train" } }
        #expect(records(straight).count == 4)
        for key in ["loss", "reward", "reward_std", "kl", "completions/mean_length"] {
            #expect(records(straight).map { $0.values[key] } == records(resumed).map { $0.values[key] }, "\(key)")
        }
        #expect(records(straight).contains { $0.values["kl"]! > 0 }, "the policy moved away from the reference")
        #expect(straight.model.trainableParameters.map(\.value.array) == resumed.model.trainableParameters.map(\.value.array))
        let start = try BaseModel.load(base).transformer
        #expect(lora || straight.model.parameters.map(\.value.array) != start.parameters.map(\.value.array))
        if lora { #expect(FileManager.default.fileExists(atPath: dir + "/adapter/adapter_model.safetensors")) }
    }

    /// GRPO raises the reward it is given: a tiny byte-level model, rewarded when its reply starts with a lowercase
    /// letter (about 10% of bytes at the start), gives such replies far more often after a few steps (the sign and the
    /// weighting of the update, end to end).
    @Test func theRewardGoesUp() throws {
        var config = tinyLongLlama
        config.contextLength = 256
        let base = BaseModel(transformer: try Transformer(config: config, seed: 3), tokenizer: ByteTokenizer(),
                             chatTemplate: "{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}A: {% endif %}")
        var options = GRPO.defaultOptions
        options.batch = 4; options.seq = 256; options.steps = 24; options.learningRate = 1e-2; options.checkpointEvery = 0
        var settings = GRPOSettings()
        (settings.group, settings.maxTokens, settings.beta) = (8, 2, 0)
        let reward: @Sendable (String, Problem) -> Double = { reply, _ in
            reply.unicodeScalars.first.map { ("a"..."z").contains($0) ? 1 : 0 } ?? 0
        }
        let problems = ArithmeticProblems.problems(count: 16, heldOut: false).filter { $0.question.utf8.count < 200 }
        let t = try GRPO.trainer(base: base, problems: problems, settings: settings, options: options, runDir: temporaryDirectory("grpo-up"),
                                 resume: false, reference: nil, reward: reward)
        t.progress = nil
        _ = try t.run()
        let rewards = t.metrics.records.filter { $0.kind == "train" }.map { $0.values["reward"]! }
        let (first, last) = (rewards.prefix(3).reduce(0, +) / 3, rewards.suffix(3).reduce(0, +) / 3)
        #expect(first < 0.3 && last > first + 0.3, "reward per step: \(rewards)")
    }

    /// `forge problems` then `forge grpo` end to end on the tiny base (two steps, exact match before and after), and bad
    /// input: a problem file with a bad line, groups of one, a prompt that cannot fit --seq.
    @Test func commandLineRunAndBadInput() throws {
        let base = try FineTuningRunTests.tinyBase()
        let dir = temporaryDirectory("grpo-cli")
        let made = try runForge(["problems", "--count", "6", "--output", dir + "/train.jsonl"])
        #expect(made.status == 0 && made.stdout.contains("6 training problems"), "\(made.stderr)")
        #expect(try runForge(["problems", "--count", "3", "--held-out", "--output", dir + "/held.jsonl"]).status == 0)
        let common = ["grpo", "--model", base, "--problems", dir + "/train.jsonl", "--max-tokens", "4", "--group", "2", "--batch", "1", "--seq", "128"]
        let run = try runForge(common + ["--run", dir + "/run", "--steps", "2", "--eval-problems", dir + "/held.jsonl"])
        #expect(run.status == 0, "\(run.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run/exact_match.json"))) as! [String: Any]
        #expect((result["before"] as? [String: Any])?["n"] as? Int == 3 && (result["after"] as? [String: Any])?["step"] as? Int == 2)
        let records = try String(contentsOfFile: dir + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(records.count == 2 && records.allSatisfy { $0.contains("\"reward\"") && $0.contains("\"kl\"") })

        try "{\"prompt\": \"What is 2 + 2?\", \"answer\": 4}\n{\"prompt\": \"x\"}\n".write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        let bad = try runForge(["grpo", "--model", base, "--problems", dir + "/bad.jsonl", "--run", dir + "/bad"])
        #expect(bad.status != 0 && bad.stderr.contains("bad.jsonl:2") && bad.stderr.contains("\"answer\""), "\(bad.stderr)")
        let one = try runForge(common + ["--run", dir + "/one", "--group", "1"])
        #expect(one.status != 0 && one.stderr.contains("at least 2"), "\(one.stderr)")
        let long = try runForge(common + ["--run", dir + "/long", "--seq", "40"])
        #expect(long.status != 0 && long.stderr.contains("do not fit --seq 40"), "\(long.stderr)")
    }
}
