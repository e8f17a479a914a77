// ClassifierReport: a classifier measured on labelled texts: precision, recall, F1 at its threshold, per source recall
// (or specificity for clean sources), and throughput.
import ForgeCore
import Foundation

public struct ClassifierReport: Codable, Sendable {
    public var n: Int
    public var threshold: Double
    public var scores: BinaryScores
    /// Per source: the share of its texts classified right.
    public var perSource: [String: Double]
    public var textsPerSecond: Double

    /// Scores `rows` with `classifier` and measures it.
    public static func measure(_ classifier: TextClassifier, _ rows: [LabelledText]) -> ClassifierReport {
        let start = Date()
        let p = classifier.probabilities(rows.map(\.text))
        let seconds = Date().timeIntervalSince(start)
        let t = classifier.settings.threshold
        let predicted = p.map { $0 >= t }
        var right: [String: (Int, Int)] = [:]
        for (r, y) in zip(rows, predicted) {
            let ok = y == (r.label == 1)
            right[r.source, default: (0, 0)].0 += ok ? 1 : 0
            right[r.source, default: (0, 0)].1 += 1
        }
        return ClassifierReport(n: rows.count, threshold: t, scores: BinaryScores(predicted: predicted, labels: rows.map(\.label)),
                                perSource: right.mapValues { Double($0.0) / Double($0.1) }, textsPerSecond: Double(rows.count) / max(seconds, 1e-9))
    }

    /// One line for people.
    public var summary: String {
        String(format: "%d texts: precision %.3f  recall %.3f  F1 %.3f  accuracy %.3f  (threshold %.3f, %.0f texts/s)",
               n, scores.precision, scores.recall, scores.f1, scores.accuracy, threshold, textsPerSecond)
    }

    /// Writes the report as JSON (atomically).
    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(path, data: try enc.encode(self))
    }
}
