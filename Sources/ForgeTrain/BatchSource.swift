// BatchSource and Objective: what the trainer is generic over. A source hands out batches and can save
// and restore its position (so a resumed run sees the batches an uninterrupted one would); an objective
// turns a batch into a loss on the tape (next-token cross-entropy for pretraining; masked cross-entropy,
// preference losses and the like for post-training).
import ForgeAutograd
import ForgeCore
import ForgeModels

/// The position of a batch source in its data: a random stream and a cursor.
public struct SamplerState: Codable, Equatable, Sendable {
    public var rng: RNG
    public var position: Int
    public init(rng: RNG, position: Int = 0) { (self.rng, self.position) = (rng, position) }
}

/// Where training batches come from.
public protocol BatchSource<Batch> {
    associatedtype Batch
    /// The next batch.
    mutating func next() -> Batch
    /// Everything that decides the batches to come (saved in checkpoints).
    var state: SamplerState { get set }
}

/// A training loss over batches of one kind.
public struct Objective<Batch> {
    /// For metrics and messages ("next-token cross-entropy").
    public let name: String
    /// The mean loss of a batch (a scalar on the tape).
    public let loss: (Tape, Transformer, Batch) -> Variable
    /// How many tokens the loss of a batch counts (the weight of its loss in validation means).
    public let tokens: (Batch) -> Int
    /// How many tokens a batch runs through the model (throughput; default: `tokens`).
    public let processed: (Batch) -> Int

    public init(name: String, loss: @escaping (Tape, Transformer, Batch) -> Variable, tokens: @escaping (Batch) -> Int,
                processed: ((Batch) -> Int)? = nil) {
        (self.name, self.loss, self.tokens, self.processed) = (name, loss, tokens, processed ?? tokens)
    }
}

extension Objective where Batch == TokenBatch {
    /// Mean next-token cross-entropy (negative targets are ignored).
    public static var nextToken: Objective {
        Objective(name: "next-token cross-entropy",
                  loss: { tape, model, b in Losses.crossEntropy(tape, model.logits(tape, tokens: b.inputs, batch: b.batch, seq: b.seq),
                                                                targets: b.targets) },
                  tokens: { $0.batch * $0.seq })
    }
}
