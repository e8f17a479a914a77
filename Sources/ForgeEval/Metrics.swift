// Metrics: the scoring rules of lm-evaluation-harness and of the HumanEval paper, as pure functions.
import Foundation

public enum Metrics {
    /// acc: 1 when the highest log-likelihood is the gold choice's (first index wins a tie, as numpy's argmax).
    public static func accuracy(_ lls: [Double], gold: Int) -> Double { argmax(lls) == gold ? 1 : 0 }

    /// acc_norm: the same on log-likelihood divided by the choice's length in characters (Python's len).
    public static func normalizedAccuracy(_ lls: [Double], choices: [String], gold: Int) -> Double {
        let normed = zip(lls, choices).map { $0 / Double(max(1, $1.unicodeScalars.count)) }
        return argmax(normed) == gold ? 1 : 0
    }

    static func argmax(_ x: [Double]) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }

    /// Mean and standard error of the mean (sample standard deviation / √n), as lm-eval's mean and stderr.
    public static func meanAndStderr(_ x: [Double]) -> (mean: Double, stderr: Double) {
        guard !x.isEmpty else { return (0, 0) }
        let n = Double(x.count), mean = x.reduce(0, +) / n
        guard x.count > 1 else { return (mean, 0) }
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// lm-eval's regex filter then take_first: all matches of `regex`; the one at `groupSelect` (negative from the end);
    /// with capture groups, the first non-empty group; stripped. No match: "[invalid]".
    public static func extract(_ text: String, regex: String, groupSelect: Int = 0) -> String {
        guard let re = try? NSRegularExpression(pattern: regex) else { return "[invalid]" }
        let ns = text as NSString
        let matches = re.matches(in: text, range: NSRange(location: 0, length: ns.length))
        guard !matches.isEmpty else { return "[invalid]" }
        let i = groupSelect < 0 ? matches.count + groupSelect : groupSelect
        guard matches.indices.contains(i) else { return "[invalid]" }
        let m = matches[i]
        var found: String
        if m.numberOfRanges <= 1 {
            found = ns.substring(with: m.range)
        } else {
            // Python's findall gives the groups; the filter keeps the first non-empty one.
            let groups = (1..<m.numberOfRanges).map { g -> String in
                let r = m.range(at: g)
                return r.location == NSNotFound ? "" : ns.substring(with: r)
            }
            guard let first = groups.first(where: { !$0.isEmpty }) else { return "[invalid]" }
            found = first
        }
        found = found.trimmingCharacters(in: .whitespacesAndNewlines)
        return found
    }

    /// lm-eval's exact_match: each `ignore` pattern removed from both strings, optionally case-folded, then equality.
    public static func exactMatch(_ prediction: String, _ reference: String, ignore: [String], ignoreCase: Bool) -> Double {
        func clean(_ s: String) -> String {
            var s = s
            for p in ignore {
                guard let re = try? NSRegularExpression(pattern: p) else { continue }
                s = re.stringByReplacingMatches(in: s, range: NSRange(location: 0, length: (s as NSString).length), withTemplate: "")
            }
            return ignoreCase ? s.lowercased() : s
        }
        return clean(prediction) == clean(reference) ? 1 : 0
    }

    /// The unbiased pass@k of the HumanEval paper from n samples of which c pass: 1 − C(n−c, k) / C(n, k),
    /// computed as a product to stay exact for large n.
    public static func passAtK(n: Int, c: Int, k: Int) -> Double {
        precondition(k >= 1 && k <= n && c >= 0 && c <= n)
        if n - c < k { return 1 }
        if c == 0 { return 0 }
        var prod = 1.0
        for i in (n - c + 1)...n { prod *= 1 - Double(k) / Double(i) }
        return 1 - prod
    }

    /// Words as lm-eval counts them for word perplexity: pieces of re.split(r"\s+", text).
    public static func wordCount(_ text: String) -> Int {
        // re.split keeps empty pieces at the ends: leading or trailing whitespace adds one each.
        var count = 1, inSpace = false
        for u in text.unicodeScalars {
            let space = u.properties.isWhitespace
            if space && !inSpace { count += 1 }
            inSpace = space
        }
        return count
    }
}
