// VectorStore: documents, their chunks and embedding vectors in one SQLite file (GRDB, WAL), searchable by vector.
//
// Every change (adding a document with its chunks and vectors, deleting one) is one SQLite transaction that also
// rewrites the HNSW graph rows it touched, so a crash leaves the previous state and the graph is never rebuilt at
// open: it is read back with the vectors. The embedder's name and dimension are recorded at creation and checked
// at every open. A new file is built under a temporary name and renamed into place; an existing file is checked
// (StoreSchema.check) before it is opened for writing. One store object per file per process; another process's
// commits are noticed through the graph's generation counter, and the graph is reloaded.
import ForgeCore
import Foundation
import GRDB

/// A chunk of a document to add: its text, where it sits in the document, and its embedding.
public struct NewChunk: Sendable {
    public var text: String
    /// Character offsets in the document.
    public var characters: Range<Int>
    /// Token offsets, if the chunker counted tokens.
    public var tokens: Range<Int>?
    public var vector: [Float]

    public init(text: String, characters: Range<Int>, tokens: Range<Int>? = nil, vector: [Float]) {
        self.text = text
        self.characters = characters
        self.tokens = tokens
        self.vector = vector
    }
}

/// A document to add; `source` (a path, URL or key) is unique in a store.
public struct NewDocument: Sendable {
    public var source: String
    public var title: String?
    public var metadata: [String: String]
    /// Identifies the content, so a re-index can skip unchanged documents (FNV-1a of the chunk texts by default).
    public var contentHash: String
    public var chunks: [NewChunk]

    public init(source: String, title: String? = nil, metadata: [String: String] = [:], contentHash: String? = nil,
                chunks: [NewChunk]) {
        self.source = source
        self.title = title
        self.metadata = metadata
        self.chunks = chunks
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in chunks.map(\.text).joined(separator: "\u{1F}").utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        self.contentHash = contentHash ?? "fnv1a64:" + String(h, radix: 16)
    }
}

/// A stored document.
public struct StoredDocument: Sendable, Equatable {
    public var id: Int64
    public var source: String
    public var title: String?
    public var metadata: [String: String]
    public var contentHash: String
    public var addedAt: Date
    public var chunkCount: Int
}

/// A search result: a chunk, its document, and its inner product with the query.
public struct ChunkHit: Sendable, Equatable {
    public var chunkID: Int64
    public var documentID: Int64
    public var source: String
    public var title: String?
    public var ordinal: Int
    public var text: String
    public var characters: Range<Int>
    public var tokens: Range<Int>?
    public var score: Float
}

/// How a store searches: exact below `VectorStore.exactSearchLimit` vectors and HNSW above, or one of them.
public enum SearchMode: Sendable, Equatable {
    case automatic
    case exact
    case approximate(ef: Int? = nil)
}

/// Documents, chunks and vectors in SQLite, with an HNSW graph kept in the same file.
public final class VectorStore {
    public let path: String
    public let embedder: String
    public let dimension: Int
    public let parameters: HNSWIndex.Parameters
    /// `.automatic` searches exactly below this many vectors.
    public var exactSearchLimit = 5000
    private let queue: DatabaseQueue
    private var index: HNSWIndex
    private var generation: Int64 = -1
    /// Test seam: runs inside every write transaction just before it commits.
    var beforeCommit: (() throws -> Void)?

    /// Opens the index at `path`, creating it if missing; an existing one must have been built by `embedder`
    /// with vectors of `dimension` floats.
    public convenience init(path: String, embedder: String, dimension: Int,
                            parameters: HNSWIndex.Parameters = HNSWIndex.Parameters()) throws {
        if !FileManager.default.fileExists(atPath: path) {
            try VectorStore.create(path, embedder: embedder, dimension: dimension, parameters: parameters)
        }
        try self.init(path: path)
        guard self.embedder == embedder, self.dimension == dimension else {
            throw ForgeError.file(path, "built with embedder \(self.embedder) (dimension \(self.dimension)); "
                + "this run uses \(embedder) (dimension \(dimension)): re-index into a new file")
        }
    }

