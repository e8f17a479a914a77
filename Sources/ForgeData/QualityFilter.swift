// QualityFilter: document-level heuristics in the spirit of Gopher (Rae et al. 2021, "quality" and
// "repetition" rules) and C4 (Raffel et al. 2020). Every threshold is a setting; nil disables a rule.
// A document fails on the first rule it breaks, and the reason names the rule and the value.
import Foundation
import ForgeTokenizer

/// Thresholds (pipeline file section "quality"); defaults are the papers' values.
public struct QualityOptions: Codable, Sendable, Equatable {
    public var enabled = true
    // Gopher quality
    public var minWords: Int? = 50
    public var maxWords: Int? = 100_000
    public var minMeanWordLength: Double? = 3
    public var maxMeanWordLength: Double? = 10
    public var maxSymbolWordRatio: Double? = 0.1
    public var maxBulletLineFraction: Double? = 0.9
    public var maxEllipsisLineFraction: Double? = 0.3
    public var minAlphaWordFraction: Double? = 0.8
    public var minStopWords: Int? = 2
    // Gopher repetition
    public var maxDuplicateLineFraction: Double? = 0.3
    public var maxDuplicateParagraphFraction: Double? = 0.3
    public var maxDuplicateLineCharFraction: Double? = 0.2
    public var maxDuplicateParagraphCharFraction: Double? = 0.2
    /// n → largest share of characters in the most frequent n-gram (n = 2, 3, 4).
    public var maxTopNGramCharFraction: [Int: Double] = [2: 0.2, 3: 0.18, 4: 0.16]
    /// n → largest share of characters in duplicated n-grams (n = 5 ... 10).
    public var maxDuplicateNGramCharFraction: [Int: Double] = [5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10]
    // C4
    public var rejectLoremIpsum = true
    public var rejectCurlyBraces = false
    public var minSentences: Int? = nil

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, minWords = "min_words", maxWords = "max_words", minMeanWordLength = "min_mean_word_length",
             maxMeanWordLength = "max_mean_word_length", maxSymbolWordRatio = "max_symbol_word_ratio",
             maxBulletLineFraction = "max_bullet_line_fraction", maxEllipsisLineFraction = "max_ellipsis_line_fraction",
             minAlphaWordFraction = "min_alpha_word_fraction", minStopWords = "min_stop_words",
             maxDuplicateLineFraction = "max_duplicate_line_fraction", maxDuplicateParagraphFraction = "max_duplicate_paragraph_fraction",
             maxDuplicateLineCharFraction = "max_duplicate_line_char_fraction",
             maxDuplicateParagraphCharFraction = "max_duplicate_paragraph_char_fraction",
             maxTopNGramCharFraction = "max_top_ngram_char_fraction", maxDuplicateNGramCharFraction = "max_duplicate_ngram_char_fraction",
             rejectLoremIpsum = "reject_lorem_ipsum", rejectCurlyBraces = "reject_curly_braces", minSentences = "min_sentences"
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        let dflt = QualityOptions()
        func opt<T: Decodable>(_ k: CodingKeys, _ v: T?) throws -> T? {
            // A key that is present with null disables the rule; an absent key keeps the default.
            if c.contains(k) { return try c.decodeNil(forKey: k) ? nil : try c.decode(T.self, forKey: k) }
            return v
        }
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        minWords = try opt(.minWords, dflt.minWords)
        maxWords = try opt(.maxWords, dflt.maxWords)
        minMeanWordLength = try opt(.minMeanWordLength, dflt.minMeanWordLength)
        maxMeanWordLength = try opt(.maxMeanWordLength, dflt.maxMeanWordLength)
        maxSymbolWordRatio = try opt(.maxSymbolWordRatio, dflt.maxSymbolWordRatio)
        maxBulletLineFraction = try opt(.maxBulletLineFraction, dflt.maxBulletLineFraction)
        maxEllipsisLineFraction = try opt(.maxEllipsisLineFraction, dflt.maxEllipsisLineFraction)
        minAlphaWordFraction = try opt(.minAlphaWordFraction, dflt.minAlphaWordFraction)
        minStopWords = try opt(.minStopWords, dflt.minStopWords)
        maxDuplicateLineFraction = try opt(.maxDuplicateLineFraction, dflt.maxDuplicateLineFraction)
        maxDuplicateParagraphFraction = try opt(.maxDuplicateParagraphFraction, dflt.maxDuplicateParagraphFraction)
        maxDuplicateLineCharFraction = try opt(.maxDuplicateLineCharFraction, dflt.maxDuplicateLineCharFraction)
        maxDuplicateParagraphCharFraction = try opt(.maxDuplicateParagraphCharFraction, dflt.maxDuplicateParagraphCharFraction)
        if c.contains(.maxTopNGramCharFraction) {
            maxTopNGramCharFraction = try c.decode([String: Double].self, forKey: .maxTopNGramCharFraction).reduce(into: [:]) { $0[Int($1.key) ?? 0] = $1.value }
        }
        if c.contains(.maxDuplicateNGramCharFraction) {
            maxDuplicateNGramCharFraction = try c.decode([String: Double].self, forKey: .maxDuplicateNGramCharFraction).reduce(into: [:]) { $0[Int($1.key) ?? 0] = $1.value }
        }
        rejectLoremIpsum = try c.decodeIfPresent(Bool.self, forKey: .rejectLoremIpsum) ?? dflt.rejectLoremIpsum
        rejectCurlyBraces = try c.decodeIfPresent(Bool.self, forKey: .rejectCurlyBraces) ?? dflt.rejectCurlyBraces
        minSentences = try opt(.minSentences, dflt.minSentences)
    }

    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(minWords, forKey: .minWords); try c.encode(maxWords, forKey: .maxWords)
        try c.encode(minMeanWordLength, forKey: .minMeanWordLength); try c.encode(maxMeanWordLength, forKey: .maxMeanWordLength)
        try c.encode(maxSymbolWordRatio, forKey: .maxSymbolWordRatio)
        try c.encode(maxBulletLineFraction, forKey: .maxBulletLineFraction); try c.encode(maxEllipsisLineFraction, forKey: .maxEllipsisLineFraction)
        try c.encode(minAlphaWordFraction, forKey: .minAlphaWordFraction); try c.encode(minStopWords, forKey: .minStopWords)
        try c.encode(maxDuplicateLineFraction, forKey: .maxDuplicateLineFraction)
        try c.encode(maxDuplicateParagraphFraction, forKey: .maxDuplicateParagraphFraction)
        try c.encode(maxDuplicateLineCharFraction, forKey: .maxDuplicateLineCharFraction)
        try c.encode(maxDuplicateParagraphCharFraction, forKey: .maxDuplicateParagraphCharFraction)
        try c.encode(Dictionary(uniqueKeysWithValues: maxTopNGramCharFraction.map { (String($0.key), $0.value) }), forKey: .maxTopNGramCharFraction)
        try c.encode(Dictionary(uniqueKeysWithValues: maxDuplicateNGramCharFraction.map { (String($0.key), $0.value) }), forKey: .maxDuplicateNGramCharFraction)
        try c.encode(rejectLoremIpsum, forKey: .rejectLoremIpsum); try c.encode(rejectCurlyBraces, forKey: .rejectCurlyBraces)
        try c.encode(minSentences, forKey: .minSentences)
    }
}

