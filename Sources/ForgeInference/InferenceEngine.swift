// InferenceEngine: many sequences over one model and one paged key/value cache. A step runs the new tokens of
// several sequences as one batch (a prompt and other sequences' next tokens together), so the weights are read
// once for all of them. A sequence's logits do not depend on what it was batched with: every sequence's rows
// take the kernels they would take alone (see ForwardPass), and attention is per sequence.
import ForgeCore
import ForgeKernels
import ForgeModels

/// New tokens for one sequence in a step, and which of their logits are wanted.
public struct DecodeRequest: Sendable {
    public var sequence: Int
    public var tokens: [Int32]
    public var logits: LogitRows
    public init(sequence: Int, tokens: [Int32], logits: LogitRows = .last) {
        (self.sequence, self.tokens, self.logits) = (sequence, tokens, logits)
    }
}

public final class InferenceEngine {
    public let model: InferenceModel
    public let cache: PagedKVCache
    /// Most positions one sequence may hold.
    public let contextLength: Int
    /// Rows in one forward step; longer inputs go in chunks of this many tokens.
    public static let maxBatch = 512
    var history: [Int: [Int32]] = [:]

    /// An engine over `model`; sequences hold up to `contextLength` positions (default: the model's) and all of them
    /// together at most `cacheMemory` bytes of keys and values (default: PagedKVCache.defaultBudget).
    public init(model: InferenceModel, contextLength: Int? = nil, cacheType: KVCacheType = .f16, cacheMemory: Int? = nil) throws {
        let c = model.config
        let n = contextLength ?? c.contextLength
        guard n >= 1, n <= c.contextLength else {
            throw ForgeError("context length \(n) is outside 1...\(c.contextLength), the range of this model")
        }
        self.model = model
        self.contextLength = n
        cache = PagedKVCache(layers: c.layers, kvWidth: c.kvWidth, type: cacheType, budget: cacheMemory ?? PagedKVCache.defaultBudget)
    }

    /// A new empty sequence.
    public func newSequence() -> Int {
        let id = cache.create()
        history[id] = []
        return id
    }

    /// A new sequence that starts with the first `length` tokens of `source`, sharing their cached blocks.
    public func fork(_ source: Int, length: Int? = nil) -> Int {
        let n = length ?? cache.length(source)
        let id = cache.fork(source, length: n)
        history[id] = Array(history[source]!.prefix(n))
        return id
    }

    /// Ends a sequence and frees its blocks.
    public func release(_ sequence: Int) {
        cache.release(sequence)
        history[sequence] = nil
    }

    /// Keeps the first `length` tokens of a sequence.
    public func truncate(_ sequence: Int, to length: Int) {
        cache.truncate(sequence, to: length)
        history[sequence]!.removeLast(history[sequence]!.count - length)
    }

    /// The tokens a sequence holds.
    public func tokens(of sequence: Int) -> [Int32] { history[sequence] ?? [] }

    /// Runs the requests' tokens at their sequences' next positions; returns each request's logits (vocabulary-sized
    /// rows, per its `logits`). Inputs longer than `maxBatch` run in chunks, as they would alone.
    public func decode(_ requests: [DecodeRequest]) throws -> [[Float]] {
        let c = model.config
        var seen = Set<Int>()
        for r in requests {
            guard history[r.sequence] != nil else { throw ForgeError("sequence \(r.sequence) does not exist") }
            guard seen.insert(r.sequence).inserted else { throw ForgeError("sequence \(r.sequence) appears twice in one step") }
            guard cache.length(r.sequence) + r.tokens.count <= contextLength else {
                throw ForgeError("\(cache.length(r.sequence) + r.tokens.count) tokens do not fit the context window of \(contextLength) tokens")
            }
            if let bad = r.tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
                throw ForgeError("token id \(bad) is outside the vocabulary of \(c.vocabSize)")
            }
        }
        // Each request in chunks of at most maxBatch tokens; a step takes whole chunks, in order, while they fit.
        var pending = requests.enumerated().map { (i, r) -> (index: Int, chunks: [ArraySlice<Int32>]) in
            (i, stride(from: 0, to: r.tokens.count, by: Self.maxBatch).map { r.tokens[$0..<min($0 + Self.maxBatch, r.tokens.count)] })
        }.filter { !$0.chunks.isEmpty }
        var out = [[Float]](repeating: [], count: requests.count)
        while !pending.isEmpty {
            var batch = ForwardBatch()
            var taken: [(index: Int, count: Int, rows: Int)] = []
            for j in pending.indices {
                let chunk = pending[j].chunks[0]
                guard batch.count == 0 || batch.count + chunk.count <= Self.maxBatch else { continue }
                let r = requests[pending[j].index]
                // The request's logit rows, seen from this chunk (whose first row is request row chunk.startIndex).
                let offset = chunk.startIndex, n = r.tokens.count
                let want: LogitRows
                switch r.logits {
                case .none: want = .none
                case .all: want = .all
                case .last: want = offset + chunk.count == n ? .last : .none
                case .from(let k): want = .from(max(0, k - offset))
                }
                batch.append(sequence: r.sequence, tokens: Array(chunk), at: cache.length(r.sequence), logits: want)
                taken.append((pending[j].index, chunk.count, chunk.indices.filter { want.wants($0 - offset, of: chunk.count) }.count))
                pending[j].chunks.removeFirst()
            }
            pending.removeAll { $0.chunks.isEmpty }
            try cache.reserve(taken.map { (requests[$0.index].sequence, $0.count) })
            let logits = model.forward(batch, cache: cache)
            var at = 0
            for (t, segment) in zip(taken, batch.segments) {
                let seq = requests[t.index].sequence
                cache.advance(seq, by: t.count)
                history[seq]! += batch.tokens[segment.start..<(segment.start + segment.count)]
                if out[t.index].isEmpty && taken.count == 1 && t.rows * c.vocabSize == logits.count {
                    out[t.index] = logits   // one request took the whole step (a decoded token): no copy
                } else {
                    out[t.index] += logits[(at * c.vocabSize)..<((at + t.rows) * c.vocabSize)]
                }
                at += t.rows
            }
        }
        return out
    }
}
