// RAGEvaluation: a question set whose answers live in known documents, scored on an index: retrieval recall@k (the
// expected document among the k nearest chunks), and, when a model answers, the share of answers that contain an
// expected keyword with retrieval and without it, and that cite a chunk of the expected document.
import ForgeCore
import Foundation

/// One question: where its answer is, and words a right answer contains.
public struct RAGQuestion: Sendable, Codable {
    public var question: String
    /// The document (path relative to the indexed folder) that answers it.
    public var source: String
    /// Any of these (case-sensitive) in an answer counts it right.
    public var answer: [String]

    /// Reads a JSONL question set; errors name the line.
    public static func load(_ path: String) throws -> [RAGQuestion] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "no such file or cannot be read") }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated().map { i, line in
            do { return try JSONDecoder().decode(RAGQuestion.self, from: Data(line.utf8)) }
            catch { throw ForgeError.file(path, "line \(i + 1) is not a question {question, source, answer: [...]}") }
        }
    }
}

/// What one question gave.
public struct RAGOutcome: Sendable, Codable {
    public var question: String
    public var source: String
    /// Rank (1-based) of the first chunk of the expected document among the retrieved ones, nil when absent.
    public var rank: Int?
    public var retrieved: [String]
    public var answerWithRetrieval: String?
    public var answerWithout: String?
    public var citedSources: [String]?
    public var rightWithRetrieval: Bool?
    public var rightWithout: Bool?
    public var citesRightSource: Bool?
}

/// The totals of a run.
public struct RAGScores: Sendable, Codable, CustomStringConvertible {
    public var questions: Int
    public var k: Int
    public var recallAtK: Double
    public var recallAt1: Double
    public var meanReciprocalRank: Double
    public var answeredRightWithRetrieval: Double?
    public var answeredRightWithout: Double?
    public var citedRightSource: Double?

    public init(_ outcomes: [RAGOutcome], k: Int) {
        let n = Double(max(outcomes.count, 1))
        func share(_ f: (RAGOutcome) -> Bool?) -> Double? {
            let v = outcomes.compactMap(f)
            return v.isEmpty ? nil : Double(v.filter { $0 }.count) / Double(v.count)
        }
        questions = outcomes.count
        self.k = k
        recallAtK = Double(outcomes.filter { $0.rank != nil }.count) / n
        recallAt1 = Double(outcomes.filter { $0.rank == 1 }.count) / n
        meanReciprocalRank = outcomes.reduce(0) { $0 + ($1.rank.map { 1 / Double($0) } ?? 0) } / n
        answeredRightWithRetrieval = share(\.rightWithRetrieval)
        answeredRightWithout = share(\.rightWithout)
        citedRightSource = share(\.citesRightSource)
    }

    public var description: String {
        var s = String(format: "%d questions: retrieval recall@%d %.3f, recall@1 %.3f, MRR %.3f", questions, k, recallAtK, recallAt1, meanReciprocalRank)
        if let a = answeredRightWithRetrieval, let b = answeredRightWithout {
            s += String(format: "\nanswers with the expected keyword: %.3f with retrieval, %.3f without", a, b)
        }
        if let c = citedRightSource { s += String(format: "\nanswers citing a chunk of the right document: %.3f", c) }
        return s
    }
}

extension RAGOutcome {
    /// Scores retrieval of `q` from `hits` (sources of the retrieved chunks, best first).
    public init(_ q: RAGQuestion, retrieved: [String]) {
        question = q.question
        source = q.source
        self.retrieved = retrieved
        rank = retrieved.firstIndex(of: q.source).map { $0 + 1 }
    }

    /// Adds the answers: `with` (its prompt's sources numbered as `numbered`) and `without` retrieval.
    public mutating func score(_ q: RAGQuestion, with: String, prompt: GroundedPrompt, sources numbered: [String], without: String) {
        answerWithRetrieval = with
        answerWithout = without
        rightWithRetrieval = q.answer.contains { with.contains($0) }
        rightWithout = q.answer.contains { without.contains($0) }
        let cited = prompt.citations(in: with).map { numbered[$0 - 1] }
        citedSources = cited
        citesRightSource = cited.contains(q.source)
    }
}