public enum QualityFilter {
    static let stopWords: Set<String> = ["the", "be", "to", "of", "and", "that", "have", "with"]
    static let bullets: Set<Character> = ["•", "‣", "⁃", "◦", "▪", "●", "-", "*", "–"]

    /// The reason `text` fails, or nil when it passes.
    public static func check(_ text: String, _ o: QualityOptions) -> String? {
        guard o.enabled else { return nil }
        let words = TextScan.whitespaceWords(text)
        let n = words.count
        if let m = o.minWords, n < m { return "gopher: \(n) words < \(m)" }
        if let m = o.maxWords, n > m { return "gopher: \(n) words > \(m)" }
        if n > 0 {
            let mean = Double(words.reduce(0) { $0 + $1.count }) / Double(n)
            if let m = o.minMeanWordLength, mean < m { return String(format: "gopher: mean word length %.2f < %.2f", mean, m) }
            if let m = o.maxMeanWordLength, mean > m { return String(format: "gopher: mean word length %.2f > %.2f", mean, m) }
            if let m = o.maxSymbolWordRatio {
                var symbols = words.filter { $0.contains("#") }.count
                for w in words {
                    var dots = 0
                    for u in w { if u == "." { dots += 1; if dots == 3 { symbols += 1; dots = 0 } } else { dots = 0 }; if u == "…" { symbols += 1 } }
                }
                let r = Double(symbols) / Double(n)
                if r > m { return String(format: "gopher: symbol-to-word ratio %.3f > %.3f", r, m) }
            }
            if let m = o.minAlphaWordFraction {
                let alpha = Double(words.filter { $0.contains(where: TextScan.isLetter) }.count) / Double(n)
                if alpha < m { return String(format: "gopher: alphabetic word fraction %.3f < %.3f", alpha, m) }
            }
            if let m = o.minStopWords {
                var seen = 0
                for w in words where w.count <= 5 && stopWords.contains(String(String.UnicodeScalarView(w.filter(TextScan.isLetter))).lowercased()) {
                    seen += 1
                    if seen >= m { break }
                }
                if seen < m { return "gopher: \(seen) stop words < \(m)" }
            }
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { line -> String in
            var v = Substring(line).unicodeScalars
            while let f = v.first, TextScan.isWhitespace(f) { v.removeFirst() }
            while let l = v.last, TextScan.isWhitespace(l) { v.removeLast() }
            return String(v)
        }.filter { !$0.isEmpty }
        if !lines.isEmpty {
            if let m = o.maxBulletLineFraction {
                let r = Double(lines.filter { $0.first.map(bullets.contains) ?? false }.count) / Double(lines.count)
                if r > m { return String(format: "gopher: bullet line fraction %.3f > %.3f", r, m) }
            }
            if let m = o.maxEllipsisLineFraction {
                let r = Double(lines.filter { $0.hasSuffix("...") || $0.hasSuffix("…") }.count) / Double(lines.count)
                if r > m { return String(format: "gopher: ellipsis line fraction %.3f > %.3f", r, m) }
            }
        }
        if let reason = repetition(text, lines: lines, words: words, o) { return reason }
        let lower = text.lowercased()
        if o.rejectLoremIpsum && lower.contains("lorem ipsum") { return "c4: contains lorem ipsum" }
        if o.rejectCurlyBraces && text.contains("{") { return "c4: contains a curly brace" }
        if let m = o.minSentences {
            let sentences = text.split(whereSeparator: { ".!?".contains($0) }).filter { $0.contains { $0.isLetter } }.count
            if sentences < m { return "c4: \(sentences) sentences < \(m)" }
        }
        return nil
    }

    static func repetition(_ text: String, lines: [String], words: [Substring.UnicodeScalarView], _ o: QualityOptions) -> String? {
        let totalChars = max(1, text.unicodeScalars.count)
        func dupStats(_ items: [String]) -> (fraction: Double, charFraction: Double) {
            var seen = Set<String>()
            var dup = 0, dupChars = 0
            for it in items { if !seen.insert(it).inserted { dup += 1; dupChars += it.unicodeScalars.count } }
            return (items.isEmpty ? 0 : Double(dup) / Double(items.count), Double(dupChars) / Double(totalChars))
        }
        let l = dupStats(lines)
        if let m = o.maxDuplicateLineFraction, l.fraction > m { return String(format: "gopher: duplicate line fraction %.3f > %.3f", l.fraction, m) }
        if let m = o.maxDuplicateLineCharFraction, l.charFraction > m { return String(format: "gopher: duplicate line characters %.3f > %.3f", l.charFraction, m) }
        let paragraphs = text.components(separatedBy: "\n\n").map { p -> String in
            var v = Substring(p).unicodeScalars
            while let f = v.first, TextScan.isWhitespace(f) { v.removeFirst() }
            while let l = v.last, TextScan.isWhitespace(l) { v.removeLast() }
            return String(v)
        }.filter { !$0.isEmpty }
        let p = dupStats(paragraphs)
        if let m = o.maxDuplicateParagraphFraction, p.fraction > m { return String(format: "gopher: duplicate paragraph fraction %.3f > %.3f", p.fraction, m) }
        if let m = o.maxDuplicateParagraphCharFraction, p.charFraction > m { return String(format: "gopher: duplicate paragraph characters %.3f > %.3f", p.charFraction, m) }
        // n-gram rules over 64-bit word hashes (no string building).
        let lengths = words.map(\.count)
        let wordChars = max(1, lengths.reduce(0, +))
        let wh: [UInt64] = words.map { w in var s = String(String.UnicodeScalarView(w)); return s.withUTF8 { hash64(UnsafeRawBufferPointer($0)) } }
        func gram(_ i: Int, _ n: Int) -> UInt64 {
            var h: UInt64 = UInt64(n) &* 0x9E37_79B9_7F4A_7C15
            for j in i..<(i + n) { h = (h ^ wh[j]) &* 0x100_0000_01b3; h ^= h >> 31 }
            return h
        }
        for (n, limit) in o.maxTopNGramCharFraction.sorted(by: { $0.key < $1.key }) where n > 0 && words.count >= n {
            var counts: [UInt64: (count: Int, first: Int)] = [:]
            for i in 0...(words.count - n) {
                let g = gram(i, n)
                if let e = counts[g] { counts[g] = (e.count + 1, e.first) } else { counts[g] = (1, i) }
            }
            // Ties go to the n-gram seen first (as Counter.most_common does in datatrove), not to hash order:
            // the same text gives the same verdict in every process.
            if let top = counts.values.max(by: { $0.count < $1.count || ($0.count == $1.count && $0.first > $1.first) }), top.count > 1 {
                let chars = lengths[top.first..<(top.first + n)].reduce(0, +)
                let r = Double(top.count * chars) / Double(wordChars)
                if r > limit { return String(format: "gopher: top %d-gram covers %.3f of characters > %.3f", n, r, limit) }
            }
        }
        for (n, limit) in o.maxDuplicateNGramCharFraction.sorted(by: { $0.key < $1.key }) where n > 0 && words.count >= n {
            var seen = Set<UInt64>()
            seen.reserveCapacity(words.count)
            var covered = [Bool](repeating: false, count: words.count)
            for i in 0...(words.count - n) where !seen.insert(gram(i, n)).inserted {
                for j in i..<(i + n) { covered[j] = true }
            }
            var dupChars = 0
            for j in 0..<words.count where covered[j] { dupChars += lengths[j] }
            let r = Double(dupChars) / Double(wordChars)
            if r > limit { return String(format: "gopher: duplicated %d-grams cover %.3f of characters > %.3f", n, r, limit) }
        }
        return nil
    }
}
