// Trainer: the pretraining loop. Samples batches, accumulates gradients, clips, steps AdamW on the
// schedule, evaluates on fixed validation batches, logs JSONL metrics and a live progress line, and
// checkpoints atomically every N steps, on interrupt and at the end. A run resumed from its
// checkpoint continues with exactly the losses it would have had (same machine and threads).
import ForgeAutograd
import ForgeCore
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
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

/// A pretraining run in a run directory: `checkpoint.safetensors`, `metrics.jsonl`, `model/`.
public final class Trainer {
    public let model: Transformer
    public let options: TrainingOptions
    public let optimizer: AdamW
    public let runDir: String
    public let tokenizer: TextTokenizer
    public private(set) var step = 0
    public private(set) var tokensSeen = 0
    public let metrics: MetricsLog
    /// Where progress goes; nil keeps the run silent (tests).
    public var progress: ProgressLine? = ProgressLine()
    var sampler: BatchSampler
    let validation: [TokenBatch]

    public var checkpointPath: String { runDir + "/checkpoint.safetensors" }
    public var modelDir: String { runDir + "/model" }

    /// Prepares a run. With `resume` it continues from `runDir`'s checkpoint (its config and options win
    /// over the arguments except `steps`, which may be raised); without it, a run dir that already holds a
    /// checkpoint is refused so that nothing is overwritten by accident.
    public init(config: TransformerConfig, options: TrainingOptions, train: TokenDataset, validation val: TokenDataset?,
                runDir: String, tokenizer: TextTokenizer, resume: Bool) throws {
        let checkpoint = runDir + "/checkpoint.safetensors"
        let exists = FileManager.default.fileExists(atPath: checkpoint)
        var options = options
        let model: Transformer
        let optimizer: AdamW
        var restored: CheckpointState?
        if resume {
            guard exists else { throw ForgeError.file(checkpoint, "no checkpoint to resume from") }
            let (state, weights, moments) = try Checkpoint.load(from: checkpoint)
            do { model = try Transformer(config: state.config, weights: weights) }
            catch let e as ForgeError { throw ForgeError.file(checkpoint, "corrupt: \(e.description)") }
            let steps = max(options.steps, state.options.steps)
            options = state.options
            options.steps = steps
            optimizer = AdamW(groups: model.parameterGroups(weightDecay: options.weightDecay),
                              beta1: options.beta1, beta2: options.beta2, eps: options.eps)
            do { try optimizer.restore(step: state.optimizerStep, moments: moments) }
            catch let e as ForgeError { throw ForgeError.file(checkpoint, "corrupt: \(e.description)") }
            restored = state
        } else {
            if exists {
                throw ForgeError.file(checkpoint, "a checkpoint already exists: pass --resume to continue it, or choose another run directory")
            }
            model = try Transformer(config: config, seed: options.seed)
            optimizer = AdamW(groups: model.parameterGroups(weightDecay: options.weightDecay),
                              beta1: options.beta1, beta2: options.beta2, eps: options.eps)
        }
        guard options.seq <= model.config.contextLength else {
            throw ForgeError("sequence length \(options.seq) exceeds the model context \(model.config.contextLength)")
        }
        guard tokenizer.vocabSize <= model.config.vocabSize else {
            throw ForgeError("the tokenizer has \(tokenizer.vocabSize) tokens, more than the model's vocabulary of \(model.config.vocabSize)")
        }
        try train.validate(vocabSize: model.config.vocabSize)
        try val?.validate(vocabSize: model.config.vocabSize)
        self.model = model
        self.options = options
        self.optimizer = optimizer
        self.runDir = runDir
        self.tokenizer = tokenizer
        self.sampler = try BatchSampler(dataset: train, batch: options.batch, seq: options.seq, seed: options.seed)
        if let val, val.count > options.seq {
            validation = BatchSampler.evaluationBatches(val, batch: options.batch, seq: options.seq, maxBatches: options.evalBatches)
        } else {
            validation = []
        }
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        if let restored {
            step = restored.step
            tokensSeen = restored.tokensSeen
            sampler.rng = restored.samplerRNG
            metrics = try MetricsLog(path: runDir + "/metrics.jsonl", keepUpTo: restored.step)
        } else {
            metrics = try MetricsLog(path: runDir + "/metrics.jsonl")
        }
    }

