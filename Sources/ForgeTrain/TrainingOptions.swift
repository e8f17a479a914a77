// TrainingOptions: every setting of a pretraining run, in one Codable struct (saved in checkpoints
// and reports). Defaults live here and nowhere else.
import ForgeAutograd

/// Settings of a pretraining run.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Sequences per micro-batch (B) and their length (T).
    public var batch = 8
    public var seq = 256
    /// Micro-batches whose gradients are summed before each optimizer step.
    public var gradAccumulation = 1
    public var steps = 1000
    public var learningRate = 1e-3
    public var minLRFraction = 0.1
    public var warmupSteps = 100
    public var decay: LRSchedule.Decay = .cosine
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var eps: Float = 1e-8
    /// Global gradient-norm clip (0 disables).
    public var clipNorm: Float = 1.0
    /// Validation every N steps (0: only at the end) over at most `evalBatches` fixed batches.
    public var evalEvery = 100
    public var evalBatches = 8
    /// Checkpoint every N steps (0: only at the end and on interrupt).
    public var checkpointEvery = 200
    public var seed: UInt64 = 1337
    /// Recompute each block's activations in the backward pass instead of keeping them (less memory, ~1/3 more compute).
    public var activationCheckpointing = false

    /// The optimizer of the hidden matrices (nil: AdamW, as every run before Muon was added).
    public var optimizer: OptimizerKind?
    /// Muon's settings when `optimizer` is `.muon` (its learning rate follows the same schedule, scaled).
    public var muon: MuonSettings?
    /// Matrix-product precision (nil: Float32).
    public var precision: Precision?
    /// What pretraining predicts (nil: the next token).
    public var objective: PretrainingObjective?
    /// The [MASK] id of masked-language-model pretraining.
    public var maskTokenId: Int32?

    public init() {}

    public var usesMuon: Bool { optimizer == .muon }

    public var schedule: LRSchedule {
        LRSchedule(peak: learningRate, warmupSteps: warmupSteps, totalSteps: steps, decay: decay, minFraction: minLRFraction)
    }

    /// Tokens consumed per optimizer step.
    public var tokensPerStep: Int { batch * seq * gradAccumulation }
}

/// Which optimizer trains the hidden weight matrices (the rest always uses AdamW).
/// What pretraining predicts: the next token (decoders) or masked tokens (encoders, BERT's 15% / 80-10-10 rule).
public enum PretrainingObjective: String, Codable, Sendable, CaseIterable {
    case nextToken = "next-token", mlm
}

public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case adamw, muon
}

/// The precision of matrix products in training.
public enum Precision: String, Codable, Sendable, CaseIterable {
    /// Float32 throughout.
    case fp32
    /// bf16 operands with Float32 accumulation and Float32 master weights.
    case bf16
}
