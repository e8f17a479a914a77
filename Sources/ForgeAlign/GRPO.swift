// GRPO (Shao et al., DeepSeekMath) with verifiable rewards: each step samples a group of completions per prompt
// from the weights being trained (through the batched engine, the matrices viewed in place, not copied), scores
// them with a checker, and takes each completion's advantage relative to its group: A = (r − mean) / (std + 1e-4).
// The loss per completion token is −(min(ρ·A, clip(ρ, 1−ε, 1+ε_high)·A) − β·KL), ρ = π/π_old and
// KL = exp(ref − log π) − (ref − log π) − 1 (the k3 estimator against the frozen starting model; with LoRA, the
// base without its adapters). Tokens are averaged as TRL's loss types do: "dapo" and "bnpo" over all completion
// tokens of the batch, "grpo" per completion then over completions. Logged as TRL logs them.
import ForgeAutograd
import ForgeCore
import ForgeInference
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

/// How GRPO samples, scores and weighs.
public struct GRPOSettings: Sendable {
    /// Completions per prompt.
    public var group = 8
    /// Weight of the KL penalty to the reference (0: no reference is computed, TRL's default).
    public var beta: Float = 0.04
    /// Clipping range of the ratio: [1 − epsilon, 1 + epsilonHigh].
    public var epsilon: Float = 0.2
    public var epsilonHigh: Float = 0.2
    public var temperature: Float = 1
    public var maxTokens = 128
    public var lossType = GRPOLossType.dapo
    /// Optimizer steps on each batch of rollouts (μ; above 1 the clipped ratio acts).
    public var iterations = 1
    /// Divide advantages by their group's standard deviation.
    public var scaleRewards = true
    public init() {}
}

/// How per-token losses are averaged (TRL's `loss_type`).
public enum GRPOLossType: String, Sendable, CaseIterable {
    case grpo, bnpo, dapo
}

/// A micro-batch of rollouts: prompt + completion rows (right-padded), completion tokens as targets.
public struct RolloutBatch: Sendable {
    public var inputs: [Int32]
    public var targets: [Int32]
    public var layout: TokenLayout
    /// One per row (completion).
    public var advantages: [Float]
    public var rewards: [Double]
    /// Per position: the reference's log-probability of the target (empty when β = 0), and the sampling policy's
    /// (empty with one iteration: the policy is the one being trained).
    public var reference: [Float]
    public var old: [Float]
    /// Completion tokens, and all tokens (not padding).
    public var completionTokens: Int
    public var tokens: Int

    public init(inputs: [Int32], targets: [Int32], layout: TokenLayout, advantages: [Float], rewards: [Double], reference: [Float],
                old: [Float], completionTokens: Int, tokens: Int) {
        (self.inputs, self.targets, self.layout, self.advantages, self.rewards) = (inputs, targets, layout, advantages, rewards)
        (self.reference, self.old, self.completionTokens, self.tokens) = (reference, old, completionTokens, tokens)
    }
}

/// Rollouts of the model being trained on a set of problems, in a seeded order per epoch.
public struct RolloutSource: BatchSource {
    public let model: Transformer
    public let problems: [Problem]
    let prompts: [[Int32]]
    public let settings: GRPOSettings
    /// Prompts per micro-batch.
    public let batch: Int
    let tokenizer: TextTokenizer
    let endTokens: Set<Int32>
    let pad: Int32
    /// Longest row (prompt and completion).
    let seq: Int
    let lora: LoRAConfig?
    /// The frozen starting model (full fine-tuning with β > 0).
    let reference: Transformer?
    let stats: StepMeans
    let seed: UInt64
    public var shuffle = true
    /// The reward of a reply to a problem (default: 1 when its final answer is the problem's, else 0).
    public var reward: @Sendable (String, Problem) -> Double = { AnswerChecker.reward($0, answer: $1.answer) }
    public var state: SamplerState
    var held: (batch: RolloutBatch, uses: Int)?
    /// Where each prompt's rollouts are appended (prompt and completion token ids, texts, rewards, advantages).
    public var log: RolloutLog?

