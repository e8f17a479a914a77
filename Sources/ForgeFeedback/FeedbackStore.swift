// FeedbackStore: the feedback database (one SQLite file through GRDB). Chat feedback: each rated reply is kept with
// the conversation before it, the model, the sampling settings, the rating, a comment and a report category; each
// conversation belongs to one owner, who alone can list and delete it. Review items and judgements share the file
// (ReviewQueue). A file that is not a Forge feedback database, or is damaged, is refused and left as it is.
import ForgeCore
import ForgeTokenizer
import Foundation
import GRDB

/// A rating of one reply.
public enum Rating: Int, Sendable, CaseIterable {
    case down = -1, none = 0, up = 1
}

/// One rated (or reported) reply, as stored.
public struct FeedbackEntry: Sendable, Equatable {
    public var id: Int64 = 0
    public var conversationID: String
    public var owner: String
    /// The messages the reply answered (system prompt included).
    public var prompt: [ChatMessage]
    public var reply: String
    public var model: String
    /// Sampling settings the reply was made with (temperature, top_p, max_tokens, seed ...).
    public var settings: [String: Double]
    public var rating: Rating
    public var comment: String?
    /// One of harmful, wrong, unhelpful, privacy.
    public var report: String?
    public var created = Date()

    public init(conversationID: String, owner: String, prompt: [ChatMessage], reply: String, model: String,
                settings: [String: Double] = [:], rating: Rating, comment: String? = nil, report: String? = nil) {
        (self.conversationID, self.owner, self.prompt, self.reply, self.model) = (conversationID, owner, prompt, reply, model)
        (self.settings, self.rating, self.comment, self.report) = (settings, rating, comment, report)
    }
}

/// A stored conversation: its latest messages and how many of its replies were rated.
public struct ConversationRecord: Sendable, Equatable {
    public var id: String
    public var owner: String
    public var model: String
    public var messages: [ChatMessage]
    public var created: Date
    public var updated: Date
    public var feedbackCount: Int
}

/// The feedback and review database.
public final class FeedbackStore: @unchecked Sendable {
    public let path: String
    let queue: DatabaseQueue

