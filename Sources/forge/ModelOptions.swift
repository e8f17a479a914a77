// Option groups shared by the training commands.
import ArgumentParser
import Foundation
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTrain

extension Architecture: ExpressibleByArgument {
    public init?(argument: String) {
        guard (try? Architectures.named(argument)) != nil else { return nil }
        self.init(rawValue: argument)
    }
    public static var allValueStrings: [String] { Architectures.all.map { $0.name } }
}
extension LRSchedule.Decay: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension PretrainingObjective: ExpressibleByArgument {}

/// Shape of a new model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Architecture: gpt2 (LayerNorm, learned positions, GELU), llama (RMSNorm, RoPE, SwiGLU, GQA), gemma3 (QK norm, GeGLU, sliding window) or bert (bidirectional encoder; --objective mlm).")
    var arch: Architecture = .gpt2
    @Option(help: "Layers.") var layers = 6
    @Option(help: "Model width.") var width = 384
    @Option(help: "Attention heads.") var heads = 6
    @Option(help: "Key/value heads (llama; default: --heads).") var kvHeads: Int?
    @Option(help: "MLP width (default: 4×width for gpt2, 8/3×width for llama).") var ffn: Int?
    @Option(help: "Context length (default: --seq).") var context: Int?
    @Option(help: "Vocabulary size (default: from the shard header).") var vocab: Int?
    @Option(help: "RoPE base (llama).") var ropeTheta = 10000.0
    @Flag(help: "Separate output matrix instead of tied embeddings.") var untied = false

    func config(vocab shardVocab: Int, seq: Int) throws -> TransformerConfig {
        var c = TransformerConfig(architecture: arch, vocabSize: vocab ?? shardVocab, contextLength: context ?? seq, width: width,
                                  layers: layers, heads: heads, kvHeads: kvHeads, ffnWidth: ffn ?? (arch == .bert ? 4 * width : nil),
                                  normEps: arch == .bert ? 1e-12 : nil, ropeTheta: ropeTheta, tiedEmbeddings: !untied)
        if arch == .bert { (c.typeVocabSize, c.maskedLMHead) = (2, true) }
        try c.validate()
        return c
    }
}

/// Optimization and schedule settings.
/// Default settings of a kind of training run (pretraining, fine-tuning), shown in --help.
protocol TrainingDefaults { static var options: TrainingOptions { get } }

enum PretrainDefaults: TrainingDefaults { static var options: TrainingOptions { TrainingOptions() } }

/// The optimizer, schedule and checkpoint flags every training command shares, with its kind's defaults.
struct TrainingFlags<Defaults: TrainingDefaults>: ParsableArguments {
    @Option(help: "Sequences per micro-batch.") var batch = Defaults.options.batch
    @Option(help: "Tokens per sequence.") var seq = Defaults.options.seq
    @Option(help: "Micro-batches per optimizer step (gradient accumulation).") var accum = Defaults.options.gradAccumulation
    @Option(help: "Optimizer steps.") var steps = Defaults.options.steps
    @Option(help: "Peak learning rate.") var lr = Defaults.options.learningRate
    @Option(help: "Final learning rate as a fraction of the peak.") var minLrFraction = Defaults.options.minLRFraction
    @Option(help: "Warmup steps.") var warmup = Defaults.options.warmupSteps
    @Option(help: "Decay after warmup: cosine, linear or constant.") var decay: LRSchedule.Decay = Defaults.options.decay
    @Option(help: "AdamW weight decay (matrices only).") var weightDecay: Float = Defaults.options.weightDecay
    @Option(help: "AdamW β2.") var beta2: Float = Defaults.options.beta2
    @Option(help: "Global gradient-norm clip (0: off).") var clip: Float = Defaults.options.clipNorm
    @Option(help: "Validate every N steps (0: at the end only).") var evalEvery = Defaults.options.evalEvery
    @Option(help: "Validation batches.") var evalBatches = Defaults.options.evalBatches
    @Option(help: "Checkpoint every N steps (0: at the end and on Ctrl-C only).") var checkpointEvery = Defaults.options.checkpointEvery
    @Option(help: "Random seed (initialization and batch sampling).") var seed: UInt64 = Defaults.options.seed
    @Flag(help: "Recompute each block's activations in the backward pass (less memory, about a third more compute).")
    var checkpointActivations = false
    @Option(help: "Optimizer of the hidden weight matrices: adamw, or muon (embeddings, norms and the head stay on AdamW).")
    var optimizer: OptimizerKind = .adamw
    @Option(help: "Muon's peak learning rate (follows the same schedule as --lr).") var muonLr = MuonSettings().learningRate
    @Option(help: "Matrix products: fp32, or bf16 (bf16 operands, Float32 accumulation and master weights).")
    var precision: Precision = .fp32

