// Option groups shared by the training commands.
import ArgumentParser
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

/// Shape of a new model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Architecture: gpt2 (LayerNorm, learned positions, GELU), llama (RMSNorm, RoPE, SwiGLU, GQA) or gemma3 (QK norm, GeGLU, sliding window).")
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
        let c = TransformerConfig(architecture: arch, vocabSize: vocab ?? shardVocab, contextLength: context ?? seq, width: width,
                                  layers: layers, heads: heads, kvHeads: kvHeads, ffnWidth: ffn, ropeTheta: ropeTheta,
                                  tiedEmbeddings: !untied)
        try c.validate()
        return c
    }
}

/// Optimization and schedule settings.
struct TrainingFlags: ParsableArguments {
    @Option(help: "Sequences per micro-batch.") var batch = 8
    @Option(help: "Tokens per sequence.") var seq = 256
    @Option(help: "Micro-batches per optimizer step (gradient accumulation).") var accum = 1
    @Option(help: "Optimizer steps.") var steps = 1000
    @Option(help: "Peak learning rate.") var lr = 1e-3
    @Option(help: "Final learning rate as a fraction of the peak.") var minLrFraction = 0.1
    @Option(help: "Warmup steps.") var warmup = 100
    @Option(help: "Decay after warmup: cosine, linear or constant.") var decay: LRSchedule.Decay = .cosine
    @Option(help: "AdamW weight decay (matrices only).") var weightDecay: Float = 0.1
    @Option(help: "Global gradient-norm clip (0: off).") var clip: Float = 1.0
    @Option(help: "Validate every N steps (0: at the end only).") var evalEvery = 100
    @Option(help: "Validation batches.") var evalBatches = 8
    @Option(help: "Checkpoint every N steps (0: at the end and on Ctrl-C only).") var checkpointEvery = 200
    @Option(help: "Random seed (initialization and batch sampling).") var seed: UInt64 = 1337
    @Flag(help: "Recompute each block's activations in the backward pass (less memory, about a third more compute).")
    var checkpointActivations = false

    func validate() throws {
        guard batch > 0, seq > 0, accum > 0, steps > 0 else { throw ValidationError("--batch, --seq, --accum and --steps must be positive") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
        guard warmup >= 0, evalEvery >= 0, checkpointEvery >= 0, evalBatches > 0 else {
            throw ValidationError("--warmup, --eval-every and --checkpoint-every must not be negative")
        }
    }

    var options: TrainingOptions {
        var o = TrainingOptions()
        o.batch = batch; o.seq = seq; o.gradAccumulation = accum; o.steps = steps
        o.learningRate = lr; o.minLRFraction = minLrFraction; o.warmupSteps = warmup; o.decay = decay
        o.weightDecay = weightDecay; o.clipNorm = clip; o.evalEvery = evalEvery; o.evalBatches = evalBatches
        o.checkpointEvery = checkpointEvery; o.seed = seed; o.activationCheckpointing = checkpointActivations
        return o
    }
}

/// Worker threads.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: $FORGE_THREADS or all cores).") var threads: Int?

    func apply() throws {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threads = threads
        }
    }
}
