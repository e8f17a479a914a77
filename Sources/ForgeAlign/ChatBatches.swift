// ChatBatches: fine-tuning batches from chat examples. Padded, each sequence holds one example and padding up to the
// batch's longest example (as TRL pads). Packed, each sequence of `seq` rows holds as many whole examples as fit,
// each a document of its own: positions restart and attention stays inside it (TokenLayout), so a packed example
// gets the logits it would get alone. The order is a seeded shuffle per epoch; the cursor is saved in checkpoints,
// so a resumed run sees the batches an uninterrupted one would.
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTrain

/// B sequences of T rows: inputs, next-token targets (−1 where the loss does not count) and the layout.
public struct ChatBatch: Sendable {
    public var inputs: [Int32]
    public var targets: [Int32]
    public var layout: TokenLayout
    /// Rows holding example tokens (not padding).
    public var tokens: Int
    /// The examples of each sequence.
    public var examples: [[ChatExample]]
    /// Targets the loss counts.
    public var counted: Int { targets.reduce(0) { $1 >= 0 ? $0 + 1 : $0 } }
}

/// What to do with an example longer than a sequence.
public enum OverLong: String, CaseIterable, Codable, Sendable {
    case error, truncate, skip
}

/// Batches of chat examples, packed or padded.
public struct ChatBatches: BatchSource {
    public let examples: [ChatExample]
    public let batch: Int, seq: Int
    public let pack: Bool
    let pad: Int32
    /// Shuffle each epoch (false: file order, for curricula and side-by-side checks).
    public var shuffle = true
    public var state: SamplerState
    let seed: UInt64

    /// Over-long examples are refused, cut to `seq` or left out (`overLong`); `pad` fills the rest of a sequence.
    public init(examples: [ChatExample], batch: Int, seq: Int, pack: Bool, pad: Int32, seed: UInt64, overLong: OverLong = .error) throws {
        var kept: [ChatExample] = []
        for var e in examples {
            if e.count > seq {
                switch overLong {
                case .error:
                    throw ForgeError("\(e.origin): \(e.count) tokens, more than a sequence of \(seq) (raise --seq, or --over-long truncate|skip)")
                case .skip: continue
                case .truncate: e.tokens.removeLast(e.count - seq); e.trainable.removeLast(e.trainable.count - seq)
                }
            }
            if e.trainable.dropFirst().contains(true) { kept.append(e) }
        }
        guard !kept.isEmpty else { throw ForgeError("no example has an assistant token to learn within \(seq) tokens") }
        (self.examples, self.batch, self.seq, self.pack, self.pad, self.seed) = (kept, batch, seq, pack, pad, seed)
        state = SamplerState(rng: RNG(seed: seed))
    }

    /// The example order of epoch `e`: a seeded shuffle.
    func order(epoch: Int) -> [Int] { epochOrder(count: examples.count, epoch: epoch, seed: seed, shuffle: shuffle) }

    /// Index of the example at global cursor `position` (epochs follow each other).
    func example(at position: Int, cache: inout (epoch: Int, order: [Int])) -> ChatExample {
        let epoch = position / examples.count
        if cache.epoch != epoch { cache = (epoch, order(epoch: epoch)) }
        return examples[cache.order[position % examples.count]]
    }

    public mutating func next() -> ChatBatch {
        var cache = (epoch: -1, order: [Int]())
        var rows: [[ChatExample]] = []
        for _ in 0..<batch {
            var row: [ChatExample] = [example(at: state.position, cache: &cache)]
            state.position += 1
            var used = row[0].count
            while pack {
                let e = example(at: state.position, cache: &cache)
                guard used + e.count <= seq else { break }
                row.append(e); used += e.count; state.position += 1
            }
            rows.append(row)
        }
        return ChatBatches.assemble(rows, seq: pack ? seq : ChatBatches.width(rows, seq: seq), pad: pad)
    }

    /// The width of a padded batch: its longest sequence of examples (as TRL pads), rounded up to a multiple of 64
    /// (at most `seq`) so that the buffer pool sees a few tensor sizes, not one per batch.
    static func width(_ rows: [[ChatExample]], seq: Int) -> Int {
        let longest = rows.map { $0.reduce(0) { $0 + $1.count } }.max() ?? 1
        return min(seq, (longest + 63) / 64 * 64)
    }

    /// One batch of the given sequences of examples (each sequence's examples fit in `seq`).
    public static func assemble(_ rows: [[ChatExample]], seq: Int, pad: Int32) -> ChatBatch {
        var inputs: [Int32] = [], targets: [Int32] = [], documents: [[Int]] = [], real = 0
        for row in rows {
            var lengths: [Int] = []
            for e in row {
                inputs += e.tokens
                for i in 0..<e.count { targets.append(i + 1 < e.count && e.trainable[i + 1] ? e.tokens[i + 1] : -1) }
                lengths.append(e.count)
            }
            let used = lengths.reduce(0, +)
            real += used
            if used < seq {
                inputs += Array(repeating: pad, count: seq - used)
                targets += Array(repeating: -1, count: seq - used)
                lengths.append(seq - used)
            }
            documents.append(lengths)
        }
        // Lengths are positive and fill each sequence by construction.
        let layout = try! TokenLayout(seq: seq, documents: documents)
        return ChatBatch(inputs: inputs, targets: targets, layout: layout, tokens: real, examples: rows)
    }

    /// Fixed validation batches: the examples in order, packed or padded as training is, at most `maxBatches`.
    public static func evaluationBatches(_ examples: [ChatExample], batch: Int, seq: Int, pack: Bool, pad: Int32,
                                         maxBatches: Int) -> [ChatBatch] {
        var rows: [[ChatExample]] = [], current: [ChatExample] = [], used = 0
        for e in examples where e.count <= seq {
            if !current.isEmpty, !pack || used + e.count > seq { rows.append(current); current = []; used = 0 }
            current.append(e); used += e.count
        }
        if !current.isEmpty { rows.append(current) }
        return stride(from: 0, to: rows.count, by: batch).prefix(maxBatches).map {
            let part = Array(rows[$0..<min($0 + batch, rows.count)])
            return assemble(part, seq: pack ? seq : width(part, seq: seq), pad: pad)
        }
    }
}

extension Objective where Batch == ChatBatch {
    /// Mean cross-entropy over the assistant tokens of a batch (TRL's SFT loss with assistant-only masking).
    public static var assistantTokens: Objective {
        Objective(name: "assistant-token cross-entropy",
                  loss: { tape, model, b in model.targetLoss(tape, tokens: b.inputs, targets: b.targets, layout: b.layout) },
                  tokens: { $0.counted }, processed: { $0.tokens })
    }
}
