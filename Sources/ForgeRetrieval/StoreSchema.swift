// StoreSchema: the SQLite layout of a Forge vector index, how it is created, and how a file is checked before use.
//
// A file is a Forge index when its header carries Forge's application_id and schema version (user_version);
// those are read from the raw header before SQLite touches the file, then the file is opened read-only for
// `PRAGMA integrity_check` and the table layout. Nothing here writes to a file it did not create.
import ForgeCore
import Foundation
import GRDB

enum StoreSchema {
    /// "FRGI" in the header's application_id field (offset 68).
    static let applicationID: Int32 = 0x4652_4749
    static let version: Int32 = 1

    static let tables: [String: [String]] = [
        "settings": ["key", "value"],
        "documents": ["id", "source", "title", "metadata", "content_hash", "added_at"],
        "chunks": ["id", "document_id", "ordinal", "text", "char_start", "char_end", "token_start", "token_end"],
        "vectors": ["chunk_id", "dimension", "vector"],
        "graph_nodes": ["slot", "chunk_id", "level", "links"],
        "graph_state": ["id", "entry_slot", "max_level", "rng", "generation"],
    ]

    /// The tables of a new index (run inside its first transaction).
    static func create(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE documents (
                id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL UNIQUE, title TEXT,
                metadata TEXT NOT NULL, content_hash TEXT NOT NULL, added_at REAL NOT NULL);
            CREATE TABLE chunks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL, text TEXT NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
                token_start INTEGER, token_end INTEGER, UNIQUE (document_id, ordinal));
            CREATE TABLE vectors (
                chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
                dimension INTEGER NOT NULL, vector BLOB NOT NULL);
            CREATE TABLE graph_nodes (
                slot INTEGER PRIMARY KEY, chunk_id INTEGER NOT NULL UNIQUE REFERENCES chunks(id) ON DELETE CASCADE,
                level INTEGER NOT NULL, links BLOB NOT NULL);
            CREATE TABLE graph_state (
                id INTEGER PRIMARY KEY CHECK (id = 1), entry_slot INTEGER, max_level INTEGER NOT NULL,
                rng BLOB NOT NULL, generation INTEGER NOT NULL);
            PRAGMA application_id = \(applicationID);
            PRAGMA user_version = \(version);
            """)
    }

    /// Throws a `ForgeError` naming `path` unless it is an intact Forge index; never writes to it.
    static func check(_ path: String) throws {
        try checkHeader(path)
        let sidecars = [path + "-wal", path + "-shm"].filter { !FileManager.default.fileExists(atPath: $0) }
        defer {  // a read-only open of a WAL file may leave -wal/-shm files: take away those it made, if no WAL is pending
            let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
            for file in sidecars where wal == 0 { try? FileManager.default.removeItem(atPath: file) }
        }
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            try queue.read { db in
                let problems = try String.fetchAll(db, sql: "PRAGMA integrity_check(5)")
                guard problems == ["ok"] else {
                    throw ForgeError.file(path, "corrupt (SQLite integrity check: \(problems.joined(separator: "; ")))")
                }
                for (table, columns) in tables {
                    let found = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table])
                    guard Set(columns).isSubset(of: Set(found)) else {
                        throw ForgeError.file(path, "not a Forge vector index: table \(table) is missing or incomplete")
                    }
                }
            }
        } catch let error as ForgeError {
            throw error
        } catch {
            throw ForgeError.file(path, "cannot be read as a Forge vector index: \(error)")
        }
    }

    /// The 100-byte SQLite header: magic, application_id, schema version and, with no pending WAL, the file length.
    private static func checkHeader(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ForgeError.file(path, "cannot be opened") }
        defer { try? handle.close() }
        let header = [UInt8]((try? handle.read(upToCount: 100)) ?? Data())
        guard header.count == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            throw ForgeError.file(path, "not a Forge vector index (not a SQLite database)")
        }
        func u32(_ at: Int) -> UInt32 { header[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        let appID = Int32(bitPattern: u32(68)), userVersion = Int32(bitPattern: u32(60))
        guard appID == applicationID else {
            throw ForgeError.file(path, "a SQLite database but not a Forge vector index (application_id \(appID))")
        }
        guard userVersion == version else {
            throw ForgeError.file(path, "Forge vector index schema version \(userVersion); this Forge reads version \(version)")
        }
        let rawPageSize = Int(header[16]) << 8 | Int(header[17])
        let pageSize = rawPageSize == 1 ? 65536 : rawPageSize
        let pages = Int(u32(28))
        let fileSize = Int((try? handle.seekToEnd()) ?? 0)
        let walSize = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        // The page count is valid when the change counter (24) equals "version-valid-for" (92).
        if walSize == 0, u32(24) == u32(92), pageSize >= 512, fileSize < pages * pageSize || fileSize % pageSize != 0 {
            throw ForgeError.file(path, "truncated or damaged: \(fileSize) bytes, the header says \(pages) pages of \(pageSize)")
        }
    }
}