    public init(model: Transformer, problems: [Problem], encoder: ChatEncoder, settings: GRPOSettings, batch: Int, seq: Int, pad: Int32,
                lora: LoRAConfig?, reference: Transformer?, stats: StepMeans, seed: UInt64) throws {
        var prompts: [[Int32]] = []
        for p in problems {
            let ids = try encoder.encodePrompt([ChatMessage(role: "user", content: p.question)], origin: p.origin)
            guard ids.count + settings.maxTokens <= seq else {
                throw ForgeError("\(p.origin): a prompt of \(ids.count) tokens and \(settings.maxTokens) to generate do not fit --seq \(seq)")
            }
            prompts.append(ids)
        }
        guard !prompts.isEmpty else { throw ForgeError("no problems to train on") }
        (self.model, self.problems, self.prompts, self.settings, self.batch, self.seq) = (model, problems, prompts, settings, batch, seq)
        (tokenizer, endTokens, self.pad, self.lora, self.reference, self.stats, self.seed) =
            (encoder.tokenizer, EndTokens.of(encoder.tokenizer), pad, lora, reference, stats, seed)
        state = SamplerState(rng: RNG(seed: seed))
    }

    /// The model as it is now, for the inference engine: its matrices viewed in place, its adapters applied.
    public static func policy(_ model: Transformer, lora: LoRAConfig?) throws -> InferenceModel {
        let m = try InferenceModel(model, name: "policy")
        if let lora { try LoRA.apply(LoRA.weights(of: model, config: lora), to: m, gguf: false) }
        return m
    }

    public mutating func next() -> RolloutBatch {
        if let h = held, h.uses < settings.iterations {
            held = (h.batch, h.uses + 1)
            return h.batch
        }
        var order = (epoch: -1, indices: [Int]())
        var picked: [Int] = []
        let first = state.position
        for _ in 0..<batch {
            let epoch = state.position / problems.count
            if order.epoch != epoch { order = (epoch, epochOrder(count: problems.count, epoch: epoch, seed: seed, shuffle: shuffle)) }
            picked.append(order.indices[state.position % problems.count])
            state.position += 1
        }
        let b: RolloutBatch
        do { b = try rollouts(picked, salt: UInt64(first)) } catch { fatalError("GRPO rollouts: \(error)") }
        held = (b, 1)
        return b
    }

    /// Samples, scores and assembles the rollouts of problems `picked`.
    func rollouts(_ picked: [Int], salt: UInt64) throws -> RolloutBatch {
        let g = settings.group
        var sampling = SamplingSettings()
        (sampling.temperature, sampling.topK, sampling.topP, sampling.minP) = (settings.temperature, 0, 1, 0)
        sampling.seed = seed &+ salt &* 0x2545_F491_4F6C_DD1D
        let groups = try GroupSampler.sample(try Self.policy(model, lora: lora), prompts: picked.map { prompts[$0] }, group: g,
                                             settings: sampling, maxTokens: settings.maxTokens, endTokens: endTokens)
        var rows: [(prompt: [Int32], completion: [Int32])] = [], rewards: [Double] = [], advantages: [Float] = []
        var stds: [Double] = [], ended = 0, lengths = 0
        var records: [RolloutLog.Record] = []
        for (k, p) in picked.enumerated() {
            let texts = groups[k].map { c in tokenizer.decode(c.tokens.filter { !endTokens.contains($0) }, skipSpecial: true) }
            let r = texts.map { reward($0, problems[p]) }
            let mean = r.reduce(0, +) / Double(g)
            let std = g > 1 ? (r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(g - 1)).squareRoot() : 0
            stds.append(std)
            for (c, reward) in zip(groups[k], r) {
                rows.append((prompts[p], c.tokens))
                rewards.append(reward)
                advantages.append(Float(settings.scaleRewards ? (reward - mean) / (std + 1e-4) : reward - mean))
                ended += c.ended ? 1 : 0
                lengths += c.tokens.count
            }
            if log != nil {
                records.append(.init(position: Int(salt) + k, problem: problems[p], prompt: prompts[p], completions: groups[k].map(\.tokens),
                                     texts: texts, rewards: r, advantages: Array(advantages.suffix(g))))
            }
        }
        try log?.append(records)
        let r = ReplyRows(rows.map { ($0.prompt, $0.completion) }, seq: seq, pad: pad)
        var batch = RolloutBatch(inputs: r.inputs, targets: r.targets, layout: r.layout, advantages: advantages, rewards: rewards,
                                 reference: [], old: [], completionTokens: lengths, tokens: r.lengths.reduce(0, +))
        if settings.beta > 0 {
            if let reference {
                batch.reference = Self.tokenLogProbabilities(reference, batch)
            } else {
                // With LoRA the reference is the base: the same model with its adapters set aside.
                let adapters = model.adapters
                model.adapters = [:]
                batch.reference = Self.tokenLogProbabilities(model, batch)
                model.adapters = adapters
            }
        }
        if settings.iterations > 1 { batch.old = Self.tokenLogProbabilities(model, batch) }
        let n = Double(rows.count), mean = rewards.reduce(0, +) / n
        let spread = n > 1 ? (rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot() : 0
        stats.add(["reward": mean, "reward_std": spread,
                   "frac_reward_zero_std": Double(stds.filter { $0 == 0 }.count) / Double(stds.count),
                   "completions/mean_length": Double(lengths) / n, "completions/clipped_ratio": 1 - Double(ended) / n])
        return batch
    }

    /// log π(target) at every position of `b` (0 where there is no target), without gradients.
    static func tokenLogProbabilities(_ model: Transformer, _ b: RolloutBatch) -> [Float] {
        let tape = Tape(recording: false)
        let v = model.targetLogProbabilities(tape, tokens: b.inputs, targets: b.targets, layout: b.layout).value
        return Array(UnsafeBufferPointer(start: v.data, count: v.count))
    }
}

public enum GRPO {
    /// Defaults: TRL's GRPOConfig where it has one (8 completions, ε 0.2, temperature 1, "dapo"), a KL weight of
    /// 0.04 (DeepSeekMath's; TRL's default is 0) and a constant learning rate.
    public static var defaultOptions: TrainingOptions {
        var o = FineTuning.defaultOptions
        o.batch = 2; o.seq = 384; o.steps = 50; o.learningRate = 1e-6; o.decay = .constant; o.evalEvery = 0; o.checkpointEvery = 25
        return o
    }

