// Moderator: the check every request and every reply passes through (replies piece by piece while they stream).
// The default is configurable word and pattern rules; a trained classifier (the safety stage) plugs in the same way.
import Foundation

/// A refusal: why, for the error message and the logs.
public struct ModerationResult: Sendable, Equatable {
    public var category: String
    public var reason: String
    public init(category: String, reason: String) { (self.category, self.reason) = (category, reason) }
}

/// Decides whether a text may pass.
public protocol Moderator: Sendable {
    /// nil when `text` may pass.
    func check(_ text: String) -> ModerationResult?
}

/// A moderator that may also rewrite what passes (redaction) and follows each reply as it streams (guardrails).
public protocol RewritingModerator: Moderator {
    /// The text to use (possibly redacted), or a refusal.
    func review(_ text: String) -> (text: String, refusal: ModerationResult?)
    /// A filter for one streamed reply.
    func replyFilter() -> any ReplyFilter
}

/// Follows one reply piece by piece: what to show now (it may hold text back), or a refusal that ends the reply.
public protocol ReplyFilter: AnyObject {
    func feed(_ piece: String) -> (shown: String, refusal: ModerationResult?)
    /// The end of the reply: the rest of what was held back.
    func finish() -> (shown: String, refusal: ModerationResult?)
}

/// Lets everything pass.
public struct AllowAll: Moderator {
    public init() {}
    public func check(_ text: String) -> ModerationResult? { nil }
}

/// Blocks texts containing any of `words` (whole words, case-insensitive) or matching any of `patterns`
/// (regular expressions).
public struct WordRules: Moderator, @unchecked Sendable {
    let words: Set<String>
    let patterns: [(NSRegularExpression, String)]

    public init(words: [String], patterns: [String] = []) throws {
        self.words = Set(words.map { $0.lowercased() })
        self.patterns = try patterns.map { p in
            do { return (try NSRegularExpression(pattern: p, options: [.caseInsensitive]), p) }
            catch { throw APIError(status: 500, "moderation pattern '\(p)' is not a valid regular expression") }
        }
    }

    /// Rules from a file: one rule per line, `word` or `/regex/`; `#` starts a comment.
    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw APIError(status: 500, "\(path): cannot be read") }
        var words: [String] = [], patterns: [String] = []
        for raw in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.count > 2, line.hasPrefix("/"), line.hasSuffix("/") { patterns.append(String(line.dropFirst().dropLast())) }
            else { words.append(line) }
        }
        try self.init(words: words, patterns: patterns)
    }

    public func check(_ text: String) -> ModerationResult? {
        if !words.isEmpty {
            for w in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "'" }) where words.contains(String(w)) {
                return ModerationResult(category: "word", reason: "contains a blocked word")
            }
        }
        let range = NSRange(text.startIndex..., in: text)
        for (re, p) in patterns where re.firstMatch(in: text, range: range) != nil {
            return ModerationResult(category: "pattern", reason: "matches the blocked pattern /\(p)/")
        }
        return nil
    }
}
