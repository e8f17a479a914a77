// ToxicityFilter: a word-list scorer behind the `ToxicityScorer` interface (a trained classifier will
// sit behind the same interface). Words match whole (word boundaries), phrases as word sequences;
// the score is matches per word, and documents scoring above the threshold are removed.
import ForgeCore
import Foundation

/// Anything that scores text for toxicity in [0, 1].
public protocol ToxicityScorer: Sendable {
    /// The score and the matched terms (for the manifest).
    func score(_ text: String) -> (score: Double, matches: [String])
}

/// Settings (pipeline file section "toxicity").
public struct ToxicityOptions: Codable, Sendable, Equatable {
    public var enabled = true
    /// A word list file (one word or phrase per line; CSV: first column), or "better-profanity" for the
    /// list shipped by PyPI better-profanity==0.7.0, located through python3.
    public var wordList = "better-profanity"
    /// Remove documents with more matches per word than this.
    public var threshold = 0.005
    /// A trained classifier dir (`forge classifier train`'s RUN/classifier) used instead of the word list: documents at or
    /// above its calibrated threshold are removed.
    public var classifier: String?
    public init() {}
    enum CodingKeys: String, CodingKey { case enabled, wordList = "word_list", threshold, classifier }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        wordList = try c.decodeIfPresent(String.self, forKey: .wordList) ?? "better-profanity"
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? 0.005
        classifier = try c.decodeIfPresent(String.self, forKey: .classifier)
    }
}

/// Scores by matches of a word list.
public struct WordListScorer: ToxicityScorer {
    let words: Set<String>
    let phrases: [[String]]

    public init(terms: [String]) {
        var w = Set<String>(), p: [[String]] = []
        for t in terms {
            let parts = WordListScorer.words(t)
            if parts.count == 1 { w.insert(parts[0]) } else if parts.count > 1 { p.append(parts) }
        }
        words = w
        phrases = p
    }

    /// Loads a list file, or the named packaged list.
    public static func load(_ spec: String) throws -> WordListScorer { WordListScorer(terms: try terms(spec)) }

    /// The terms of a list file (one per line; CSV: the first column; `#` comments), or of "better-profanity"'s list.
    public static func terms(_ spec: String) throws -> [String] {
        var path = spec
        if spec == "better-profanity" {
            guard let found = PythonPackages.path(module: "better_profanity", file: "profanity_wordlist.txt") else {
                throw ForgeError("toxicity word list 'better-profanity' not found: pip install --no-deps better-profanity==0.7.0, or set toxicity.word_list")
            }
            path = found
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "toxicity word list cannot be read") }
        return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map { line -> String in
            let first = line.split(separator: ",", maxSplits: 1).first.map(String.init) ?? ""
            return first.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// Lower-case words of letters, digits and inner apostrophes.
    static func words(_ s: String) -> [String] { TextScan.alnumWords(s, apostrophes: true) }

    public func score(_ text: String) -> (score: Double, matches: [String]) {
        let w = WordListScorer.words(text)
        guard !w.isEmpty else { return (0, []) }
        var matches: [String] = []
        for (i, x) in w.enumerated() {
            if words.contains(x) { matches.append(x) }
            for p in phrases where p[0] == x && i + p.count <= w.count && Array(w[i..<(i + p.count)]) == p { matches.append(p.joined(separator: " ")) }
        }
        return (Double(matches.count) / Double(w.count), matches)
    }
}
