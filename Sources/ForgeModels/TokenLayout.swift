// TokenLayout: how the B·T rows of a training batch are laid out. Plain: B sequences of T tokens, row (b, t) at
// position t. Packed: each sequence holds several documents back to back; a row's position counts from its
// document's first token and its attention sees only that document, so a packed batch gives each document the
// logits it would get alone.
import ForgeCore

/// The positions and attention boundaries of a batch of `batch` × `seq` rows.
public struct TokenLayout: Sendable, Equatable {
    public let batch: Int
    public let seq: Int
    /// Each row's position (nil: its index t in its sequence).
    public let positions: [Int32]?
    /// Each row's document start: the index in its sequence of its document's first token (nil: 0 for all).
    public let documentStarts: [Int32]?
    /// Right padding: the real tokens of each of the B sequences (nil: all T); keys beyond are masked (encoders).
    public private(set) var lengths: [Int32]? = nil

    /// B sequences of T tokens, one document each.
    public init(batch: Int, seq: Int) {
        (self.batch, self.seq, positions, documentStarts) = (batch, seq, nil, nil)
    }

    /// B right-padded sequences of T rows, sequence b holding `lengths[b]` (1...T) real tokens.
    public init(seq: Int, lengths: [Int]) throws {
        guard let bad = lengths.first(where: { !(1...seq ~= $0) }) else {
            (batch, self.seq, positions, documentStarts) = (lengths.count, seq, nil, nil)
            self.lengths = lengths.map { Int32($0) }
            return
        }
        throw ForgeError("padded layout: a sequence of \(bad) tokens does not fit 1...\(seq)")
    }

    /// B sequences, each cut into documents of the given lengths (in order, summing to `seq`).
    public init(seq: Int, documents: [[Int]]) throws {
        var positions: [Int32] = [], starts: [Int32] = []
        positions.reserveCapacity(documents.count * seq)
        starts.reserveCapacity(documents.count * seq)
        for (b, lengths) in documents.enumerated() {
            guard lengths.allSatisfy({ $0 > 0 }), lengths.reduce(0, +) == seq else {
                throw ForgeError("sequence \(b): document lengths \(lengths) do not fill \(seq) tokens")
            }
            var start = 0
            for n in lengths {
                for i in 0..<n { positions.append(Int32(i)); starts.append(Int32(start)) }
                start += n
            }
        }
        (batch, self.seq, self.positions, documentStarts) = (documents.count, seq, positions, starts)
    }

    /// Rows in the batch.
    public var rows: Int { batch * seq }

    /// Positions of all rows (t for a plain layout).
    public var rowPositions: [Int32] { positions ?? (0..<rows).map { Int32($0 % seq) } }
}