    /// Opens `path`, creating it when missing; an existing file must be an intact Forge feedback database.
    public init(path: String) throws {
        self.path = path
        if FileManager.default.fileExists(atPath: path) { try FeedbackSchema.check(path) }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try FeedbackSchema.migrator.migrate(queue)
        } catch { throw ForgeError.file(path, "cannot be opened as a feedback database: \(error)") }
    }

    /// The report categories a reply or an answer can be flagged with.
    public static var reportCategories: [String] { FeedbackSchema.reportCategories }

    /// Saves a rating (one transaction) with its conversation; rating the same reply again replaces the earlier
    /// rating. Throws when the conversation belongs to someone else or was deleted, or the report category is unknown.
    @discardableResult
    public func record(_ entry: FeedbackEntry, conversation: [ChatMessage]? = nil) throws -> Int64 {
        if let r = entry.report, !FeedbackSchema.reportCategories.contains(r) {
            throw ForgeError("report '\(r)' is not one of \(FeedbackSchema.reportCategories.joined(separator: ", "))")
        }
        guard !entry.reply.isEmpty else { throw ForgeError("the rated reply is empty") }
        let now = Date().timeIntervalSince1970
        let messages = Self.encode(conversation ?? entry.prompt + [ChatMessage(role: "assistant", content: entry.reply)])
        let prompt = Self.encode(entry.prompt)
        let settings = String(decoding: try JSONSerialization.data(withJSONObject: entry.settings, options: [.sortedKeys]), as: UTF8.self)
        return try queue.write { db in
            if let owner = try String.fetchOne(db, sql: "SELECT owner FROM deleted_conversations WHERE id = ?", arguments: [entry.conversationID]) {
                throw owner == entry.owner ? FeedbackStoreError.deleted(entry.conversationID) : FeedbackStoreError.notOwner(entry.conversationID)
            }
            if let owner = try String.fetchOne(db, sql: "SELECT owner FROM conversations WHERE id = ?", arguments: [entry.conversationID]) {
                guard owner == entry.owner else { throw FeedbackStoreError.notOwner(entry.conversationID) }
                try db.execute(sql: "UPDATE conversations SET messages = ?, model = ?, updated = ? WHERE id = ?",
                               arguments: [messages, entry.model, now, entry.conversationID])
            } else {
                try db.execute(sql: "INSERT INTO conversations (id, owner, model, messages, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [entry.conversationID, entry.owner, entry.model, messages, now, now])
            }
            try db.execute(sql: """
                INSERT INTO feedback (conversation_id, owner, prompt, reply, model, settings, rating, comment, report, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (conversation_id, prompt, reply) DO UPDATE SET
                    rating = excluded.rating, comment = excluded.comment, report = excluded.report, model = excluded.model,
                    settings = excluded.settings, created = excluded.created
                """, arguments: [entry.conversationID, entry.owner, prompt, entry.reply, entry.model, settings,
                                 entry.rating.rawValue, entry.comment, entry.report, now])
            return try Int64.fetchOne(db, sql: "SELECT id FROM feedback WHERE conversation_id = ? AND prompt = ? AND reply = ?",
                                      arguments: [entry.conversationID, prompt, entry.reply]) ?? db.lastInsertedRowID
        }
    }

    /// `owner`'s conversations, most recently updated first.
    public func conversations(owner: String) throws -> [ConversationRecord] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.*, (SELECT COUNT(*) FROM feedback f WHERE f.conversation_id = c.id) AS n
                FROM conversations c WHERE owner = ? ORDER BY updated DESC, id
                """, arguments: [owner]).map(Self.conversation)
        }
    }

    /// One of `owner`'s conversations and its feedback, or nil when it does not exist or is someone else's.
    public func conversation(id: String, owner: String) throws -> (ConversationRecord, [FeedbackEntry])? {
        try queue.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT c.*, (SELECT COUNT(*) FROM feedback f WHERE f.conversation_id = c.id) AS n
                FROM conversations c WHERE id = ? AND owner = ?
                """, arguments: [id, owner]) else { return nil }
            let entries = try Row.fetchAll(db, sql: "SELECT * FROM feedback WHERE conversation_id = ? ORDER BY id", arguments: [id])
            return (try Self.conversation(row), try entries.map(Self.entry))
        }
    }

    /// Deletes one of `owner`'s conversations with its feedback, and keeps its id so it is not created again; false
    /// when it does not exist or is someone else's.
    public func deleteConversation(id: String, owner: String) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM conversations WHERE id = ? AND owner = ?", arguments: [id, owner])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "INSERT OR REPLACE INTO deleted_conversations (id, owner, deleted) VALUES (?, ?, ?)",
                           arguments: [id, owner, Date().timeIntervalSince1970])
            return true
        }
    }

    /// Every feedback entry, oldest first (for exports).
    public func allFeedback() throws -> [FeedbackEntry] {
        try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM feedback ORDER BY id").map(Self.entry) }
    }

    // MARK: - Rows

    static func conversation(_ r: Row) throws -> ConversationRecord {
        ConversationRecord(id: r["id"], owner: r["owner"], model: r["model"], messages: try decode(r["messages"]),
                           created: Date(timeIntervalSince1970: r["created"]), updated: Date(timeIntervalSince1970: r["updated"]),
                           feedbackCount: r["n"])
    }

    static func entry(_ r: Row) throws -> FeedbackEntry {
        let settingsText: String = r["settings"]
        let settings = (try? JSONSerialization.jsonObject(with: Data(settingsText.utf8))) as? [String: Double] ?? [:]
        var e = FeedbackEntry(conversationID: r["conversation_id"], owner: r["owner"], prompt: try decode(r["prompt"]), reply: r["reply"],
                              model: r["model"], settings: settings, rating: Rating(rawValue: r["rating"]) ?? .none,
                              comment: r["comment"], report: r["report"])
        e.id = r["id"]
        e.created = Date(timeIntervalSince1970: r["created"])
        return e
    }

    /// Messages as a JSON array of {"role", "content"} objects.
    static func encode(_ messages: [ChatMessage]) -> String {
        let list = messages.map { ["role": $0.role, "content": $0.content] }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: list, options: [.sortedKeys])) ?? Data("[]".utf8), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [ChatMessage] {
        guard let list = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]] else {
            throw ForgeError("a stored conversation is not a JSON list of messages")
        }
        return list.map { ChatMessage(role: $0["role"] as? String ?? "", content: $0["content"] as? String ?? "") }
    }
}

/// What the store refuses to do.
public enum FeedbackStoreError: Error, CustomStringConvertible, Equatable {
    case notOwner(String)
    case deleted(String)
    public var description: String {
        switch self {
        case .notOwner(let id): "conversation \(id) belongs to another user"
        case .deleted(let id): "conversation \(id) was deleted; rate in a new conversation"
        }
    }
}
