// Trainer: the training loop, generic over a batch source and an objective. It samples batches, accumulates
// gradients, clips, steps AdamW on the schedule (over the trainable parameters only: frozen ones keep their
// values), evaluates on fixed validation batches, logs JSONL metrics and a live progress line, and checkpoints
// atomically every N steps, on interrupt and at the end. A run resumed from its checkpoint continues with
// exactly the losses it would have had (same machine and threads). Pretraining is
// `Trainer<TokenBatch>` with the next-token objective (the convenience initializer below).
import ForgeAutograd
import ForgeCore
import ForgeDistributed
import ForgeModels
import ForgeTokenizer
import Foundation

/// What a finished (or interrupted) run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var tokens: Int
    public var seconds: Double
    public var finalTrainLoss: Double
    public var finalValLoss: Double?
    public var interrupted: Bool
    /// True when the run had already reached its step count (a resumed finished run: nothing was done).
    public var alreadyComplete = false
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

/// A training run in a run directory: `checkpoint.safetensors`, `metrics.jsonl`, `model/`.
public final class Trainer<Batch> {
    public let model: Transformer
    public private(set) var options: TrainingOptions
    public let optimizer: AdamW
    public let objective: Objective<Batch>
    public let runDir: String
    public let tokenizer: TextTokenizer
    /// Written into the model dir's tokenizer_config.json.
    public var chatTemplate: String?
    public private(set) var step = 0
    public private(set) var tokensSeen = 0
    public let metrics: MetricsLog
    /// Where progress goes; nil keeps the run silent (tests).
    public var progress: ProgressLine? = ProgressLine()
    /// Extra values for each step's metrics record (DPO's rewards and accuracies), read after the step.
    public var stepMetrics: (() -> [String: Double])?
    /// Writes the run's result when it completes (default: the model dir with tokenizer and template); LoRA runs
    /// write their adapter instead.
    public var saveResult: ((Trainer<Batch>) throws -> Void)?
    /// Called after every step with (step, seconds so far); a returned count replaces the planned total steps
    /// (the speedrun re-plans its budget from the speed it measures).
    public var replan: ((Int, Double) -> Int?)?
    var source: any BatchSource<Batch>
    let validation: [Batch]
    /// The data-parallel layout (one process unless started by mpirun).
    public let parallel: DataParallel
    /// Seconds spent in gradient exchange (waiting included) since the start; ZeRO-1 steps count the whole update.
    public private(set) var exchangeSeconds = 0.0
    /// Owner rank of each optimizer parameter, in `optimizer.parameters` order (ZeRO-1; all 0 otherwise).
    let owners: [Int]

    /// The trainable parameters' gradients on the next batch, without a step (the data position is left as it was):
    /// for checks against other trainers.
    public func firstGradients() -> [(String, Tensor)] {
        var copy = source
        let batch = copy.next()
        for p in model.trainableParameters { p.zeroGrad() }
        let tape = Tape()
        tape.backward(objective.loss(tape, model, batch))
        defer { for p in model.trainableParameters { p.zeroGrad() } }
        return model.trainableParameters.map { ($0.name, $0.grad ?? Tensor(shape: $0.shape, zeroed: true)) }
    }

    public var checkpointPath: String { runDir + "/checkpoint.safetensors" }
    public var modelDir: String { runDir + "/model" }

