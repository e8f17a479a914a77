// BatchSampler: batches of (input, target) windows from a token dataset.
//
// Training windows start at uniformly random positions drawn from a saved RNG, so the data position
// of a run is its RNG state. Evaluation windows are fixed: consecutive, non-overlapping windows from
// the start of the set, so every evaluation scores the same tokens.
import ForgeCore

/// One batch: B rows of T inputs and their next-token targets.
public struct TokenBatch {
    public var inputs: [Int32]
    public var targets: [Int32]
    public let batch: Int
    public let seq: Int
    public init(inputs: [Int32], targets: [Int32], batch: Int, seq: Int) {
        precondition(inputs.count == batch * seq && targets.count == batch * seq, "a batch of \(batch)×\(seq) tokens")
        (self.inputs, self.targets, self.batch, self.seq) = (inputs, targets, batch, seq)
    }
}

/// Draws training batches; its whole state is `rng` (saved in checkpoints).
public struct BatchSampler: BatchSource {
    public let dataset: TokenDataset
    public let batch: Int
    public let seq: Int
    public var rng: RNG

    public init(dataset: TokenDataset, batch: Int, seq: Int, seed: UInt64) throws {
        guard dataset.count > seq + 1 else {
            throw ForgeError("training data has \(dataset.count) tokens, fewer than one window of \(seq + 1)")
        }
        self.dataset = dataset
        self.batch = batch
        self.seq = seq
        self.rng = RNG(seed: seed)
    }

    public var state: SamplerState {
        get { SamplerState(rng: rng) }
        set { rng = newValue.rng }
    }

    /// The next random batch.
    public mutating func next() -> TokenBatch {
        var window = [Int32](repeating: 0, count: seq + 1)
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(batch * seq)
        targets.reserveCapacity(batch * seq)
        for _ in 0..<batch {
            let start = rng.below(dataset.count - seq)
            window.withUnsafeMutableBufferPointer { dataset.read(start, seq + 1, into: $0.baseAddress!) }
            inputs += window[0..<seq]
            targets += window[1...]
        }
        return TokenBatch(inputs: inputs, targets: targets, batch: batch, seq: seq)
    }

    /// Fixed evaluation batches covering up to `maxBatches` consecutive windows from the start.
    public static func evaluationBatches(_ dataset: TokenDataset, batch: Int, seq: Int, maxBatches: Int) -> [TokenBatch] {
        let windows = min((dataset.count - 1) / seq, maxBatches * batch)
        var out: [TokenBatch] = []
        var w = 0
        while w < windows {
            let rows = min(batch, windows - w)
            var buf = [Int32](repeating: 0, count: rows * seq + 1)
            buf.withUnsafeMutableBufferPointer { dataset.read(w * seq, rows * seq + 1, into: $0.baseAddress!) }
            out.append(TokenBatch(inputs: Array(buf[0..<(rows * seq)]), targets: Array(buf[1...]), batch: rows, seq: seq))
            w += rows
        }
        return out
    }
}
