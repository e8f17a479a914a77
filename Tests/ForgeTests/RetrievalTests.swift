// Vector search: exact search against a Float64 reference, HNSW recall at 100k, and the SQLite store's
// transactions, reopening, crash safety and refusal of files that are not intact Forge indexes.
import ForgeCore
@testable import ForgeRetrieval
import Foundation
import Testing

/// Top k of `matrix` rows (n×d) by a Float64 inner product, best first, ties by id: shares no code with ExactSearch.
private func referenceTopK(_ query: [Float], _ matrix: [Float], ids: [Int64], dimension d: Int, k: Int)
    -> [(id: Int64, score: Double)] {
    let scored = ids.indices.map { r in
        (id: ids[r], score: (0..<d).reduce(0.0) { $0 + Double(query[$1]) * Double(matrix[r * d + $1]) })
    }
    return Array(scored.sorted { $0.score > $1.score || ($0.score == $1.score && $0.id < $1.id) }.prefix(k))
}

private func rows(_ flat: [Float], _ d: Int) -> [[Float]] {
    stride(from: 0, to: flat.count, by: d).map { Array(flat[$0..<($0 + d)]) }
}

/// Mean fraction of each exact top-k found by the approximate search.
private func recall(_ approximate: [[SearchHit]], _ exact: [[SearchHit]]) -> Double {
    let found = zip(approximate, exact).map { Set($0.map(\.id)).intersection($1.map(\.id)).count }.reduce(0, +)
    return Double(found) / Double(exact.map(\.count).reduce(0, +))
}