    /// Prepares a run of `model` (whose trainable parameters and adapters are already set). With `checkpoint` the
    /// run continues from it (weights, moments, data position, step); without one, a run dir that already holds a
    /// checkpoint is refused so that nothing is overwritten by accident.
    public init(model: Transformer, options: TrainingOptions, source: any BatchSource<Batch>, objective: Objective<Batch>,
                validation: [Batch], runDir: String, tokenizer: TextTokenizer, checkpoint: LoadedCheckpoint? = nil,
                parallel: DataParallel = DataParallel.shared) throws {
        let checkpointPath = runDir + "/checkpoint.safetensors"
        guard options.gradAccumulation % parallel.size == 0 else {
            throw ForgeError("--accum \(options.gradAccumulation) (micro-batches per step, over all ranks) is not a multiple of the "
                             + "\(parallel.size) ranks: each rank takes an equal block of every step's micro-batches")
        }
        guard tokenizer.vocabSize <= model.config.vocabSize else {
            throw ForgeError("the tokenizer has \(tokenizer.vocabSize) tokens, more than the model's vocabulary of \(model.config.vocabSize)")
        }
        guard !model.trainableParameters.isEmpty else { throw ForgeError("every parameter is frozen: nothing to train") }
        let groups = model.parameterGroups(weightDecay: options.weightDecay, muon: options.usesMuon)
        let owners = parallel.sharded ? DataParallel.owners(of: groups.flatMap(\.parameters), ranks: parallel.size)
                                      : [Int](repeating: 0, count: groups.reduce(0) { $0 + $1.parameters.count })
        let owned = Set(zip(groups.flatMap(\.parameters), owners).filter { $0.1 == parallel.rank || !parallel.sharded }.map { $0.0.name })
        optimizer = AdamW(groups: groups, beta1: options.beta1, beta2: options.beta2, eps: options.eps,
                          muon: options.muon ?? MuonSettings(), owns: { owned.contains($0.name) })
        self.owners = owners
        self.parallel = parallel
        var source = source
        if let checkpoint {
            let byName = Dictionary(uniqueKeysWithValues: (model.parameters + model.adapterParameters + Array(model.heads.values)).map { ($0.name, $0) })
            if let missing = model.trainableParameters.first(where: { checkpoint.weights[$0.name] == nil }) {
                throw ForgeError.file(checkpointPath, "does not hold the trained parameter '\(missing.name)' (a run with other settings?)")
            }
            for (name, t) in checkpoint.weights {
                guard let p = byName[name], p.shape == t.shape else {
                    throw ForgeError.file(checkpointPath, "corrupt: tensor '\(name)' \(t.shape) does not fit the model")
                }
                p.value.data.update(from: t.data, count: t.count)
            }
            do { try optimizer.restore(step: checkpoint.state.optimizerStep, moments: checkpoint.moments, momenta: checkpoint.momenta) }
            catch let e as ForgeError { throw ForgeError.file(checkpointPath, "corrupt: \(e.description)") }
            source.state = checkpoint.state.sampler
            step = checkpoint.state.step
            tokensSeen = checkpoint.state.tokensSeen
        } else if FileManager.default.fileExists(atPath: checkpointPath) {
            throw ForgeError.file(checkpointPath, "a checkpoint already exists: pass --resume to continue it, or choose another run directory")
        }
        model.checkpointing = options.activationCheckpointing
        self.model = model
        self.options = options
        self.source = source
        self.objective = objective
        self.validation = validation
        self.runDir = runDir
        self.tokenizer = tokenizer
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        metrics = try MetricsLog(path: runDir + "/metrics.jsonl", keepUpTo: checkpoint == nil ? nil : step, writing: parallel.isRoot)
        if !parallel.isRoot { progress = nil }
    }

    /// Mean loss over the fixed validation batches, weighted by their tokens (nil without validation data).
    /// Distributed, rank r scores batches r, r+N, ...; the sum is taken in batch order as in one process.
    public func evaluate() -> Double? {
        guard !validation.isEmpty else { return nil }
        var weighted = [Double](repeating: 0, count: validation.count)
        var count = 0
        for (i, b) in validation.enumerated() {
            let n = objective.tokens(b)
            count += n
            guard i % parallel.size == parallel.rank else { continue }
            let loss = objective.loss(Tape(recording: false), model, b)
            weighted[i] = Double(loss.value.data[0]) * Double(n)
        }
        let total = parallel.world.sumInRankOrder(weighted).reduce(0, +)
        return count > 0 ? total / Double(count) : nil
    }

    /// One optimizer step over `gradAccumulation` micro-batches; returns (mean loss, gradient norm, lr).
    /// Each micro-batch's gradients are computed from empty ones and summed along a fixed tree (GradientTree);
    /// distributed, rank r computes the r-th block of micro-batches and the blocks are summed across ranks
    /// along the same tree, so the step is one process's, bit for bit (power-of-two blocks and ranks).
    public func trainStep() -> (loss: Double, gradNorm: Double, lr: Double) {
        let micro = options.gradAccumulation
        let per = micro / parallel.size, mine = (parallel.rank * per)..<((parallel.rank + 1) * per)
        var losses = [Double](repeating: 0, count: micro)
        let params = optimizer.parameters
        let tree = GradientTree(parameters: params)
        for m in 0..<micro {
            let b = source.next()
            tokensSeen += objective.processed(b)
            guard mine.contains(m) else { continue }
            // Dropout masks depend on the run's seed, step and micro-batch only (same after a resume).
            model.noise.value = (options.seed &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(step) << 20) ^ UInt64(m)
            let tape = Tape()
            let loss = objective.loss(tape, model, b)
            tape.backward(loss, seed: 1 / Float(micro))
            losses[m] = Double(loss.value.data[0])
            tree.push()
        }
        tree.finish()
        let exchangeStart = Date()
        losses = parallel.world.sumInRankOrder(losses)
        let lr = options.schedule.rate(at: step)
        let clip: Float? = options.clipNorm > 0 ? options.clipNorm : nil
        let muonLR = Float(lr * (options.muon ?? MuonSettings()).learningRate / options.learningRate)
        let norm: Double
        if parallel.sharded {
            defer { exchangeSeconds += Date().timeIntervalSince(exchangeStart) }
            parallel.reduceScatterGradients(params, owners: owners)
            norm = optimizer.update(lr: Float(lr), clipNorm: clip, muonLR: muonLR,
                                    norm: parallel.shardedGradientNorm(params, owners: owners))
            parallel.allgatherWeights(params, owners: owners)
        } else {
            parallel.allreduceGradients(params)
            exchangeSeconds += Date().timeIntervalSince(exchangeStart)
            norm = optimizer.update(lr: Float(lr), clipNorm: clip, muonLR: muonLR)
        }
        step += 1
        return (losses.reduce(0, +) / Double(micro), norm, lr)
    }

