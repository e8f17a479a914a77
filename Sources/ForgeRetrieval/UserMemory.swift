// UserMemory: what an assistant keeps about a user between sessions. Facts come from the user: said explicitly
// ("remember that …", "/remember …") or stated about themselves ("my name is …", "I live in …", "I prefer …");
// they are saved with their embedding and the most similar ones are recalled into the system prompt of later turns.
import ForgeCore
import ForgeModels
import Foundation

/// Capture and recall of a user's facts over a MemoryStore.
public final class UserMemory: @unchecked Sendable {
    public let store: MemoryStore
    public let encoder: SentenceEncoder
    /// Facts recalled per message, and how similar one must be.
    public var recallCount = 4, minScore: Float = 0.3

    public init(store: MemoryStore, encoder: SentenceEncoder) { (self.store, self.encoder) = (store, encoder) }

    /// Opens (or creates) the memory database at `path` with an encoder dir.
    public convenience init(path: String, embedder: String) throws {
        let encoder = try SentenceEncoder(modelDir: embedder)
        try self.init(store: MemoryStore(path: path, dimension: encoder.dimension), encoder: encoder)
    }

    /// Saves `text` for `user`.
    @discardableResult
    public func remember(user: String, _ text: String) throws -> Int64 {
        try store.remember(user: user, text: text, vector: encoder.embed([text])[0])
    }

    /// Saves the facts `message` states and returns them: an explicit "remember (that) …", or first-person statements.
    @discardableResult
    public func capture(user: String, message: String) throws -> [String] {
        let facts = Self.facts(in: message)
        for f in facts { try remember(user: user, f) }
        return facts
    }

    /// The system-prompt block of `user`'s facts most similar to `message` (nil when none is similar enough).
    public func context(user: String, message: String) throws -> String? {
        let found = try store.recall(user: user, query: encoder.embed([message])[0], k: recallCount, minScore: minScore)
        guard !found.isEmpty else { return nil }
        return "What you know about the user from earlier conversations:\n" + found.map { "- " + $0.text }.joined(separator: "\n")
    }

    /// The sentences of `message` worth keeping: "remember (that) X" gives X; first-person facts are kept whole.
    public static func facts(in message: String) -> [String] {
        var out: [String] = []
        let sentences = message.split(whereSeparator: { ".!?\n".contains($0) }).map { $0.trimmingCharacters(in: .whitespaces) }
        for s in sentences where !s.isEmpty {
            let lower = s.lowercased()
            if let r = lower.range(of: #"^(please )?remember( that|:)?\s+"#, options: .regularExpression) {
                let fact = String(s[r.upperBound...]).trimmingCharacters(in: .whitespaces)
                if !fact.isEmpty { out.append(fact) }
                continue
            }
            if s.hasSuffix("?") { continue }
            let firstPerson = [#"^my (name|favou?rite|job|wife|husband|partner|son|daughter|dog|cat|birthday|email|team)\b"#,
                               #"^i (live|work|am|'m|prefer|like|love|hate|dislike|was born|have|own|speak|study)\b"#,
                               #"^i'm\b"#, #"^call me\b"#]
            if firstPerson.contains(where: { lower.range(of: $0, options: .regularExpression) != nil }), s.count <= 300 { out.append(s) }
        }
        return out
    }
}
