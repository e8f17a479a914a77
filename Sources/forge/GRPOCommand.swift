// forge grpo: RL with verifiable rewards (GRPO) on problems with known answers; forge problems: those problems.
import ArgumentParser
import ForgeAlign
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTrain
import Foundation

enum ReinforcementDefaults: TrainingDefaults { static var options: TrainingOptions { GRPO.defaultOptions } }

extension GRPOLossType: ExpressibleByArgument {}

struct GRPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Reinforce a model on problems with checkable answers (GRPO: group-relative advantages, clipped ratio, KL to the start).",
        discussion: """
        Each step samples --group completions of --batch prompts from the weights being trained (the batched engine \
        viewing them in place), rewards a completion 1 when its final answer ("The answer is N", else its last number) \
        equals the problem's, and weighs its tokens by the advantage over its group. metrics.jsonl gets TRL's \
        quantities: reward, reward_std, frac_reward_zero_std, kl, clip_ratio, completions/mean_length, \
        completions/clipped_ratio. With --eval-problems, greedy exact match on them is measured before and after, \
        written to RUN/exact_match.json. Problems: JSONL {"prompt" | "question", "answer"} (a GSM8K answer's \
        "#### N" is read), as `forge problems` writes them.

        Example:
          forge problems --count 2000 --format sft --output sft.jsonl
          forge problems --count 1000 --output train.jsonl && forge problems --count 200 --held-out --output held.jsonl
          forge sft --model SmolLM2.gguf --data sft.jsonl --run runs/sft --steps 100
          forge grpo --model runs/sft/model --problems train.jsonl --eval-problems held.jsonl --run runs/grpo --steps 50
        """)

    @Option(help: "The starting (and reference) model: a .gguf file or a model dir.") var model: String
    @Option(parsing: .upToNextOption, help: "Problem files (JSONL).") var problems: [String]
    @Option(name: .customLong("run"), help: "Run directory.") var runDir: String
    @Option(help: "Held-out problems for exact match before and after (JSONL).") var evalProblems: String?
    @Option(help: "Use at most this many held-out problems.") var evalLimit = 200
    @Option(help: "Completions per prompt.") var group = 8
    @Option(help: "KL weight to the starting model (0: none, TRL's default; DeepSeekMath used 0.04).") var beta: Float = 0.04
    @Option(help: "Clipping: the ratio is kept in [1 − ε, 1 + ε-high].") var epsilon: Float = 0.2
    @Option(help: "Upper clipping (default: ε).") var epsilonHigh: Float?
    @Option(help: "Sampling temperature of the rollouts.") var temperature: Float = 1
    @Option(help: "Most tokens a completion may have.") var maxTokens = 128
    @Option(help: "Token averaging: dapo (TRL's default), bnpo or grpo (per completion, then over completions).")
    var lossType: GRPOLossType = .dapo
    @Option(help: "Optimizer steps per batch of rollouts (μ).") var iterations = 1
    @Flag(help: "Advantages as reward − group mean, not divided by the group's deviation.") var noScaleRewards = false
    @Option(help: "Train on at most this many problems.") var limit: Int?
    @Flag(help: "Continue from RUN/checkpoint.safetensors.") var resume = false
    @OptionGroup var loraFlags: LoRAFlags
    @OptionGroup var training: TrainingFlags<ReinforcementDefaults>
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var settings = GRPOSettings()
        (settings.group, settings.beta, settings.epsilon, settings.epsilonHigh) = (group, beta, epsilon, epsilonHigh ?? epsilon)
        (settings.temperature, settings.maxTokens, settings.lossType, settings.iterations) = (temperature, maxTokens, lossType, iterations)
        settings.scaleRewards = !noScaleRewards
        var train: [Problem] = []
        for p in problems { train += try ArithmeticProblems.read(p) }
        if let limit { train = Array(train.prefix(limit)) }
        let held = try evalProblems.map { Array(try ArithmeticProblems.read($0).prefix(evalLimit)) }
        let progress = ProgressLine()
        progress.line("loading \(model)")
        let base = try BaseModel.load(model)
        let lora = try loraFlags.config()
        let loraInit = try loraFlags.initial.map { try LoRA.load($0, for: base.transformer.config) }
        let reference: Transformer?
        if beta > 0 && lora == nil && loraInit == nil {
            reference = try BaseModel.load(model).transformer
            reference!.freezeAll()
        } else {
            reference = nil
        }
        Interrupt.install()
        let trainer = try GRPO.trainer(base: base, problems: train, settings: settings, options: training.options, runDir: runDir,
                                       resume: resume, reference: reference, lora: lora, loraInit: loraInit, baseName: model,
                                       log: { progress.line($0) })
        let encoder = try base.chatEncoder()
        let resultPath = runDir + "/exact_match.json"
        var result = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: resultPath)))) as? [String: Any] ?? [:]
        func measure(_ name: String) throws {
            guard let held else { return }
            progress.line("exact match on \(held.count) held-out problems (\(name))…")
            let policy = try RolloutSource.policy(trainer.model, lora: lora ?? loraInit?.config)
            let (accuracy, replies) = try GRPO.exactMatch(policy, problems: held, encoder: encoder, maxTokens: maxTokens)
            result[name] = ["exact_match": accuracy, "n": held.count, "step": trainer.step]
            result["problems"] = evalProblems
            try AtomicFile.write(resultPath, data: try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys]))
            var lines = ""
            for (p, r) in zip(held, replies) {
                let o: [String: Any] = ["question": p.question, "answer": p.answer, "reply": r, "correct": AnswerChecker.reward(r, answer: p.answer) == 1]
                lines += String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self) + "\n"
            }
            try AtomicFile.write(runDir + "/exact_match.\(name).jsonl", string: lines)
            progress.line(String(format: "exact match (%@): %.1f%% of %d", name, 100 * accuracy, held.count))
        }
        // The starting point: measured once, before the first step (a resumed run keeps the first run's figure).
        if result["before"] == nil && trainer.step == 0 { try measure("before") }
        let summary = try trainer.run()
        if summary.alreadyComplete { return }
        if let last = trainer.metrics.records.last(where: { $0.kind == "train" }) {
            let keys = ["reward", "reward_std", "kl", "clip_ratio", "completions/mean_length"]
            progress.line(keys.compactMap { k in last.values[k].map { String(format: "%@ %.4f", k, $0) } }.joined(separator: "  "))
        }
        try exitIfInterrupted(summary, trainer, progress)
        try measure("after")
        if let b = (result["before"] as? [String: Any])?["exact_match"] as? Double, let a = (result["after"] as? [String: Any])?["exact_match"] as? Double {
            progress.line(String(format: "held-out exact match: %.1f%% → %.1f%% after %d steps", 100 * b, 100 * a, trainer.step))
        }
        progress.line(lora == nil && loraInit == nil ? "model: \(trainer.modelDir)" : "adapter: \(runDir)/adapter")
    }
}

