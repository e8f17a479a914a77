// Canary: the Secret Sharer's memorization test (Carlini et al., 2019). Random secrets ("canaries") are planted in the
// training data at several repetition counts; after training, each secret's log-likelihood is ranked among random
// candidates of the same format, and its exposure is log2(candidates + 1) − log2(rank): 0 when the model prefers
// nothing about it, log2 of the candidate count when it ranks first.
import ForgeAutograd
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

/// One planted secret.
public struct Canary: Codable, Sendable, Equatable {
    public var prefix: String
    public var secret: String
    public var repetitions: Int
    public var text: String { prefix + secret + "." }
}

/// A canary measured after training.
public struct CanaryExposure: Codable, Sendable {
    public var canary: Canary
    /// 1 = the most likely of all candidates.
    public var rank: Int
    public var candidates: Int
    public var exposure: Double
}

public enum Canaries {
    /// Secrets of `digits` random digits, one per repetition count, each with its own prefix.
    public static func make(repetitions: [Int], digits: Int = 6, seed: UInt64) -> [Canary] {
        var rng = RNG(seed: seed ^ 0xCA4A_71)
        return repetitions.enumerated().map { i, r in
            Canary(prefix: "The secret code of vault \(i + 1) is ", secret: code(digits, &rng), repetitions: r)
        }
    }

    static func code(_ digits: Int, _ rng: inout RNG) -> String { String((0..<digits).map { _ in Character(String(rng.below(10))) }) }

    /// `documents` with each canary added as `repetitions` documents of its own, at stable pseudo-random places.
    public static func plant(_ canaries: [Canary], into documents: [String], seed: UInt64) -> [String] {
        var out = documents
        var rng = RNG(seed: seed ^ 0x91A7)
        for c in canaries {
            for _ in 0..<c.repetitions { out.insert(c.text, at: rng.below(out.count + 1)) }
        }
        return out
    }

    /// Each `prefix + continuation` tokenized whole, as the training text was (a BPE tokenizer joins the space before
    /// the secret to its digits, and a secret repeated often gets tokens of its own: encoding the prefix and the
    /// secret apart would score token sequences the model never saw), and where the continuation's tokens start: after
    /// the tokens of the prefix without its trailing spaces, which every row shares.
    public static func rows(_ tokenizer: TextTokenizer, prefix: String, continuations: [String]) -> (rows: [[Int32]], start: Int) {
        let bos = tokenizer.bosId.map { [$0] } ?? []
        var stem = prefix
        while stem.last?.isWhitespace == true { stem.removeLast() }
        let head = bos + tokenizer.encode(stem)
        let rows = continuations.map { bos + tokenizer.encode(prefix + $0) }
        let start = rows.map { r in zip(head, r).prefix { $0 == $1 }.count }.min() ?? head.count
        return (rows, start)
    }

    /// Log-likelihood of each continuation's tokens after `prefix` under `model` (tokenized whole), for many at once.
    static func scores(_ model: Transformer, _ tokenizer: TextTokenizer, prefix: String, continuations: [String]) -> [Double] {
        let (rows, start) = rows(tokenizer, prefix: prefix, continuations: continuations)
        let seq = rows.map(\.count).max() ?? 1
        var out: [Double] = []
        let batch = 64
        for first in stride(from: 0, to: rows.count, by: batch) {
            let chunk = Array(rows[first..<min(first + batch, rows.count)])
            var inputs: [Int32] = [], targets: [Int32] = []
            for r in chunk {
                let padded = r + Array(repeating: r.last!, count: seq - r.count)
                inputs += padded
                // Targets: the continuation's tokens only (the prefix is shared by all candidates).
                targets += (0..<seq).map { t in t + 1 < r.count && t + 1 >= start ? r[t + 1] : -1 }
            }
            let lp = model.targetLogProbabilities(Tape(recording: false), tokens: inputs, targets: targets,
                                                  layout: TokenLayout(batch: chunk.count, seq: seq)).value
            for k in 0..<chunk.count {
                var s = 0.0
                for t in 0..<seq { s += Double(lp.data[k * seq + t]) }
                out.append(s)
            }
        }
        return out
    }

    /// The exposure of `canary` among `candidates` random secrets of its length (ties count against the secret).
    public static func exposure(_ model: Transformer, tokenizer: TextTokenizer, canary: Canary, candidates: Int = 999, seed: UInt64) -> CanaryExposure {
        var rng = RNG(seed: seed ^ UInt64(canary.repetitions) &* 0x9E37_79B9)
        var others = Set<String>()
        while others.count < candidates {
            let c = code(canary.secret.count, &rng)
            if c != canary.secret { others.insert(c) }
        }
        let all = [canary.secret] + others.sorted()
        let s = scores(model, tokenizer, prefix: canary.prefix, continuations: all.map { $0 + "." })
        let rank = 1 + s.dropFirst().filter { $0 >= s[0] }.count
        let exposure = log2(Double(candidates + 1)) - log2(Double(rank))
        return CanaryExposure(canary: canary, rank: rank, candidates: candidates, exposure: exposure)
    }
}
