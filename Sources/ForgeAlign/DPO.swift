// DPO (Rafailov et al.): the policy learns to prefer the chosen reply over the rejected one more than the frozen
// reference does. Per pair, z = β·((log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))), loss = −log σ(z), summed
// log-probabilities over the reply's tokens. The reference's log-probabilities are computed once, before training,
// from the starting model (with LoRA: the base without its adapters, which is the same thing), in the same batches
// training uses. Logged as TRL logs them: rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies.
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTrain
import Foundation

/// B pairs as 2B right-padded rows (chosen rows, then rejected rows), reply tokens as targets, and the reference's
/// summed log-probabilities of each row.
public struct PairBatch: Sendable {
    public var inputs: [Int32]
    public var targets: [Int32]
    public var layout: TokenLayout
    public var reference: [Float]
    /// Each row's length (prompt and reply, without padding).
    public var lengths: [Int]
    public var pairs: Int { layout.batch / 2 }
    /// Tokens the rows hold (not padding).
    public var tokens: Int
}

/// Batches of preference pairs in a seeded order per epoch, with their reference log-probabilities.
public struct PairBatches: BatchSource {
    public let examples: [PairExample]
    /// Reference log-probabilities (chosen, rejected) per example.
    public var reference: [(Float, Float)] = []
    public let batch: Int, pad: Int32, seq: Int
    /// Shuffle each epoch (false: file order, for curricula and side-by-side checks).
    public var shuffle = true
    public var state: SamplerState
    let seed: UInt64

    public init(examples: [PairExample], batch: Int, seq: Int, pad: Int32, seed: UInt64, overLong: OverLong = .error) throws {
        var kept: [PairExample] = []
        for var e in examples {
            let longest = e.prompt.count + max(e.chosen.count, e.rejected.count)
            if longest > seq {
                switch overLong {
                case .error: throw ForgeError("\(e.origin): \(longest) tokens, more than a sequence of \(seq) (raise --seq, or --over-long truncate|skip)")
                case .skip: continue
                case .truncate:
                    guard e.prompt.count < seq else { continue }
                    e.chosen = Array(e.chosen.prefix(seq - e.prompt.count)); e.rejected = Array(e.rejected.prefix(seq - e.prompt.count))
                }
            }
            kept.append(e)
        }
        guard !kept.isEmpty else { throw ForgeError("no preference pair fits in \(seq) tokens") }
        (self.examples, self.batch, self.pad, self.seed, self.seq) = (kept, batch, pad, seed, seq)
        state = SamplerState(rng: RNG(seed: seed))
    }

    func order(epoch: Int) -> [Int] { epochOrder(count: examples.count, epoch: epoch, seed: seed, shuffle: shuffle) }

    public mutating func next() -> PairBatch {
        var cache = (epoch: -1, order: [Int]())
        var picked: [Int] = []
        for _ in 0..<batch {
            let epoch = state.position / examples.count
            if cache.epoch != epoch { cache = (epoch, order(epoch: epoch)) }
            picked.append(cache.order[state.position % examples.count])
            state.position += 1
        }
        return assemble(picked)
    }

    /// The batch of examples `indices` (with their reference values when computed).
    public func assemble(_ indices: [Int]) -> PairBatch {
        let rows = indices.map { (examples[$0].prompt, examples[$0].chosen) } + indices.map { (examples[$0].prompt, examples[$0].rejected) }
        let r = ReplyRows(rows, seq: seq, pad: pad)
        let ref = reference.isEmpty ? [] : indices.map { reference[$0].0 } + indices.map { reference[$0].1 }
        return PairBatch(inputs: r.inputs, targets: r.targets, layout: r.layout, reference: ref, lengths: r.lengths,
                         tokens: r.lengths.reduce(0, +))
    }
}

/// Prompt + reply rows, right-padded to the longest rounded up to 64 (at most `seq`: few distinct tensor sizes for
/// the buffer pool), the reply's tokens as targets (DPO pairs, GRPO rollouts).
struct ReplyRows {
    var inputs: [Int32] = [], targets: [Int32] = []
    var lengths: [Int] = []
    let layout: TokenLayout

    init(_ rows: [(prompt: [Int32], reply: [Int32])], seq: Int, pad: Int32) {
        let width = min(seq, (rows.map { $0.prompt.count + $0.reply.count }.max()! + 63) / 64 * 64)
        for (prompt, reply) in rows {
            let tokens = prompt + reply
            lengths.append(tokens.count)
            for t in 0..<width {
                inputs.append(t < tokens.count ? tokens[t] : pad)
                targets.append(t + 1 < tokens.count && t + 1 >= prompt.count ? tokens[t + 1] : -1)
            }
        }
        layout = TokenLayout(batch: rows.count, seq: width)
    }
}