struct ProblemsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "problems",
        abstract: "Write arithmetic and word problems with known answers (for forge grpo) or their worked solutions (for forge sft).",
        discussion: """
        Seven kinds, from sums of two numbers to two-step word problems; problem i of a seed is always the same. \
        --held-out takes the other side of a split by a hash of the question (10% of questions), so training and \
        held-out files never share one. --format problems writes {"prompt", "answer"}; --format sft writes \
        {"messages": [user question, assistant steps ending "The answer is N."]}.
        """)

    enum Format: String, ExpressibleByArgument { case problems, sft }

    @Option(help: "How many problems.") var count: Int
    @Flag(help: "Take held-out problems instead of training ones.") var heldOut = false
    @Option(help: "problems or sft.") var format: Format = .problems
    @Option(help: "Stream seed.") var seed: UInt64 = 0
    @Option(help: "Output JSONL file.") var output: String

    func run() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        let list = ArithmeticProblems.problems(count: count, heldOut: heldOut, seed: seed)
        var text = ""
        for p in list {
            let o: [String: Any] = format == .problems
                ? ["prompt": p.question, "answer": p.answer, "origin": p.origin]
                : ["messages": [["role": "user", "content": p.question], ["role": "assistant", "content": p.solution]]]
            text += String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self) + "\n"
        }
        try AtomicFile.write(output, string: text)
        print("\(list.count) \(heldOut ? "held-out" : "training") problems → \(output)")
    }
}
