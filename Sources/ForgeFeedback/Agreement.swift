// Agreement: how far reviewers agree beyond chance. Cohen's kappa for two reviewers over the items both judged
// (categories a, b, tie: verdicts in terms of the stored answers, so screen sides do not matter); for more reviewers
// Light's kappa, the mean of the defined pairwise Cohen's kappas.
import Foundation

/// Two reviewers' agreement.
public struct KappaPair: Sendable, Equatable {
    public var reviewerA: String
    public var reviewerB: String
    /// Items both judged.
    public var items: Int
    /// Cohen's kappa; nil when undefined (no shared items, or chance agreement is certain).
    public var kappa: Double?
}

public enum Agreement {
    /// Cohen's kappa of two equally long label lists: (observed − expected agreement) / (1 − expected); nil when
    /// the lists are empty or of different lengths, or when both reviewers used one and the same label throughout.
    public static func cohenKappa<T: Hashable>(_ x: [T], _ y: [T]) -> Double? {
        guard !x.isEmpty, x.count == y.count else { return nil }
        let n = Double(x.count)
        let observed = Double(zip(x, y).filter { $0 == $1 }.count) / n
        var countX: [T: Double] = [:], countY: [T: Double] = [:]
        for v in x { countX[v, default: 0] += 1 }
        for v in y { countY[v, default: 0] += 1 }
        let expected = countX.reduce(0) { $0 + $1.value * (countY[$1.key] ?? 0) } / (n * n)
        guard expected < 1 else { return nil }
        return (observed - expected) / (1 - expected)
    }

    /// Cohen's kappa for every pair of reviewers who judged an item in common, pairs sorted by name.
    public static func pairwise(_ judgments: [ReviewJudgment]) -> [KappaPair] {
        var byReviewer: [String: [Int64: ReviewVerdict]] = [:]
        for j in judgments { byReviewer[j.reviewer, default: [:]][j.item.id] = j.verdict }
        let reviewers = byReviewer.keys.sorted()
        var out: [KappaPair] = []
        for (n, r) in reviewers.enumerated() {
            for s in reviewers[(n + 1)...] {
                let shared = byReviewer[r]!.keys.filter { byReviewer[s]![$0] != nil }.sorted()
                guard !shared.isEmpty else { continue }
                out.append(KappaPair(reviewerA: r, reviewerB: s, items: shared.count,
                                     kappa: cohenKappa(shared.map { byReviewer[r]![$0]! }, shared.map { byReviewer[s]![$0]! })))
            }
        }
        return out
    }

    /// Light's kappa: the mean of the defined pairwise kappas (Cohen's kappa itself for two reviewers); nil when none is defined.
    public static func lightKappa(_ pairs: [KappaPair]) -> Double? {
        let defined = pairs.compactMap(\.kappa)
        return defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count)
    }
}