extension PairBatches {

    /// Computes the reference log-probabilities of every example with `model` as it is now (no gradients).
    public mutating func computeReference(_ model: Transformer) {
        reference = Array(repeating: (0, 0), count: examples.count)
        for start in stride(from: 0, to: examples.count, by: batch) {
            let idx = Array(start..<min(start + batch, examples.count))
            let b = assemble(idx)
            let lp = DPO.sequenceLogProbabilities(Tape(recording: false), model, b).value
            for (k, i) in idx.enumerated() { reference[i] = (lp.data[k], lp.data[idx.count + k]) }
        }
    }
}

/// Running means of a step's extra metrics over its micro-batches (TRL's DPO rewards, GRPO's rewards and KL).
public final class StepMeans {
    var sums: [String: Double] = [:], counts: [String: Int] = [:]
    public init() {}
    /// Adds one value per key (each key averages over its own adds: GRPO adds rewards and KL at different times).
    public func add(_ values: [String: Double]) { for (k, v) in values { sums[k, default: 0] += v; counts[k, default: 0] += 1 } }
    /// The means since the last call, then reset.
    public func take() -> [String: Double] {
        defer { sums = [:]; counts = [:] }
        return Dictionary(uniqueKeysWithValues: sums.map { ($0.key, $0.value / Double(counts[$0.key]!)) })
    }
}

public enum DPO {
    /// Summed log-probabilities of each row's reply tokens, [2B].
    static func sequenceLogProbabilities(_ tape: Tape, _ model: Transformer, _ b: PairBatch) -> Variable {
        tape.groupSums(model.targetLogProbabilities(tape, tokens: b.inputs, targets: b.targets, layout: b.layout), groups: b.layout.batch)
    }

    /// The sigmoid DPO loss of a batch; `stats` receives TRL's metrics.
    /// With `rpoAlpha` > 0 the loss adds α × the mean negative log-likelihood of the chosen replies' tokens (TRL's
    /// `rpo_alpha`), which keeps the chosen replies likely while the pair's margin grows.
    public static func objective(beta: Float, rpoAlpha: Float = 0, stats: StepMeans) -> Objective<PairBatch> {
        Objective(name: "DPO (sigmoid, β \(beta)\(rpoAlpha > 0 ? ", RPO α \(rpoAlpha)" : ""))",
                  loss: { tape, model, b in
                      precondition(b.reference.count == b.layout.batch, "DPO batch without reference log-probabilities")
                      let chosenTokens = b.targets.prefix(b.pairs * b.layout.seq).lazy.filter { $0 >= 0 }.count
                      return tape.dpoLoss(sequenceLogProbabilities(tape, model, b), reference: b.reference, beta: beta,
                                          nllWeight: rpoAlpha, chosenTokens: chosenTokens,
                                          stats: tape.recording ? stats : nil)  // validation passes do not count
                  },
                  tokens: { $0.pairs }, processed: { $0.tokens })
    }
}

extension Tape {
    /// −mean log σ(β·((π_c − ref_c) − (π_r − ref_r))) over B pairs, from policy log-probabilities [2B] (chosen rows
    /// first) and the reference's; plus `nllWeight` × (−Σ π_c / `chosenTokens`) when the weight is positive.
    public func dpoLoss(_ logps: Variable, reference: [Float], beta: Float, nllWeight: Float = 0, chosenTokens: Int = 1,
                        stats: StepMeans? = nil) -> Variable {
        let n = logps.value.count / 2
        var z = [Double](repeating: 0, count: n), loss = 0.0
        var chosen = 0.0, rejected = 0.0, correct = 0.0, lc = 0.0, lr = 0.0
        for i in 0..<n {
            let rc = Double(beta) * Double(logps.value.data[i] - reference[i])
            let rr = Double(beta) * Double(logps.value.data[n + i] - reference[n + i])
            z[i] = rc - rr
            loss -= min(z[i], 0) - log1p(exp(-abs(z[i])))
            chosen += rc; rejected += rr; correct += rc > rr ? 1 : 0
            lc += Double(logps.value.data[i]); lr += Double(logps.value.data[n + i])
        }
        let N = Double(n)
        let nll = -lc / Double(max(chosenTokens, 1))
        if nllWeight > 0 { loss += Double(nllWeight) * nll * N }  // loss is divided by N below
        var values = ["rewards/chosen": chosen / N, "rewards/rejected": rejected / N, "rewards/margins": (chosen - rejected) / N,
                      "rewards/accuracies": correct / N, "logps/chosen": lc / N, "logps/rejected": lr / N]
        if nllWeight > 0 { values["nll_loss"] = nll }
        stats?.add(values)
        let result = self.result(Tensor(shape: [1], values: [Float(loss / N)]), inputs: logps)
        record(result) {
            let g = Double(result.grad!.data[0])
            logps.withGrad { d, acc in
                for i in 0..<n {
                    // d(−log σ(z))/dz = −σ(−z); dz/dπ_c = β, dz/dπ_r = −β.
                    let s = -g / N * Double(beta) / (1 + exp(z[i]))
                    let nllSlope = nllWeight > 0 ? -g * Double(nllWeight) / Double(max(chosenTokens, 1)) : 0
                    d[i] = (acc ? d[i] : 0) + Float(s + nllSlope)
                    d[n + i] = (acc ? d[n + i] : 0) - Float(s)
                }
            }
        }
        return result
    }
}

