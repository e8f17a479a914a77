// FineTuning: a supervised fine-tuning run (`forge sft`): conversations read, split into training and validation
// by a stable hash of their origin, encoded with the model's template, batched (packed or padded) and trained
// with the assistant-token loss by the same Trainer as pretraining (progress, metrics.jsonl, atomic checkpoints,
// exact resume, a model dir with tokenizer and template at the end).
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

/// Data settings of a fine-tuning run.
public struct FineTuneData: Codable, Equatable, Sendable {
    public var paths: [String]
    public var format = ConversationFormat.auto.rawValue
    /// Share of conversations held out for validation (by a hash of their origin, so the split is stable).
    public var validationFraction = 0.05
    public var pack = true
    public var overLong = OverLong.error
    /// Use at most this many conversations (after the split; nil: all).
    public var limit: Int?
    /// Keep the file order instead of shuffling each epoch.
    public var sequential = false
    public init(paths: [String]) { self.paths = paths }
}

public enum FineTuning {
    /// Defaults for fine-tuning: a small learning rate, no weight decay, linear decay to zero.
    public static var defaultOptions: TrainingOptions {
        var o = TrainingOptions()
        o.batch = 4; o.seq = 512; o.steps = 100; o.learningRate = 2e-5; o.minLRFraction = 0; o.warmupSteps = 0
        o.decay = .linear; o.weightDecay = 0; o.beta2 = 0.999; o.evalEvery = 50; o.evalBatches = 4; o.checkpointEvery = 100
        return o
    }

    /// Training and validation examples of `data` for `encoder`, with notes for the user.
    public static func examples(_ data: FineTuneData, encoder: ChatEncoder) throws -> (train: [ChatExample], validation: [ChatExample], notes: [String]) {
        guard let format = ConversationFormat(rawValue: data.format) else { throw ForgeError("unknown data format '\(data.format)'") }
        let set = try ConversationFiles.read(data.paths, format: format)
        var train: [ChatExample] = [], validation: [ChatExample] = []
        // With --limit only the conversations kept are encoded (rendering a long conversation turn by turn is the slow part).
        let keep: (train: Int, validation: Int) = data.limit.map { ($0, max(1, $0 / 10)) } ?? (Int.max, Int.max)
        for c in set.conversations {
            if heldOut(splitKey(c.origin), fraction: data.validationFraction) {
                if validation.count < keep.validation { validation.append(try encoder.encode(c)) }
            } else if train.count < keep.train {
                train.append(try encoder.encode(c))
            }
            if train.count >= keep.train && validation.count >= keep.validation { break }
        }
        guard !train.isEmpty else { throw ForgeError("every conversation went to validation: lower --val-fraction") }
        return (train, validation, set.notes)
    }

    /// The part of an origin ("dir/file.jsonl:12") the split hashes: the file's name and the record, not its directory,
    /// so that moving or copying a data file keeps its split.
    static func splitKey(_ origin: String) -> String {
        origin.lastIndex(of: "/").map { String(origin[origin.index(after: $0)...]) } ?? origin
    }

    /// Whether `origin` is held out: FNV-1a of its bytes, mixed (SplitMix64's finalizer), below `fraction` of the range.
    static func heldOut(_ origin: String, fraction: Double) -> Bool {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in origin.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return Double(h >> 11) * 0x1.0p-53 < fraction
    }

    /// Gradients of the trainable parameters (adapters, when attached) on the first training batch, by name, and
    /// the batch's logits ("logits", [B·T, V]).
    public static func firstGradients(base: BaseModel, data: FineTuneData, options: TrainingOptions) throws -> [(String, Tensor)] {
        let batch = try batches(base: base, data: data, options: options, count: 1)[0]
        let model = base.transformer
        model.noise.value = (options.seed &* 0x9E37_79B9_7F4A_7C15)
        let tape = Tape()
        let logits = model.logits(tape, tokens: batch.inputs, layout: batch.layout)
        tape.backward(Losses.crossEntropy(tape, logits, targets: batch.targets))
        return model.trainableParameters.map { ($0.name, $0.grad ?? Tensor(shape: $0.shape, zeroed: true)) } + [("logits", logits.value)]
    }

    /// The first `count` training batches a run with these settings sees (for checks against other trainers).
    public static func batches(base: BaseModel, data: FineTuneData, options: TrainingOptions, count: Int) throws -> [ChatBatch] {
        let (train, _, _) = try examples(data, encoder: try base.chatEncoder())
        var source = try ChatBatches(examples: train, batch: options.batch, seq: options.seq, pack: data.pack, pad: base.padToken,
                                     seed: options.seed, overLong: data.overLong)
        source.shuffle = !data.sequential
        return (0..<count * options.gradAccumulation).map { _ in source.next() }
    }