    /// Mean loss over the fixed validation batches (nil without validation data).
    public func evaluate() -> Double? {
        guard !validation.isEmpty else { return nil }
        var total = 0.0, count = 0
        for b in validation {
            let tape = Tape(recording: false)
            let loss = model.loss(tape, tokens: b.inputs, targets: b.targets, batch: b.batch, seq: b.seq)
            total += Double(loss.value.data[0]) * Double(b.batch * b.seq)
            count += b.batch * b.seq
        }
        return total / Double(count)
    }

    /// One optimizer step over `gradAccumulation` micro-batches; returns (mean loss, gradient norm, lr).
    public func trainStep() -> (loss: Double, gradNorm: Double, lr: Double) {
        var lossSum = 0.0
        let micro = options.gradAccumulation
        for _ in 0..<micro {
            let b = sampler.next()
            let tape = Tape()
            let loss = model.loss(tape, tokens: b.inputs, targets: b.targets, batch: b.batch, seq: b.seq)
            tape.backward(loss, seed: 1 / Float(micro))
            lossSum += Double(loss.value.data[0])
        }
        let lr = options.schedule.rate(at: step)
        let norm = optimizer.update(lr: Float(lr), clipNorm: options.clipNorm > 0 ? options.clipNorm : nil)
        step += 1
        tokensSeen += options.tokensPerStep
        return (lossSum / Double(micro), norm, lr)
    }

    /// Saves the checkpoint (atomically; a diverged model is refused and the old file kept).
    public func saveCheckpoint() throws {
        let state = CheckpointState(step: step, optimizerStep: optimizer.step, samplerRNG: sampler.rng,
                                    tokensSeen: tokensSeen, config: model.config, options: options)
        try Checkpoint.save(model: model, optimizer: optimizer, state: state, to: checkpointPath)
    }

    /// Trains until `options.steps` or an interrupt (or `stopAt`, which acts like an interrupt after that
    /// step); checkpoints, and writes the model dir when the run is complete.
    public func run(stopAt: Int? = nil) throws -> TrainingSummary {
        let startStep = step
        let start = Date()
        var lastLoss = Double.nan
        var lastVal: Double?
        if step == 0, options.evalEvery > 0, let v = evaluate() {
            lastVal = v
            metrics.append(MetricRecord(kind: "val", step: 0, values: ["val_loss": v]))
            progress?.line(String(format: "step %d  val loss %.4f", 0, v))
        }
        var interrupted = false
        while step < options.steps {
            if Interrupt.requested || step == stopAt { interrupted = true; break }
            let (loss, norm, lr) = trainStep()
            guard loss.isFinite else {
                throw ForgeError("training diverged at step \(step): loss is \(loss); the last checkpoint is kept at \(checkpointPath)")
            }
            lastLoss = loss
            let elapsed = Date().timeIntervalSince(start)
            let done = step - startStep
            let tps = Double(done * options.tokensPerStep) / max(elapsed, 1e-9)
            let eta = elapsed / Double(done) * Double(options.steps - step)
            metrics.append(MetricRecord(kind: "train", step: step, values: [
                "loss": loss, "lr": lr, "grad_norm": norm, "tokens": Double(tokensSeen),
                "tokens_per_s": tps, "elapsed_s": elapsed,
            ]))
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
        if !interrupted { try ModelDir.save(model, tokenizer: tokenizer, to: modelDir) }
        let seconds = Date().timeIntervalSince(start)
        let summary = TrainingSummary(steps: step, tokens: (step - startStep) * options.tokensPerStep, seconds: seconds,
                                      finalTrainLoss: lastLoss, finalValLoss: lastVal, interrupted: interrupted)
        progress?.line(String(format: "%@ at step %d: train loss %.4f%@, %.0f tokens/s, %@",
                              interrupted ? "interrupted" : "done", step, lastLoss,
                              lastVal.map { String(format: ", val loss %.4f", $0) } ?? "",
                              summary.tokensPerSecond, ProgressLine.duration(seconds)))
        return summary
    }
}