    /// The GRPO loss of a batch of rollouts; `stats` receives KL and clipping.
    public static func objective(_ settings: GRPOSettings, stats: StepMeans) -> Objective<RolloutBatch> {
        Objective(name: "GRPO (\(settings.lossType.rawValue), β \(settings.beta), ε \(settings.epsilon))",
                  loss: { tape, model, b in
                      let lp = model.targetLogProbabilities(tape, tokens: b.inputs, targets: b.targets, layout: b.layout)
                      return tape.grpoLoss(lp, batch: b, settings: settings,
                                           stats: tape.recording ? stats : nil)
                  },
                  tokens: { $0.completionTokens }, processed: { $0.tokens })
    }

    /// Greedy replies to `problems` and the share whose answer is right.
    public static func exactMatch(_ model: InferenceModel, problems: [Problem], encoder: ChatEncoder, maxTokens: Int) throws
        -> (accuracy: Double, replies: [String]) {
        let prompts = try problems.map { try encoder.encodePrompt([ChatMessage(role: "user", content: $0.question)], origin: $0.origin) }
        let ends = EndTokens.of(encoder.tokenizer)
        let out = try GroupSampler.sample(model, prompts: prompts, group: 1, settings: .greedy, maxTokens: maxTokens, endTokens: ends)
        let replies = out.map { encoder.tokenizer.decode($0[0].tokens.filter { !ends.contains($0) }, skipSpecial: true) }
        let right = zip(replies, problems).reduce(0.0) { $0 + AnswerChecker.reward($1.0, answer: $1.1.answer) }
        return (problems.isEmpty ? 0 : right / Double(problems.count), replies)
    }