    /// A fine-tuning trainer in `runDir` over `base` (weights from the run's checkpoint when `resume`).
    /// With `lora`, only adapters on the base's projections train (fresh, or `loraInit`'s weights), and the run ends with
    /// a PEFT adapter in RUN/adapter.
    public static func trainer(base: BaseModel, data: FineTuneData, options: TrainingOptions, runDir: String, resume: Bool,
                               lora: LoRAConfig? = nil, loraInit: LoRAWeights? = nil, baseName: String = "",
                               log: (String) -> Void = { _ in }) throws -> Trainer<ChatBatch> {
        let (checkpoint, options) = try PostTraining.resumePoint(runDir: runDir, resume: resume, base: base, options: options)
        let encoder = try base.chatEncoder()
        let (train, validation, notes) = try examples(data, encoder: encoder)
        notes.forEach(log)
        var source = try ChatBatches(examples: train, batch: options.batch, seq: options.seq, pack: data.pack, pad: base.padToken,
                                     seed: options.seed, overLong: data.overLong)
        source.shuffle = !data.sequential
        let valBatches = ChatBatches.evaluationBatches(validation, batch: options.batch, seq: options.seq, pack: data.pack,
                                                       pad: base.padToken, maxBatches: options.evalBatches)
        let trainTokens = source.examples.reduce(0) { $0 + $1.trainable.dropFirst().filter { $0 }.count }
        log("\(source.examples.count) training conversations (\(trainTokens) assistant tokens), \(validation.count) held out; "
            + (data.pack ? "packed" : "padded") + " into \(options.batch)×\(options.seq)")
        let adapter = try PostTraining.attachLoRA(lora, initial: loraInit, to: base, seed: options.seed, log: log)
        let trainer = try Trainer(model: base.transformer, options: options, source: source, objective: .assistantTokens,
                                  validation: valBatches, runDir: runDir, tokenizer: base.tokenizer, checkpoint: checkpoint)
        trainer.chatTemplate = encoder.template.source
        try PostTraining.saveAdapter(adapter, of: trainer, baseName: baseName)
        return trainer
    }
}

/// What every post-training run (SFT, DPO, reward model) does alike: resuming, LoRA, saving the adapter.
public enum PostTraining {
    /// The checkpoint to resume from (checked against the base) and the options that then apply.
    static func resumePoint(runDir: String, resume: Bool, base: BaseModel, options: TrainingOptions) throws -> (LoadedCheckpoint?, TrainingOptions) {
        try resumePoint(runDir: runDir, resume: resume, model: base.transformer, options: options)
    }

    /// The checkpoint to resume from (checked against `model`'s config) and the options that then apply: the
    /// checkpoint's, with the larger step count.
    public static func resumePoint(runDir: String, resume: Bool, model: Transformer, options: TrainingOptions) throws
        -> (LoadedCheckpoint?, TrainingOptions) {
        var options = options
        var checkpoint: LoadedCheckpoint?
        let path = runDir + "/checkpoint.safetensors"
        if resume {
            guard FileManager.default.fileExists(atPath: path) else { throw ForgeError.file(path, "no checkpoint to resume from") }
            let loaded = try Checkpoint.load(from: path)
            guard loaded.state.config == model.config else {
                throw ForgeError.file(path, "was trained from a different model than --model")
            }
            let steps = max(options.steps, loaded.state.options.steps)
            options = loaded.state.options
            options.steps = steps
            checkpoint = loaded
        }
        guard options.seq <= model.config.contextLength else {
            throw ForgeError("--seq \(options.seq) exceeds the model's context of \(model.config.contextLength)")
        }
        return (checkpoint, options)
    }

    /// Attaches LoRA adapters (fresh, or `initial`'s) when asked; returns the config in force.
    static func attachLoRA(_ lora: LoRAConfig?, initial: LoRAWeights?, to base: BaseModel, seed: UInt64,
                           log: (String) -> Void) throws -> LoRAConfig? {
        guard let lora = initial?.config ?? lora else { return nil }
        let adapters = try initial.map { try LoRA.attach($0, to: base.transformer) } ?? LoRA.attach(lora, to: base.transformer, seed: seed)
        let count = adapters.reduce(0) { $0 + $1.a.value.count + $1.b.value.count }
        log("LoRA rank \(lora.rank), α \(lora.alpha) on \(adapters.count) projections (\(lora.targets.joined(separator: ","))): \(count) trainable parameters")
        return lora
    }

    /// With LoRA, the run's result is the adapter in RUN/adapter (PEFT's layout), not a model dir.
    static func saveAdapter<B>(_ lora: LoRAConfig?, of trainer: Trainer<B>, baseName: String) throws {
        guard let lora else { return }
        let family = try trainer.model.config.family
        trainer.saveResult = { t in
            try LoRA.save(LoRA.weights(of: t.model, config: lora), family: family, baseModel: baseName, to: t.runDir + "/adapter")
        }
    }
}