    /// Saves the checkpoint (atomically; a diverged model is refused and the old file kept).
    /// Distributed, every rank must call it (a sharded optimizer's state is gathered); rank 0 writes.
    public func saveCheckpoint() throws {
        let state = CheckpointState(step: step, optimizerStep: optimizer.step, sampler: source.state,
                                    tokensSeen: tokensSeen, config: model.config, options: options)
        if parallel.sharded {
            let (moments, momenta) = parallel.gatherState(optimizer, owners: owners)
            if parallel.isRoot {
                try Checkpoint.save(parameters: model.trainableParameters, moments: moments, momenta: momenta, state: state, to: checkpointPath)
            }
        } else if parallel.isRoot {
            try Checkpoint.save(model: model, optimizer: optimizer, state: state, to: checkpointPath)
        }
    }

    /// Trains until `options.steps` or an interrupt (or `stopAt`, which acts like an interrupt after that
    /// step); checkpoints, and writes the model dir when the run is complete.
    public func run(stopAt: Int? = nil) throws -> TrainingSummary {
        let precision = MixedPrecision.plan(options.precision)
        if let message = precision.message { progress?.line(message) }
        return try precision.apply { try runSteps(stopAt: stopAt) }
    }

    private func runSteps(stopAt: Int?) throws -> TrainingSummary {
        if step >= options.steps {
            progress?.line("the run in \(runDir) is already complete at step \(step) of \(options.steps): nothing to do "
                           + "(raise --steps to train further; the model is in \(modelDir))")
            var s = TrainingSummary(steps: step, tokens: 0, seconds: 0, finalTrainLoss: .nan,
                                    finalValLoss: metrics.records.last(where: { $0.kind == "val" })?.values["val_loss"], interrupted: false)
            s.alreadyComplete = true
            return s
        }
        let startStep = step, startTokens = tokensSeen
        if parallel.size > 1 {
            // Optimizer memory per rank (about 1/N of the whole with ZeRO-1).
            let perRank = parallel.world.allgather([Double(optimizer.stateBytes)]).map { $0[0] }
            var values = ["ranks": Double(parallel.size), "zero": Double(parallel.zeroStage)]
            for (r, b) in perRank.enumerated() { values["optimizer_state_bytes_rank\(r)"] = b }
            metrics.append(MetricRecord(kind: "parallel", step: step, values: values))
            progress?.line("optimizer state per rank: " + perRank.map { String(format: "%.2f MB", $0 / 1e6) }.joined(separator: ", ")
                           + (parallel.sharded ? " (ZeRO-1)" : ""))
        }
        let start = Date()
        var lastLoss = Double.nan
        var lastVal: Double?
        // (A run interrupted before its first step already holds this record.)
        if step == 0, options.evalEvery > 0, !metrics.records.contains(where: { $0.kind == "val" && $0.step == 0 }), let v = evaluate() {
            lastVal = v
            metrics.append(MetricRecord(kind: "val", step: 0, values: ["val_loss": v]))
            progress?.line(String(format: "step %d  val loss %.4f", 0, v))
        }
        var interrupted = false
        while step < options.steps {
            if parallel.world.any(Interrupt.requested || step == stopAt) { interrupted = true; break }
            let (loss, norm, lr) = trainStep()
            guard loss.isFinite else {
                throw ForgeError("training diverged at step \(step): loss is \(loss); the last checkpoint is kept at \(checkpointPath)")
            }
            lastLoss = loss
            let elapsed = Date().timeIntervalSince(start)
            if let replan, let steps = replan(step, elapsed), steps != options.steps { options.steps = max(step, steps) }
            let done = step - startStep
            let tps = Double(tokensSeen - startTokens) / max(elapsed, 1e-9)
            let eta = elapsed / Double(done) * Double(options.steps - step)
            metrics.append(MetricRecord(kind: "train", step: step, values: [
                "loss": loss, "lr": lr, "grad_norm": norm, "tokens": Double(tokensSeen),
                "tokens_per_s": tps, "elapsed_s": elapsed,
            ].merging(parallel.size > 1 ? ["exchange_s": exchangeSeconds] : [:]) { a, _ in a }.merging(stepMetrics?() ?? [:]) { a, _ in a }))
            progress?.update(String(format: "step %d/%d  loss %.4f  lr %.2e  |g| %.2f  %.0f tok/s  ETA %@",
                                    step, options.steps, loss, lr, norm, tps, ProgressLine.duration(eta)))
            if options.evalEvery > 0, step % options.evalEvery == 0, step < options.steps, let v = evaluate() {
                lastVal = v
                metrics.append(MetricRecord(kind: "val", step: step, values: ["val_loss": v]))
                progress?.line(String(format: "step %d  train loss %.4f  val loss %.4f", step, loss, v))
            }
            if options.checkpointEvery > 0, step % options.checkpointEvery == 0, step < options.steps {
                try saveCheckpoint()
            }
        }
        if !interrupted, step == options.steps, let v = evaluate() {
            if metrics.records.last(where: { $0.kind == "val" })?.step != step {
                metrics.append(MetricRecord(kind: "val", step: step, values: ["val_loss": v]))
            }
            lastVal = v
        }
        try saveCheckpoint()
        if !interrupted, parallel.isRoot {
            if let saveResult { try saveResult(self) } else { try ModelDir.save(model, tokenizer: tokenizer, chatTemplate: chatTemplate, to: modelDir) }
        }
        let seconds = Date().timeIntervalSince(start)
        let summary = TrainingSummary(steps: step, tokens: tokensSeen - startTokens, seconds: seconds,
                                      finalTrainLoss: lastLoss, finalValLoss: lastVal, interrupted: interrupted)
        progress?.line(String(format: "%@ at step %d: train loss %.4f%@, %.0f tokens/s, %@",
                              interrupted ? "interrupted" : "done", step, lastLoss,
                              lastVal.map { String(format: ", val loss %.4f", $0) } ?? "",
                              summary.tokensPerSecond, ProgressLine.duration(seconds)))
        return summary
    }
}