    /// A GRPO trainer in `runDir` over `base` (weights from the run's checkpoint when `resume`). `reference` is the
    /// frozen starting model for the KL term of full fine-tuning (with LoRA the base is the reference).
    public static func trainer(base: BaseModel, problems: [Problem], settings: GRPOSettings, options: TrainingOptions, runDir: String,
                               resume: Bool, reference: Transformer?, lora: LoRAConfig? = nil, loraInit: LoRAWeights? = nil,
                               baseName: String = "", reward: (@Sendable (String, Problem) -> Double)? = nil,
                               log: (String) -> Void = { _ in }) throws -> Trainer<RolloutBatch> {
        guard settings.group >= 2 else { throw ForgeError("GRPO needs groups of at least 2 completions (got \(settings.group))") }
        guard settings.beta >= 0, settings.epsilon >= 0, settings.epsilonHigh >= 0, settings.iterations >= 1, settings.maxTokens >= 1,
              settings.temperature > 0 else {
            throw ForgeError("GRPO settings out of range: β, ε ≥ 0, iterations ≥ 1, max tokens ≥ 1, temperature > 0")
        }
        let (checkpoint, options) = try PostTraining.resumePoint(runDir: runDir, resume: resume, base: base, options: options)
        let adapter = try PostTraining.attachLoRA(lora, initial: loraInit, to: base, seed: options.seed, log: log)
        guard settings.beta == 0 || adapter != nil || reference != nil else {
            throw ForgeError("β > 0 without LoRA needs the starting model as a reference")
        }
        let encoder = try base.chatEncoder()
        let stats = StepMeans()
        var source = try RolloutSource(model: base.transformer, problems: problems, encoder: encoder, settings: settings, batch: options.batch,
                                       seq: options.seq, pad: base.padToken, lora: adapter, reference: adapter == nil ? reference : nil,
                                       stats: stats, seed: options.seed)
        if let reward { source.reward = reward }
        source.log = try RolloutLog(path: runDir + "/rollouts.jsonl")
        log("\(problems.count) problems, \(options.batch) prompts × \(settings.group) completions per micro-batch, "
            + "up to \(settings.maxTokens) tokens each")
        let trainer = try Trainer(model: base.transformer, options: options, source: source, objective: objective(settings, stats: stats),
                                  validation: [], runDir: runDir, tokenizer: base.tokenizer, checkpoint: checkpoint)
        trainer.stepMetrics = stats.take
        trainer.chatTemplate = encoder.template.source
        try PostTraining.saveAdapter(adapter, of: trainer, baseName: baseName)
        return trainer
    }
}

extension Tape {
    /// GRPO's clipped surrogate with the k3 KL penalty, averaged over completion tokens per `settings.lossType`,
    /// from the trained policy's token log-probabilities [B·T] (0 where there is no target).
    public func grpoLoss(_ logps: Variable, batch b: RolloutBatch, settings s: GRPOSettings, stats: StepMeans? = nil) -> Variable {
        let (rows, width) = (b.layout.batch, b.layout.seq)
        precondition(logps.value.count == rows * width && b.advantages.count == rows)
        precondition(s.beta == 0 || b.reference.count == rows * width, "GRPO batch without reference log-probabilities")
        let lp = logps.value.data
        var weights = [Double](repeating: 0, count: rows * width), slopes = [Double](repeating: 0, count: rows * width)
        var loss = 0.0, kls = 0.0, clipped = 0.0, counted = 0.0
        let total = Double(b.targets.lazy.filter { $0 >= 0 }.count)
        for r in 0..<rows {
            let own = Double(b.targets[(r * width)..<((r + 1) * width)].lazy.filter { $0 >= 0 }.count)
            let a = Double(b.advantages[r])
            for t in (r * width)..<((r + 1) * width) where b.targets[t] >= 0 {
                let l = Double(lp[t]), old = b.old.isEmpty ? l : Double(b.old[t])
                let ratio = exp(l - old), bounded = min(max(ratio, 1 - Double(s.epsilon)), 1 + Double(s.epsilonHigh))
                let (u, v) = (ratio * a, bounded * a)
                var objective = min(u, v), slope = u <= v ? u : 0
                if u > v { clipped += 1 }
                if s.beta > 0 {
                    let d = Double(b.reference[t]) - l
                    let kl = exp(d) - d - 1
                    kls += kl
                    objective -= Double(s.beta) * kl
                    slope -= Double(s.beta) * (1 - exp(d))
                }
                let w = s.lossType == .grpo ? 1 / (Double(rows) * max(own, 1)) : 1 / max(total, 1)
                weights[t] = w
                slopes[t] = -slope
                loss -= w * objective
                counted += 1
            }
        }
        if let stats, counted > 0 {
            stats.add(["kl": kls / counted, "clip_ratio": clipped / counted])
        }
        let result = self.result(Tensor(shape: [1], values: [Float(loss)]), inputs: logps)
        record(result) {
            let g = Double(result.grad!.data[0])
            logps.withGrad { d, acc in
                for i in 0..<(rows * width) { d[i] = (acc ? d[i] : 0) + Float(g * weights[i] * slopes[i]) }
            }
        }
        return result
    }
}