    func validate() throws {
        guard batch > 0, seq > 0, accum > 0, steps > 0 else { throw ValidationError("--batch, --seq, --accum and --steps must be positive") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard warmup >= 0, evalEvery >= 0, checkpointEvery >= 0, evalBatches > 0 else {
            throw ValidationError("--warmup, --eval-every and --checkpoint-every must not be negative")
        }
        guard beta2 > 0, beta2 < 1 else { throw ValidationError("--beta2 must be between 0 and 1") }
    }

    var options: TrainingOptions {
        var o = Defaults.options
        o.batch = batch; o.seq = seq; o.gradAccumulation = accum; o.steps = steps
        o.learningRate = lr; o.minLRFraction = minLrFraction; o.warmupSteps = warmup; o.decay = decay
        o.weightDecay = weightDecay; o.beta2 = beta2; o.clipNorm = clip; o.evalEvery = evalEvery; o.evalBatches = evalBatches
        o.checkpointEvery = checkpointEvery; o.seed = seed; o.activationCheckpointing = checkpointActivations
        if optimizer == .muon {
            o.optimizer = .muon
            var m = MuonSettings()
            m.learningRate = muonLr
            o.muon = m
        }
        if precision != .fp32 { o.precision = precision }
        return o
    }
}

/// Worker threads.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: $FORGE_THREADS or all cores).") var threads: Int?

    /// Sets the thread count; `distributed` commands (pretrain, sft, data) may run under mpirun, the others refuse
    /// to (N copies of them would each do the whole job and write the same files).
    func apply(distributed: Bool = false) throws {
        if !distributed, let n = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init), n > 1 {
            throw ValidationError("this command runs in one process: start it without mpirun (under mpirun: forge pretrain, sft and data)")
        }
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threads = threads
        }
    }
}

/// Where a run ended: interrupted runs say how to continue and exit with 130 (as a shell does after Ctrl-C).
func exitIfInterrupted<B>(_ summary: TrainingSummary, _ trainer: Trainer<B>, _ progress: ProgressLine?) throws {
    guard summary.interrupted else { return }
    progress?.line("checkpoint saved: \(trainer.checkpointPath) (continue with --resume)")
    throw ExitCode(130)
}

/// The pair-file options of `forge dpo` and `forge rm` (their held-out share differs).
protocol PairDataDefaults { static var validationFraction: Double { get } }

struct PairDataFlags<Defaults: PairDataDefaults>: ParsableArguments {
    @Option(parsing: .upToNextOption, help: "Preference pair files (JSONL).") var pairs: [String]
    @Option(help: "Share of pairs held out for validation.") var valFraction = Defaults.validationFraction
    @Option(help: "Pairs longer than --seq: error, truncate or skip.") var overLong: OverLong = .error
    @Option(help: "Train on at most this many pairs.") var limit: Int?
    @Flag(help: "Take the data in file order every epoch instead of shuffling.") var sequential = false

    var data: PreferenceData {
        var d = PreferenceData(paths: pairs)
        (d.validationFraction, d.overLong, d.limit, d.sequential) = (valFraction, overLong, limit, sequential)
        return d
    }
}
