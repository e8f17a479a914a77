// FeedbackSchema: the tables of a feedback database and how a file is recognised as one. Chat feedback (a
// conversation, the rated reply, its model and sampling settings, up/down, comment, report) and reviews (items of a
// prompt with two answers, and each reviewer's judgement of them) live in one SQLite file with Forge's application id.
import ForgeCore
import Foundation
import GRDB

enum FeedbackSchema {
    /// "FRGF" in the header's application_id field (offset 68).
    static let applicationID: Int32 = 0x4652_4746
    /// The report categories a reply can be flagged with.
    static let reportCategories = ["harmful", "wrong", "unhelpful", "privacy"]

    /// The migrations, in order; GRDB records which ones a file has had.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("feedback-v1") { db in
            let categories = reportCategories.map { "'\($0)'" }.joined(separator: ",")
            try db.execute(sql: """
                PRAGMA application_id = \(applicationID);
                CREATE TABLE conversations (
                    id TEXT PRIMARY KEY, owner TEXT NOT NULL, model TEXT NOT NULL,
                    messages TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
                CREATE INDEX conversations_owner ON conversations(owner);
                CREATE TABLE feedback (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                    owner TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    reply TEXT NOT NULL,
                    model TEXT NOT NULL,
                    settings TEXT NOT NULL,
                    rating INTEGER NOT NULL CHECK (rating IN (-1, 0, 1)),
                    comment TEXT,
                    report TEXT CHECK (report IS NULL OR report IN (\(categories))),
                    created REAL NOT NULL,
                    UNIQUE (conversation_id, prompt, reply));
                CREATE INDEX feedback_owner ON feedback(owner);
                CREATE TABLE review_items (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    prompt TEXT NOT NULL,
                    answer_a TEXT NOT NULL, model_a TEXT NOT NULL,
                    answer_b TEXT NOT NULL, model_b TEXT NOT NULL,
                    source TEXT NOT NULL,
                    created REAL NOT NULL,
                    UNIQUE (prompt, answer_a, answer_b));
                CREATE TABLE judgments (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    item_id INTEGER NOT NULL REFERENCES review_items(id) ON DELETE CASCADE,
                    reviewer TEXT NOT NULL,
                    verdict TEXT NOT NULL CHECK (verdict IN ('a', 'b', 'tie')),
                    flag_a TEXT CHECK (flag_a IS NULL OR flag_a IN (\(categories))),
                    flag_b TEXT CHECK (flag_b IS NULL OR flag_b IN (\(categories))),
                    left_answer TEXT NOT NULL CHECK (left_answer IN ('a', 'b')),
                    created REAL NOT NULL,
                    UNIQUE (item_id, reviewer));
                """)
        }
        // Deleted conversations' ids, so that a late rating from an open page cannot bring one back.
        m.registerMigration("feedback-v2") { db in
            try db.execute(sql: "CREATE TABLE deleted_conversations (id TEXT PRIMARY KEY, owner TEXT NOT NULL, deleted REAL NOT NULL)")
        }
        // Which stored answer the server showed on the left to each reviewer, so a judgement can be mapped back
        // from screen sides without trusting the client.
        m.registerMigration("review-v2") { db in
            try db.execute(sql: """
                CREATE TABLE review_assignments (
                    item_id INTEGER NOT NULL REFERENCES review_items(id) ON DELETE CASCADE,
                    reviewer TEXT NOT NULL,
                    left_answer TEXT NOT NULL CHECK (left_answer IN ('a', 'b')),
                    created REAL NOT NULL,
                    PRIMARY KEY (item_id, reviewer));
                """)
        }
        return m
    }

    /// Throws unless `path` is an intact Forge feedback database; reads it without writing a byte.
    static func check(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ForgeError.file(path, "cannot be opened") }
        let header = [UInt8]((try? handle.read(upToCount: 100)) ?? Data())
        try? handle.close()
        guard header.count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            throw ForgeError.file(path, "not a Forge feedback database (not a SQLite database)")
        }
        let appID = Int32(bitPattern: header[68..<72].reduce(0) { $0 << 8 | UInt32($1) })
        guard appID == applicationID else { throw ForgeError.file(path, "a SQLite database but not a Forge feedback database") }
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let q = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? q.close() }
            let problems = try q.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(5)") }
            guard problems == ["ok"] else { throw ForgeError.file(path, "corrupt (SQLite integrity check: \(problems.joined(separator: "; ")))") }
        } catch let e as ForgeError { throw e } catch { throw ForgeError.file(path, "cannot be read as a feedback database: \(error)") }
    }
}
