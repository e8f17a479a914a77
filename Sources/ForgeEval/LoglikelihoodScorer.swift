// LoglikelihoodScorer: log P(continuation | context) for many requests through the batched engine. Contexts that share
// a prefix (a task's few-shot examples) fork one computed sequence instead of recomputing it; the items of a batch
// run their contexts in one engine step and their continuations in another, so the weights are read once for all.
// Tokens are split as lm-evaluation-harness splits them: trailing whitespace of the context moves to the continuation,
// the continuation is what tokenizing context + continuation adds after the context's own tokens.
import ForgeCore
import ForgeInference
import ForgeModels
import Foundation

/// One item to score: its context and the continuations (choices) after it.
public struct ScoreRequest: Sendable {
    public var context: [Int32]
    public var continuations: [[Int32]]
    /// Requests with the same key share the longest common prefix of their contexts (computed once).
    public var prefixKey: String
    public init(context: [Int32], continuations: [[Int32]], prefixKey: String) {
        (self.context, self.continuations, self.prefixKey) = (context, continuations, prefixKey)
    }
}

/// The score of one continuation.
public struct ContinuationScore: Sendable, Equatable {
    /// Σ log P(token) over the continuation's tokens.
    public var logLikelihood: Double
    /// Whether every token was the model's top choice.
    public var greedy: Bool
    public var tokens: Int
}

public final class LoglikelihoodScorer {
    public let engine: InferenceEngine
    /// Context tokens computed per engine step, summed over a batch's items.
    public var rowsPerStep = 512
    /// Prompt tokens computed, and those taken from shared prefixes instead.
    public private(set) var computedTokens = 0, reusedTokens = 0

    public init(engine: InferenceEngine) { self.engine = engine }

    /// Scores `requests` in order, calling `progress(done)` after each batch.
    public func score(_ requests: [ScoreRequest], progress: (Int, [[ContinuationScore]]) -> Void = { _, _ in }) throws -> [[ContinuationScore]] {
        let limit = engine.contextLength
        // Left truncation as lm-eval: the model is fed at most `limit` tokens of context + continuation (all but the last).
        let requests = requests.map { r -> ScoreRequest in
            var r = r
            let longest = r.continuations.map(\.count).max() ?? 0
            let over = r.context.count + longest - 1 - limit
            if over > 0 { r.context.removeFirst(min(over, r.context.count - 1)) }
            return r
        }
        // The shared prefix of each key: the longest common prefix of its contexts, leaving each at least one token.
        var prefixes: [String: [Int32]] = [:], members: [String: Int] = [:]
        for r in requests { members[r.prefixKey, default: 0] += 1 }
        for r in requests where members[r.prefixKey]! > 1 {
            if let p = prefixes[r.prefixKey] {
                var n = 0
                while n < p.count && n < r.context.count - 1 && p[n] == r.context[n] { n += 1 }
                prefixes[r.prefixKey] = Array(p.prefix(n))
            } else {
                prefixes[r.prefixKey] = Array(r.context.dropLast())
            }
        }
        var anchors: [String: Int] = [:], remaining = members
        defer { for s in anchors.values { engine.release(s) } }
        var results = [[ContinuationScore]](repeating: [], count: requests.count)
        var start = 0
        while start < requests.count {
            // A batch: items until their own context tokens fill a step.
            var end = start, rows = 0
            while end < requests.count && (end == start || rows < rowsPerStep) {
                let r = requests[end]
                rows += r.context.count - (prefixes[r.prefixKey]?.count ?? 0)
                end += 1
            }
            let batch = start..<end
            // Shared prefixes this batch needs, computed together.
            var newAnchors: [DecodeRequest] = []
            for i in batch {
                let key = requests[i].prefixKey
                guard anchors[key] == nil, let p = prefixes[key], p.count >= 8 else { continue }
                let s = engine.newSequence()
                anchors[key] = s
                newAnchors.append(DecodeRequest(sequence: s, tokens: p, logits: .none))
                computedTokens += p.count
            }
            if !newAnchors.isEmpty { _ = try engine.decode(newAnchors) }
            // Each item's context after its prefix, with the last row's logits.
            var itemSeqs: [Int] = []
            var contextRuns: [DecodeRequest] = []
            for i in batch {
                let r = requests[i]
                let s: Int, skip: Int
                if let a = anchors[r.prefixKey], let p = prefixes[r.prefixKey] {
                    s = engine.fork(a, length: p.count); skip = p.count
                } else {
                    s = engine.newSequence(); skip = 0
                }
                itemSeqs.append(s)
                contextRuns.append(DecodeRequest(sequence: s, tokens: Array(r.context[skip...]), logits: .last))
                computedTokens += r.context.count - skip
                reusedTokens += skip
            }
            defer { for s in itemSeqs { engine.release(s) } }
            let lastRows = try engine.decode(contextRuns)
            // Continuations of two or more tokens: each from a fork of its item, all rows' logits.
            var forks: [(item: Int, choice: Int, seq: Int)] = []
            var contRuns: [DecodeRequest] = []
            for (k, i) in batch.enumerated() {
                for (c, cont) in requests[i].continuations.enumerated() where cont.count > 1 {
                    let f = engine.fork(itemSeqs[k])
                    forks.append((k, c, f))
                    contRuns.append(DecodeRequest(sequence: f, tokens: Array(cont.dropLast()), logits: .all))
                }
            }
            defer { for f in forks { engine.release(f.seq) } }
            let contRows = contRuns.isEmpty ? [] : try engine.decode(contRuns)
            let vocab = engine.model.config.vocabSize
            for (k, i) in batch.enumerated() {
                let r = requests[i]
                let last = lastRows[k]
                let lastLSE = Self.logSumExp(last[0..<vocab])
                results[i] = r.continuations.enumerated().map { (c, cont) in
                    guard let first = cont.first else { return ContinuationScore(logLikelihood: 0, greedy: true, tokens: 0) }
                    var ll = Double(last[Int(first)]) - lastLSE
                    var greedy = Self.argmax(last[0..<vocab]) == Int(first)
                    if cont.count > 1, let f = forks.firstIndex(where: { $0.item == k && $0.choice == c }) {
                        let rows = contRows[f]
                        for t in 1..<cont.count {
                            let row = rows[((t - 1) * vocab)..<(t * vocab)]
                            ll += Double(row[row.startIndex + Int(cont[t])]) - Self.logSumExp(row)
                            greedy = greedy && Self.argmax(row) == Int(cont[t])
                        }
                    }
                    return ContinuationScore(logLikelihood: ll, greedy: greedy, tokens: cont.count)
                }
            }
            // Prefixes no later request needs are freed.
            for i in batch {
                let key = requests[i].prefixKey
                remaining[key]! -= 1
                if remaining[key] == 0, let a = anchors.removeValue(forKey: key) { engine.release(a) }
            }
            start = end
            progress(end, Array(results[batch]))
        }
        return results
    }

    /// log Σ exp(x) in Float64.
    static func logSumExp(_ x: ArraySlice<Float>) -> Double {
        var m = -Float.infinity
        for v in x where v > m { m = v }
        var s = 0.0
        for v in x { s += exp(Double(v - m)) }
        return Double(m) + log(s)
    }

    static func argmax(_ x: ArraySlice<Float>) -> Int {
        var best = x.startIndex
        for i in x.indices where x[i] > x[best] { best = i }
        return best - x.startIndex
    }
}