private func fileBytes(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

@Suite struct RetrievalTests {
    @Test func exactSearchMatchesAFloat64Reference() throws {
        var rng = RNG(seed: 7)
        // d = 40 exercises the 32-, 8- and scalar tails of the kernel; 20,000 rows split over the workers.
        for (n, d) in [(20_000, 40), (3_000, 64), (500, 7)] {
            var matrix = (0..<n * d).map { _ in Float(rng.normal()) }
            for r in 0..<n { matrix.replaceSubrange(r * d..<(r + 1) * d, with: normalized(Array(matrix[r * d..<(r + 1) * d]))) }
            // Two exact duplicates: equal scores come back in id order.
            matrix.replaceSubrange(5 * d..<6 * d, with: matrix[3 * d..<4 * d])
            let ids = (0..<Int64(n)).map { 1_000_000 - 7 * $0 }  // ids not in row order
            let search = try ExactSearch(dimension: d, vectors: matrix, ids: ids)
            var queries = (0..<12 * d).map { _ in Float(rng.normal()) }
            queries.replaceSubrange(0..<d, with: matrix[3 * d..<4 * d])  // a query on the duplicated pair
            let batch = try search.search(batch: queries, k: 10)
            for (j, query) in rows(queries, d).enumerated() {
                let expected = referenceTopK(query, matrix, ids: ids, dimension: d, k: 10)
                let single = try search.search(query, k: 10)
                #expect(single.map(\.id) == batch[j].map(\.id), "n \(n) d \(d) query \(j): batch and single differ")
                #expect(single.count == 10)
                for (got, want) in zip(single, expected) {
                    // Same id in the same place, unless Float32 rounding swapped a near-tie of the Float64 scores.
                    let gotScore = expected.first { $0.id == got.id }?.score ?? -.infinity
                    #expect(got.id == want.id || abs(gotScore - want.score) < 1e-6,
                            "n \(n) d \(d) query \(j): \(got.id) where the reference has \(want.id)")
                    #expect(abs(Double(got.score) - want.score) < 1e-5)
                }
            }
            let first = batch[0].prefix(2).map(\.id)
            #expect(first == [ids[5], ids[3]], "duplicates by ascending id: \(first)")
        }
        #expect(throws: ForgeError.self) { try ExactSearch(dimension: 4, vectors: [1, 2, 3]) }
    }

    @Test func hnswRecallAt100kClusteredVectorsAndAfterRemovals() throws {
        let n = 100_000, d = 32, queryCount = 500
        let all = ClusteredVectors.generate(count: n + queryCount, dimension: d, seed: 11)
        let data = Array(all[0..<(n * d)]), queries = Array(all[(n * d)...])
        let index = try HNSWIndex(dimension: d)
        let start = Date()
        for (i, vector) in rows(data, d).enumerated() { try index.add(id: Int64(i), vector: vector) }
        let buildSeconds = Date().timeIntervalSince(start)
        let exact = try ExactSearch(dimension: d, vectors: data)
        let truth = try exact.search(batch: queries, k: 10)
        let before = recall(try index.search(batch: queries, k: 10), truth)
        let narrow = recall(try index.search(batch: queries, k: 10, ef: 16), truth)
        print("HNSW \(n)×\(d), M 16, efConstruction 200: built in \(String(format: "%.1f", buildSeconds)) s; "
            + "recall@10 \(before) at ef 64, \(narrow) at ef 16")
        #expect(index.count == n)
        #expect(before >= 0.95)
        #expect(narrow >= 0.9, "a sound graph is still good with a short candidate list")

        // Remove a random 10%: never returned, and recall against exact search over the rest holds.
        var rng = RNG(seed: 3)
        var removed = Set<Int64>()
        while removed.count < n / 10 { removed.insert(Int64(rng.below(n))) }
        for id in removed { #expect(index.remove(id: id)) }
        #expect(index.count == n - n / 10 && !index.remove(id: removed.first!))
        let rest = try rows(queries, d).map { try index.exactSearch($0, k: 10) }
        #expect(rest.allSatisfy { $0.allSatisfy { !removed.contains($0.id) } })
        let tombstoned = try index.search(batch: queries, k: 10)
        #expect(tombstoned.allSatisfy { $0.allSatisfy { !removed.contains($0.id) } })
        let t = Date()
        index.consolidate()
        let repairSeconds = Date().timeIntervalSince(t)
        let repaired = try index.search(batch: queries, k: 10)
        #expect(repaired.allSatisfy { $0.allSatisfy { !removed.contains($0.id) } })
        print("after removing 10%: recall@10 \(recall(tombstoned, rest)) with tombstones, \(recall(repaired, rest)) "
            + "after repair (\(String(format: "%.1f", repairSeconds)) s)")
        #expect(recall(tombstoned, rest) >= 0.95 && recall(repaired, rest) >= 0.95)
        // Freed slots are reused by new nodes, which are found.
        try index.add(id: -1, vector: Array(queries[0..<d]))
        #expect(try index.search(Array(queries[0..<d]), k: 1).first?.id == -1)
        #expect(index.slotCount == n)
    }

    // MARK: - The store

    /// Three documents of 4, 3 and 5 chunks on distinct clusters, vectors of dimension 16.
    private static func sampleDocuments(dimension d: Int = 16, seed: UInt64 = 5) -> [NewDocument] {
        let vectors = rows(ClusteredVectors.generate(count: 12, dimension: d, clusters: 3, seed: seed), d)
        var next = 0
        return [("notes/a.md", 4), ("notes/b.md", 3), ("notes/c.md", 5)].map { source, n in
            let chunks = (0..<n).map { i -> NewChunk in
                defer { next += 1 }
                return NewChunk(text: "\(source) part \(i)", characters: (i * 100)..<(i * 100 + 100),
                                tokens: i % 2 == 0 ? (i * 20)..<(i * 20 + 20) : nil, vector: vectors[next])
            }
            return NewDocument(source: source, title: "Title of \(source)", metadata: ["lang": "en"], chunks: chunks)
        }
    }

    @Test func storeAddsSearchesDeletesAndReopens() throws {
        let path = temporaryDirectory("store") + "/index.sqlite"
        var store: VectorStore? = try VectorStore(path: path, embedder: "test-embedder", dimension: 16)
        let docs = RetrievalTests.sampleDocuments()
        let ids = try docs.map { try store!.add($0) }
        #expect(store!.count == 12)
        let listed = try store!.documents()
        #expect(listed.map(\.source) == docs.map(\.source) && listed.map(\.chunkCount) == [4, 3, 5])
        #expect(listed[0].metadata == ["lang": "en"] && listed[0].title == "Title of notes/a.md")
        #expect(try store!.document(source: "notes/b.md")?.contentHash == docs[1].contentHash)

        // Each chunk's own vector finds it first, in both modes, with its text and offsets.
        for doc in docs {
            for (i, chunk) in doc.chunks.enumerated() {
                for mode in [SearchMode.exact, .approximate()] {
                    let hit = try #require(try store!.search(chunk.vector, k: 3, mode: mode).first)
                    #expect(hit.source == doc.source && hit.ordinal == i && hit.text == chunk.text)
                    #expect(hit.characters == chunk.characters && hit.tokens == chunk.tokens)
                    #expect(abs(hit.score - 1) < 1e-5)
                }
            }
        }
        // Deleting b: none of its chunks come back, even asking for every chunk.
        #expect(try store!.delete(documentID: ids[1]))
        #expect(try !store!.delete(documentID: ids[1]))
        #expect(store!.count == 9)
        let probes = docs.flatMap { $0.chunks.map(\.vector) }
        for probe in probes {
            for mode in [SearchMode.exact, .approximate()] {
                let hits = try store!.search(probe, k: 12, mode: mode)
                #expect(hits.count == 9 && !hits.contains { $0.source == "notes/b.md" })
            }
        }
        // Re-adding a source replaces it in one step.
        var changed = docs[2]
        changed.chunks.removeLast()
        try store!.add(changed)
        #expect(try store!.documents().map(\.chunkCount) == [4, 4])
        let before = try probes.map { try store!.search($0, k: 5, mode: .approximate()) }
        store = nil

        // Reopened: same results; a different embedder or dimension is refused, naming the file.
        let reopened = try VectorStore(path: path, embedder: "test-embedder", dimension: 16)
        #expect(try probes.map { try reopened.search($0, k: 5, mode: .approximate()) } == before)
        #expect(reopened.embedder == "test-embedder" && reopened.dimension == 16)
        for (embedder, dimension) in [("other-embedder", 16), ("test-embedder", 32)] {
            let error = #expect(throws: ForgeError.self) {
                try VectorStore(path: path, embedder: embedder, dimension: dimension)
            }
            #expect(error?.description.contains(path) == true && error?.description.contains("test-embedder") == true)
        }
        #expect(throws: ForgeError.self) { try reopened.search([1, 2, 3], k: 1) }
    }

    @Test func storeGraphIsPersistedNotRebuilt() throws {
        // 3,000 chunks through HNSW (exact search off), a fifth of the documents deleted: the graph read back gives
        // the same answers as the one in memory, and agrees with exact search.
        let d = 24, path = temporaryDirectory("store-graph") + "/index.sqlite"
        let vectors = rows(ClusteredVectors.generate(count: 3_000, dimension: d, clusters: 20, seed: 9), d)
        let store = try VectorStore(path: path, embedder: "e", dimension: d,
                                    parameters: HNSWIndex.Parameters(m: 8, efConstruction: 64))
        store.exactSearchLimit = 0
        var ids: [Int64] = []
        for doc in 0..<100 {
            let chunks = (0..<30).map { i in
                NewChunk(text: "\(doc)/\(i)", characters: 0..<1, vector: vectors[doc * 30 + i])
            }
            ids.append(try store.add(NewDocument(source: "doc\(doc)", chunks: chunks)))
        }
        for doc in stride(from: 0, to: 100, by: 5) { try store.delete(documentID: ids[doc]) }
        #expect(store.count == 2_400)
        let queries = Array(vectors.prefix(200))
        let approximate = try queries.map { try store.search($0, k: 10) }
        let exact = try queries.map { try store.search($0, k: 10, mode: .exact) }
        let found = zip(approximate, exact).map { Set($0.map(\.chunkID)).intersection($1.map(\.chunkID)).count }
        #expect(Double(found.reduce(0, +)) / 2000 >= 0.95)
        #expect(approximate.allSatisfy { $0.allSatisfy { !$0.source.hasSuffix("0") && !$0.source.hasSuffix("5") } })
        let t = Date()
        let reopened = try VectorStore(path: path)
        print("store of 2,400 vectors (d \(d)) opened with its graph in \(String(format: "%.3f", Date().timeIntervalSince(t))) s")
        reopened.exactSearchLimit = 0
        #expect(try queries.map { try reopened.search($0, k: 10) } == approximate)
    }

    @Test func aFailedWriteLeavesThePreviousState() throws {
        let path = temporaryDirectory("store-rollback") + "/index.sqlite"
        let store = try VectorStore(path: path, embedder: "e", dimension: 16)
        let docs = RetrievalTests.sampleDocuments()
        try store.add(docs[0])
        try store.add(docs[1])
        let probes = docs.flatMap { $0.chunks.map(\.vector) }
        let before = try probes.map { try store.search($0, k: 5, mode: .approximate()) }
        struct Boom: Error {}
        store.beforeCommit = { throw Boom() }
        #expect(throws: Boom.self) { try store.add(docs[2]) }
        #expect(throws: Boom.self) { try store.delete(documentID: 1) }
        store.beforeCommit = nil
        #expect(store.count == 7)
        #expect(try probes.map { try store.search($0, k: 5, mode: .approximate()) } == before)
        #expect(try VectorStore(path: path).documents().map(\.source) == ["notes/a.md", "notes/b.md"])
        try store.add(docs[2])  // and the store still works
        #expect(store.count == 12)
    }

    /// Run only as the child of `aKilledWriterLeavesThePreviousState`: adds a document and stops inside the transaction.
    @Test func childWriterStopsMidTransaction() throws {
        guard let path = ProcessInfo.processInfo.environment["FORGE_RETRIEVAL_CRASH_CHILD"] else { return }
        let store = try VectorStore(path: path)
        store.beforeCommit = {
            FileHandle.standardOutput.write(Data("in-transaction\n".utf8))
            sleep(600)
        }
        try store.add(RetrievalTests.sampleDocuments()[2])
    }

    @Test func aKilledWriterLeavesThePreviousState() throws {
        let path = temporaryDirectory("store-kill") + "/index.sqlite"
        let docs = RetrievalTests.sampleDocuments()
        var store: VectorStore? = try VectorStore(path: path, embedder: "e", dimension: 16)
        try store!.add(docs[0])
        try store!.add(docs[1])
        let probes = docs.flatMap { $0.chunks.map(\.vector) }
        let before = try probes.map { try store!.search($0, k: 5, mode: .approximate()) }
        store = nil

        // This test binary again, running only the child test, killed with SIGKILL while its write is open.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = ["--testing-library", "swift-testing", "--filter", "childWriterStopsMidTransaction"]
        child.environment = ProcessInfo.processInfo.environment.merging(["FORGE_RETRIEVAL_CRASH_CHILD": path]) { $1 }
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = FileHandle.nullDevice
        try child.run()
        var output = Data()
        while !String(decoding: output, as: UTF8.self).contains("in-transaction") {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            output += chunk
        }
        #expect(String(decoding: output, as: UTF8.self).contains("in-transaction"), "the child never reached its write")
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)

        let reopened = try VectorStore(path: path, embedder: "e", dimension: 16)
        #expect(try reopened.documents().map(\.source) == ["notes/a.md", "notes/b.md"])
        #expect(reopened.count == 7)
        #expect(try probes.map { try reopened.search($0, k: 5, mode: .approximate()) } == before)
    }

    @Test func filesThatAreNotIntactIndexesAreRefusedUntouched() throws {
        let dir = temporaryDirectory("store-refuse")
        let good = dir + "/good.sqlite"
        let store = try VectorStore(path: good, embedder: "e", dimension: 16)
        for doc in RetrievalTests.sampleDocuments() { try store.add(doc) }
        var rng = RNG(seed: 1)
        var cases: [(name: String, bytes: Data)] = []
        cases.append(("random.sqlite", Data((0..<8192).map { _ in UInt8(truncatingIfNeeded: rng.next()) })))
        cases.append(("empty.sqlite", Data()))
        let intact = fileBytes(good)
        #expect(intact.count >= 4 * 4096)
        cases.append(("truncated.sqlite", intact.prefix(intact.count / 2 + 100)))
        var damaged = intact
        for i in 4096..<(3 * 4096) { damaged[i] = UInt8(truncatingIfNeeded: rng.next()) }  // pages 2 and 3
        cases.append(("damaged.sqlite", damaged))
        for (name, bytes) in cases { try bytes.write(to: URL(fileURLWithPath: dir + "/" + name)) }
        // A SQLite database of something else (no application_id) and an index of another schema version.
        var plain = intact, newer = intact
        plain.replaceSubrange(68..<72, with: [0, 0, 0, 0])
        newer.replaceSubrange(60..<64, with: [0, 0, 0, 99])
        try plain.write(to: URL(fileURLWithPath: dir + "/plain.sqlite"))
        try newer.write(to: URL(fileURLWithPath: dir + "/newer.sqlite"))

        for name in cases.map(\.name) + ["plain.sqlite", "newer.sqlite"] {
            let path = dir + "/" + name
            let bytes = fileBytes(path)
            let error = #expect(throws: ForgeError.self, "\(name) was accepted") {
                try VectorStore(path: path, embedder: "e", dimension: 16)
            }
            print("\(name): \(error?.description ?? "no error")")
            #expect(error?.description.hasPrefix(path) == true)
            #expect(fileBytes(path) == bytes, "\(name) was modified")
            #expect(!FileManager.default.fileExists(atPath: path + "-wal") && !FileManager.default.fileExists(atPath: path + "-shm"))
        }
        #expect(throws: ForgeError.self) { try VectorStore(path: dir + "/missing.sqlite") }
    }
}