/// Settings of a DPO run's data.
public struct PreferenceData: Sendable {
    public var paths: [String]
    public var validationFraction = 0.05
    public var overLong = OverLong.error
    public var limit: Int?
    /// Keep the file order instead of shuffling each epoch.
    public var sequential = false
    public init(paths: [String]) { self.paths = paths }
}

extension DPO {
    /// Training and held-out pair examples (held out by a stable hash of their origin).
    public static func examples(_ data: PreferenceData, encoder: ChatEncoder) throws -> (train: [PairExample], validation: [PairExample]) {
        var train: [PairExample] = [], validation: [PairExample] = []
        for p in try PreferencePairs.read(data.paths) {
            let e = try encoder.encode(p)
            if FineTuning.heldOut(FineTuning.splitKey(p.origin), fraction: data.validationFraction) { validation.append(e) } else { train.append(e) }
        }
        if let limit = data.limit { train = Array(train.prefix(limit)); validation = Array(validation.prefix(max(1, limit / 10))) }
        guard !train.isEmpty else { throw ForgeError("every pair went to validation: lower --val-fraction") }
        return (train, validation)
    }

    /// A DPO trainer in `runDir`: the reference is `base` as loaded (before any adapter or resumed weights).
    public static func trainer(base: BaseModel, data: PreferenceData, beta: Float, rpoAlpha: Float = 0, options: TrainingOptions, runDir: String, resume: Bool,
                               lora: LoRAConfig? = nil, loraInit: LoRAWeights? = nil, baseName: String = "",
                               log: (String) -> Void = { _ in }) throws -> Trainer<PairBatch> {
        guard beta > 0, beta.isFinite else { throw ForgeError("β must be positive (got \(beta))") }
        guard rpoAlpha >= 0, rpoAlpha.isFinite else { throw ForgeError("--rpo-alpha must be 0 or more (got \(rpoAlpha))") }
        let (checkpoint, options) = try PostTraining.resumePoint(runDir: runDir, resume: resume, base: base, options: options)
        let encoder = try base.chatEncoder()
        let (train, validation) = try examples(data, encoder: encoder)
        var source = try PairBatches(examples: train, batch: options.batch, seq: options.seq, pad: base.padToken, seed: options.seed,
                                     overLong: data.overLong)
        source.shuffle = !data.sequential
        log("\(source.examples.count) training pairs, \(validation.count) held out; computing the reference's log-probabilities")
        source.computeReference(base.transformer)
        var valBatches: [PairBatch] = []
        if !validation.isEmpty, var val = try? PairBatches(examples: validation, batch: options.batch, seq: options.seq, pad: base.padToken,
                                                            seed: options.seed, overLong: .skip) {
            val.computeReference(base.transformer)
            valBatches = stride(from: 0, to: val.examples.count, by: options.batch).prefix(options.evalBatches).map {
                val.assemble(Array($0..<min($0 + options.batch, val.examples.count)))
            }
        }
        let adapter = try PostTraining.attachLoRA(lora, initial: loraInit, to: base, seed: options.seed, log: log)
        let stats = StepMeans()
        let trainer = try Trainer(model: base.transformer, options: options, source: source, objective: objective(beta: beta, rpoAlpha: rpoAlpha, stats: stats),
                                  validation: valBatches, runDir: runDir, tokenizer: base.tokenizer, checkpoint: checkpoint)
        trainer.stepMetrics = stats.take
        trainer.chatTemplate = encoder.template.source
        try PostTraining.saveAdapter(adapter, of: trainer, baseName: baseName)
        return trainer
    }
}