    /// Opens an existing index, whatever its embedder.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ForgeError.file(path, "no such index") }
        try StoreSchema.check(path)
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(10)
        self.path = path
        queue = try DatabaseQueue(path: path, configuration: configuration)
        let settings = try queue.read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM settings")
                .map { (row: Row) -> (String, String) in (row["key"], row["value"]) })
        }
        guard let embedder = settings["embedder"], let dimension = settings["dimension"].flatMap({ Int($0) }),
              let json = settings["hnsw"], let parameters = try? JSONDecoder().decode(
                  HNSWIndex.Parameters.self, from: Data(json.utf8)), dimension > 0
        else { throw ForgeError.file(path, "a Forge vector index without its settings (embedder, dimension, hnsw)") }
        self.embedder = embedder
        self.dimension = dimension
        self.parameters = parameters
        index = try HNSWIndex(dimension: dimension, parameters: parameters)
        try queue.read { db in try syncIndex(db) }
    }

    /// Builds an empty index under a temporary name and renames it to `path`.
    private static func create(_ path: String, embedder: String, dimension: Int,
                               parameters: HNSWIndex.Parameters) throws {
        _ = try HNSWIndex(dimension: dimension, parameters: parameters)  // validates both
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            var configuration = Configuration()
            configuration.journalMode = .wal
            let queue = try DatabaseQueue(path: temporary, configuration: configuration)
            try queue.write { db in
                try StoreSchema.create(db)
                let hnsw = String(decoding: try JSONEncoder().encode(parameters), as: UTF8.self)
                for (key, value) in [("embedder", embedder), ("dimension", String(dimension)), ("hnsw", hnsw)] {
                    try db.execute(sql: "INSERT INTO settings (key, value) VALUES (?, ?)", arguments: [key, value])
                }
                try db.execute(sql: "INSERT INTO graph_state VALUES (1, NULL, -1, ?, 0)",
                               arguments: [rngData(RNG(seed: parameters.seed))])
            }
            try queue.close()  // checkpoints the WAL into the file and removes it
            guard rename(temporary, path) == 0 else {
                throw ForgeError.file(path, "cannot create: \(String(cString: strerror(errno)))")
            }
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temporary + suffix) }
            throw error
        }
    }

    // MARK: - Reading

    /// Live vectors (one per chunk).
    public var count: Int { index.count }

    /// The k chunks closest to `query` by inner product, best first.
    public func search(_ query: [Float], k: Int, mode: SearchMode = .automatic) throws -> [ChunkHit] {
        guard query.count == dimension else {
            throw ForgeError.file(path, "query has \(query.count) floats; this index holds \(embedder) vectors "
                + "of dimension \(dimension)")
        }
        return try queue.read { db in
            try syncIndex(db)
            let hits: [SearchHit]
            switch mode {
            case .exact: hits = try index.exactSearch(query, k: k)
            case .approximate(let ef): hits = try index.search(query, k: k, ef: ef)
            case .automatic:
                hits = index.count < exactSearchLimit ? try index.exactSearch(query, k: k) : try index.search(query, k: k)
            }
            return try chunks(db, hits)
        }
    }

    private func chunks(_ db: Database, _ hits: [SearchHit]) throws -> [ChunkHit] {
        guard !hits.isEmpty else { return [] }
        let rows = try Row.fetchAll(db, sql: """
            SELECT c.id, c.document_id, c.ordinal, c.text, c.char_start, c.char_end, c.token_start, c.token_end,
                   d.source, d.title
            FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN (\(hits.map { "\($0.id)" }
                .joined(separator: ",")))
            """)
        var byID: [Int64: Row] = [:]
        for row in rows { byID[row["id"]] = row }
        return hits.compactMap { hit in
            guard let row = byID[hit.id] else { return nil }
            let tokenStart: Int? = row["token_start"], tokenEnd: Int? = row["token_end"]
            return ChunkHit(chunkID: hit.id, documentID: row["document_id"], source: row["source"], title: row["title"],
                            ordinal: row["ordinal"], text: row["text"],
                            characters: (row["char_start"] as Int)..<(row["char_end"] as Int),
                            tokens: tokenStart.flatMap { s in tokenEnd.map { s..<$0 } }, score: hit.score)
        }
    }

    /// Every document, by id.
    public func documents() throws -> [StoredDocument] {
        try queue.read { db in try fetchDocuments(db, where: "1", []) }
    }

    /// The document stored under `source`, if any.
    public func document(source: String) throws -> StoredDocument? {
        try queue.read { db in try fetchDocuments(db, where: "d.source = ?", [source]).first }
    }

    private func fetchDocuments(_ db: Database, where condition: String, _ arguments: StatementArguments) throws
        -> [StoredDocument] {
        try Row.fetchAll(db, sql: """
            SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS chunk_count
            FROM documents d WHERE \(condition) ORDER BY d.id
            """, arguments: arguments).map { row in
            let metadata = (row["metadata"] as String?).flatMap {
                try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
            }
            return StoredDocument(id: row["id"], source: row["source"], title: row["title"], metadata: metadata ?? [:],
                                  contentHash: row["content_hash"],
                                  addedAt: Date(timeIntervalSince1970: row["added_at"]), chunkCount: row["chunk_count"])
        }
    }

    // MARK: - Writing

    /// Adds a document with its chunks and vectors, replacing any document with the same source; returns its id.
    @discardableResult
    public func add(_ document: NewDocument) throws -> Int64 {
        for (i, chunk) in document.chunks.enumerated() where chunk.vector.count != dimension {
            throw ForgeError.file(path, "\(document.source): chunk \(i) has a vector of \(chunk.vector.count) floats; "
                + "this index holds \(embedder) vectors of dimension \(dimension)")
        }
        let metadata = String(decoding: try JSONEncoder.sorted.encode(document.metadata), as: UTF8.self)
        return try write { db in
            if let old = try Int64.fetchOne(db, sql: "SELECT id FROM documents WHERE source = ?",
                                            arguments: [document.source]) {
                try deleteDocument(db, old)
            }
            try db.execute(sql: """
                INSERT INTO documents (source, title, metadata, content_hash, added_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [document.source, document.title, metadata, document.contentHash,
                                 Date().timeIntervalSince1970])
            let documentID = db.lastInsertedRowID
            for (ordinal, chunk) in document.chunks.enumerated() {
                try db.cachedStatement(sql: """
                    INSERT INTO chunks (document_id, ordinal, text, char_start, char_end, token_start, token_end)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [documentID, ordinal, chunk.text, chunk.characters.lowerBound,
                                     chunk.characters.upperBound, chunk.tokens?.lowerBound, chunk.tokens?.upperBound])
                let chunkID = db.lastInsertedRowID
                try db.cachedStatement(sql: "INSERT INTO vectors (chunk_id, dimension, vector) VALUES (?, ?, ?)")
                    .execute(arguments: [chunkID, dimension, floatData(chunk.vector)])
                try index.add(id: chunkID, vector: chunk.vector)
            }
            return documentID
        }
    }

    /// Deletes a document with its chunks, vectors and graph nodes; false if there was none.
    @discardableResult
    public func delete(documentID: Int64) throws -> Bool {
        try write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM documents WHERE id = ?", arguments: [documentID]) != nil
            else { return false }
            try deleteDocument(db, documentID)
            return true
        }
    }

    private func deleteDocument(_ db: Database, _ id: Int64) throws {
        for chunk in try Int64.fetchAll(db, sql: "SELECT id FROM chunks WHERE document_id = ?", arguments: [id]) {
            index.remove(id: chunk)
        }
        index.consolidate()
        try db.execute(sql: "DELETE FROM documents WHERE id = ?", arguments: [id])  // cascades to chunks, vectors, nodes
    }

    /// One immediate transaction: `body` changes rows and the in-memory graph, then the graph rows it touched are
    /// written. If anything throws, SQLite rolls back and the graph is read back from the file.
    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    try syncIndex(db)
                    index.startRecording()
                    result = try body(db)
                    try persistGraph(db, changed: index.stopRecording())
                    try beforeCommit?()
                    return .commit
                }
                return result!
            }
        } catch {
            _ = index.stopRecording()
            generation = -1
            try? queue.read { db in try syncIndex(db) }
            throw error
        }
    }

    private func persistGraph(_ db: Database, changed: Set<UInt32>) throws {
        for slot in changed.sorted() {
            if let node = index.record(slot: slot) {
                try db.cachedStatement(sql: """
                    INSERT INTO graph_nodes (slot, chunk_id, level, links) VALUES (?, ?, ?, ?)
                    ON CONFLICT(slot) DO UPDATE SET chunk_id = excluded.chunk_id, level = excluded.level,
                    links = excluded.links
                    """).execute(arguments: [Int64(slot), node.id, node.level, node.links])
            } else {
                try db.cachedStatement(sql: "DELETE FROM graph_nodes WHERE slot = ?").execute(arguments: [Int64(slot)])
            }
        }
        let state = index.state
        generation += 1
        try db.execute(sql: "UPDATE graph_state SET entry_slot = ?, max_level = ?, rng = ?, generation = ?",
                       arguments: [state.entry.map { Int64($0) }, state.maxLevel, rngData(state.rng), generation])
    }

    /// Reloads the graph if the file's generation differs from the one in memory (another process wrote).
    private func syncIndex(_ db: Database) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM graph_state WHERE id = 1") else {
            throw ForgeError.file(path, "a Forge vector index without its graph state")
        }
        let stored: Int64 = row["generation"]
        guard stored != generation else { return }
        let rngBytes: Data = row["rng"]
        guard rngBytes.count == 32 else { throw ForgeError.file(path, "the graph state is damaged") }
        let state = HNSWIndex.GraphState(entry: (row["entry_slot"] as Int64?).map { UInt32($0) },
                                         maxLevel: row["max_level"], rng: rng(rngBytes))
        var nodes: [HNSWIndex.NodeRecord] = []
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT n.slot, n.chunk_id, n.level, n.links, v.vector FROM graph_nodes n
            JOIN vectors v ON v.chunk_id = n.chunk_id ORDER BY n.slot
            """)
        while let node = try cursor.next() {
            nodes.append(HNSWIndex.NodeRecord(slot: UInt32(node["slot"] as Int64), id: node["chunk_id"],
                                              level: node["level"], links: node["links"], vector: floats(node["vector"])))
        }
        let vectorCount = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM vectors") ?? 0
        guard vectorCount == nodes.count else {
            throw ForgeError.file(path, "damaged: \(vectorCount) vectors but \(nodes.count) graph nodes")
        }
        index = try HNSWIndex(dimension: dimension, parameters: parameters, state: state, nodes: nodes, source: path)
        generation = stored
    }
}

private func floatData(_ v: [Float]) -> Data {
    v.withUnsafeBufferPointer { Data(buffer: $0) }
}

private func floats(_ data: Data) -> [Float] {
    data.withUnsafeBytes { raw in (0..<raw.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
}

private func rngData(_ rng: RNG) -> Data {
    var data = Data()
    for word in rng.state { withUnsafeBytes(of: word.littleEndian) { data.append(contentsOf: $0) } }
    return data
}

private func rng(_ data: Data) -> RNG {
    var rng = RNG(seed: 0)
    rng.state = data.withUnsafeBytes { raw in
        (0..<4).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
    }
    return rng
}

extension JSONEncoder {
    fileprivate static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}