extension Trainer where Batch == TokenBatch {
    /// A pretraining run on token shards. With `resume` it continues from `runDir`'s checkpoint (its config and
    /// options win over the arguments except `steps`, which may be raised).
    public convenience init(config: TransformerConfig, options: TrainingOptions, train: TokenDataset, validation val: TokenDataset?,
                            runDir: String, tokenizer: TextTokenizer, resume: Bool, initialModel: Transformer? = nil) throws {
        let path = runDir + "/checkpoint.safetensors"
        var options = options
        var checkpoint: LoadedCheckpoint?
        let model: Transformer
        if resume {
            guard FileManager.default.fileExists(atPath: path) else { throw ForgeError.file(path, "no checkpoint to resume from") }
            let loaded = try Checkpoint.load(from: path)
            do { model = try Transformer(config: loaded.state.config, weights: loaded.weights) }
            catch let e as ForgeError { throw ForgeError.file(path, "corrupt: \(e.description)") }
            let steps = max(options.steps, loaded.state.options.steps)
            options = loaded.state.options
            options.steps = steps
            checkpoint = loaded
        } else {
            model = try initialModel ?? Transformer(config: config, seed: options.seed)
        }
        guard options.seq <= model.config.contextLength else {
            throw ForgeError("sequence length \(options.seq) exceeds the model context \(model.config.contextLength)")
        }
        try train.validate(vocabSize: model.config.vocabSize)
        try val?.validate(vocabSize: model.config.vocabSize)
        let sampler = try BatchSampler(dataset: train, batch: options.batch, seq: options.seq, seed: options.seed)
        var batches: [TokenBatch] = []
        if let val, val.count > options.seq {
            batches = BatchSampler.evaluationBatches(val, batch: options.batch, seq: options.seq, maxBatches: options.evalBatches)
        }
        let objective: Objective<TokenBatch>
        switch (options.objective ?? .nextToken, model.config.architecture) {
        case (.mlm, .bert):
            guard model.config.maskedLMHead == true else { throw ForgeError("--objective mlm needs a BERT model with a masked-LM head") }
            guard let maskId = options.maskTokenId, maskId >= 0, Int(maskId) < model.config.vocabSize else {
                throw ForgeError("--objective mlm needs a [MASK] token in the vocabulary (the tokenizer has none)")
            }
            objective = .maskedTokens(maskId: maskId, vocabSize: model.config.vocabSize, seed: options.seed)
        case (.mlm, let arch): throw ForgeError("--objective mlm trains encoders (bert), not \(arch)")
        case (.nextToken, .bert): throw ForgeError("bert is an encoder: pretrain it with --objective mlm")
        case (.nextToken, _): objective = .nextToken
        }
        try self.init(model: model, options: options, source: sampler, objective: objective, validation: batches, runDir: runDir,
                      tokenizer: tokenizer, checkpoint: checkpoint)
    }
}
