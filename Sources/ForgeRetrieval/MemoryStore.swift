// MemoryStore: facts a user asked an assistant to keep, across sessions: text, its embedding, owner and time in a
// SQLite file (GRDB), recalled by cosine similarity for later prompts, listed and deleted by their owner only.
// A file that is not a Forge memory database (or is damaged) is refused and left as it is.
import ForgeCore
import Foundation
import GRDB

/// One remembered fact.
public struct Memory: Sendable, Equatable {
    public var id: Int64
    public var user: String
    public var text: String
    public var created: Date
    /// Similarity to the query, for recalled memories (1 otherwise).
    public var score: Float
}

/// Per-user facts with embeddings, in one SQLite file.
public final class MemoryStore: @unchecked Sendable {
    public let path: String
    public let dimension: Int
    let queue: DatabaseQueue
    /// "FRGM" in the header's application_id field.
    static let applicationID: Int32 = 0x4652_474D

    /// Opens `path`, creating it when missing; an existing file must be an intact memory database of `dimension`.
    public init(path: String, dimension: Int) throws {
        self.path = path
        self.dimension = dimension
        let exists = FileManager.default.fileExists(atPath: path)
        if exists { try Self.check(path) }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        do { queue = try DatabaseQueue(path: path, configuration: configuration) }
        catch { throw ForgeError.file(path, "cannot be opened as a memory database: \(error)") }
        if !exists {
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE memories (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, text TEXT NOT NULL,
                                           created REAL NOT NULL, vector BLOB NOT NULL);
                    CREATE INDEX memories_user ON memories(user);
                    PRAGMA application_id = \(Self.applicationID);
                    """)
                try db.execute(sql: "INSERT INTO settings VALUES ('dimension', ?)", arguments: [String(dimension)])
            }
        }
        let stored = try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'dimension'") }
        guard stored == String(dimension) else {
            throw ForgeError.file(path, "holds \(stored ?? "?")-dimensional memories; the embedder makes \(dimension)")
        }
    }

    /// Saves a fact for `user` (one transaction); returns its id. An identical fact already saved is not duplicated.
    @discardableResult
    public func remember(user: String, text: String, vector: [Float]) throws -> Int64 {
        guard vector.count == dimension else { throw ForgeError("memory vector has \(vector.count) values, the store holds \(dimension)") }
        let clean = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !clean.isEmpty else { throw ForgeError("an empty memory") }
        return try queue.write { db in
            if let id = try Int64.fetchOne(db, sql: "SELECT id FROM memories WHERE user = ? AND text = ?", arguments: [user, clean]) { return id }
            let blob = vector.withUnsafeBytes { Data($0) }
            try db.execute(sql: "INSERT INTO memories (user, text, created, vector) VALUES (?, ?, ?, ?)",
                           arguments: [user, clean, Date().timeIntervalSince1970, blob])
            return db.lastInsertedRowID
        }
    }

    /// A user's memories, oldest first.
    public func list(user: String) throws -> [Memory] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT id, user, text, created FROM memories WHERE user = ? ORDER BY id", arguments: [user]).map {
                Memory(id: $0["id"], user: $0["user"], text: $0["text"], created: Date(timeIntervalSince1970: $0["created"]), score: 1)
            }
        }
    }

    /// Deletes one of `user`'s memories; false when it does not exist or belongs to someone else.
    public func forget(user: String, id: Int64) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM memories WHERE id = ? AND user = ?", arguments: [id, user])
            return db.changesCount > 0
        }
    }

    /// Deletes all of `user`'s memories; returns how many.
    @discardableResult
    public func forgetAll(user: String) throws -> Int {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM memories WHERE user = ?", arguments: [user])
            return db.changesCount
        }
    }

    /// `user`'s memories most similar to `query` (cosine of unit vectors), best first, at least `minScore`.
    public func recall(user: String, query: [Float], k: Int, minScore: Float = 0.3) throws -> [Memory] {
        guard query.count == dimension else { throw ForgeError("query vector has \(query.count) values, the store holds \(dimension)") }
        let rows = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT id, user, text, created, vector FROM memories WHERE user = ?", arguments: [user])
        }
        var scored: [Memory] = []
        for r in rows {
            let blob: Data = r["vector"]
            guard blob.count == dimension * 4 else { throw ForgeError.file(path, "memory \(r["id"] as Int64) has a damaged vector") }
            let score = blob.withUnsafeBytes { raw in
                let v = raw.bindMemory(to: Float.self)
                return innerProduct(query, Array(v))
            }
            if score >= minScore {
                scored.append(Memory(id: r["id"], user: r["user"], text: r["text"], created: Date(timeIntervalSince1970: r["created"]), score: score))
            }
        }
        return Array(scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }.prefix(k))
    }

    /// Throws unless `path` is an intact Forge memory database; opens it read-only.
    static func check(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ForgeError.file(path, "cannot be opened") }
        let header = [UInt8]((try? handle.read(upToCount: 100)) ?? Data())
        try? handle.close()
        guard header.count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            throw ForgeError.file(path, "not a Forge memory database (not a SQLite database)")
        }
        let appID = Int32(bitPattern: header[68..<72].reduce(0) { $0 << 8 | UInt32($1) })
        guard appID == applicationID else { throw ForgeError.file(path, "a SQLite database but not a Forge memory database") }
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let q = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? q.close() }
            let problems = try q.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(5)") }
            guard problems == ["ok"] else { throw ForgeError.file(path, "corrupt (SQLite integrity check: \(problems.joined(separator: "; ")))") }
        } catch let e as ForgeError { throw e } catch { throw ForgeError.file(path, "cannot be read as a memory database: \(error)") }
    }
}
