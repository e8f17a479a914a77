// RAG: chunking by tokens (counts exact against the WordPiece tokenizer), sections, incremental indexing of a folder,
// retrieval of the right section, citations read from answers, and a damaged index refused without being touched.
import Foundation
import Testing
@testable import ForgeCore
@testable import ForgeModels
@testable import ForgeRetrieval
@testable import ForgeTokenizer

@Suite struct RAGTests {
    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func chunksHaveExactTokenCountsAndOverlap() throws {
        let t = try WordPieceTokenizer.load(modelDir: miniLMPath!)
        let f = try MiniLMFixture.load()
        let text = "# First part\n" + f.texts[300..<330].joined(separator: "\n") + "\n\nSecond part\n===========\n" + f.texts[330..<360].joined(separator: " ")
        let chunker = try DocumentChunker(maxTokens: 64, overlap: 16)
        let chunks = chunker.chunks(text) { t.encode(String($0)).count }
        #expect(chunks.count > 4)
        let scalars = Array(text.unicodeScalars)
        for (n, c) in chunks.enumerated() {
            // The stored token range is what the tokenizer makes of the chunk's text, and the text is the document's slice.
            #expect(t.encode(c.text).count == c.tokens.count, "chunk \(n)")
            #expect(c.tokens.count <= 64)
            #expect(String(String.UnicodeScalarView(scalars[c.characters])) == c.text)
            if n > 0 && chunks[n - 1].section == c.section {
                let shared = chunks[n - 1].tokens.upperBound - c.tokens.lowerBound
                #expect(shared > 0 && shared <= 16, "chunk \(n) overlaps its predecessor by \(shared) tokens")
            }
        }
        #expect(chunks.first?.section == "First part" && chunks.last?.section == "Second part")
        // No chunk spans the heading: the first chunk of the second part starts at it.
        let second = try #require(chunks.firstIndex { $0.section == "Second part" })
        #expect(chunks[second].text.hasPrefix("Second part"))
        #expect(throws: ForgeError.self) { try DocumentChunker(maxTokens: 10, overlap: 10) }
    }

    @Test func citationsAreReadFromAnswers() {
        let p = GroundedPrompt(question: "q", sources: (1...4).map { .init(number: $0, label: "s\($0)", text: "t") })
        #expect(p.citations(in: "Prune in winter [2]. Also [1, 3] and [9] and [2][4].") == [2, 1, 3, 4])
        #expect(p.citations(in: "no citations") == [])
        #expect(p.message.contains("[3] s3\nt") && p.message.hasSuffix("Question: q"))
    }

    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func folderIndexIsIncrementalAndFindsTheSection() throws {
        let dir = temporaryDirectory("rag")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/docs/sub", withIntermediateDirectories: true)
        try "# Garden\n\n## Tomatoes\nTomatoes need full sun and water every day.\n\n## Roses\nPrune roses in late winter before new growth starts.\n"
            .write(toFile: dir + "/docs/garden.md", atomically: true, encoding: .utf8)
        try "Sky\n===\n\nThe Moon\n--------\nThe Moon orbits the Earth every 27.3 days.\n".write(toFile: dir + "/docs/sub/sky.rst", atomically: true, encoding: .utf8)
        try "<html><head><title>x</title><style>p{}</style></head><body><h1>Kitchen<a class=\"headerlink\">¶</a></h1><p>Bread rises when yeast ferments sugar.</p></body></html>"
            .write(toFile: dir + "/docs/kitchen.html", atomically: true, encoding: .utf8)
        try "ignored".write(toFile: dir + "/docs/data.bin", atomically: true, encoding: .utf8)
        let encoder = try SentenceEncoder(modelDir: miniLMPath!)
        let indexer = RAGIndexer(encoder: encoder, chunker: try DocumentChunker(maxTokens: 64, overlap: 8))
        let path = dir + "/index.db"
        var store = try VectorStore(path: path, embedder: miniLMPath!, dimension: encoder.dimension)
        let first = try indexer.index(dir + "/docs", into: store)
        #expect(first.added == 3 && first.unchanged == 0)
        let retriever = try Retriever(store: store, encoder: encoder)
        let hits = try retriever.search("When do I cut back my roses?", k: 3)
        #expect(try retriever.label(hits[0]) == "garden.md § Roses")
        #expect(try retriever.label(try retriever.search("how does dough rise?", k: 1)[0]) == "kitchen.html § Kitchen")
        // Again: nothing changes. Edit one file and delete another: one re-embedded, one removed, from a reopened store.
        #expect(try indexer.index(dir + "/docs", into: store).unchanged == 3)
        try "# Garden\n\n## Roses\nRoses are pruned in March.\n".write(toFile: dir + "/docs/garden.md", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir + "/docs/sub/sky.rst")
        store = try VectorStore(path: path)
        let again = try indexer.index(dir + "/docs", into: store)
        #expect(again.replaced == 1 && again.removed == 1 && again.unchanged == 1)
        #expect(try store.documents().map(\.source).sorted() == ["garden.md", "kitchen.html"])
        let after = try Retriever(store: store, encoder: encoder).search("The Moon orbits the Earth", k: 5)
        #expect(!after.contains { $0.source.hasSuffix("sky.rst") })
        #expect(after.contains { $0.text.contains("March") })
    }

    @Test func damagedIndexIsRefusedAndLeftAlone() throws {
        let dir = temporaryDirectory("rag-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.db"
        let bytes = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { try VectorStore(path: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    }

    /// `forge serve --rag`: a chat is answered from the index; the numbered sources it was given come back in the
    /// Forge-Sources header, nearest first.
    @Test(.enabled(if: miniLMPath != nil, miniLMMissing))
    func serverAnswersFromTheIndex() async throws {
        let dir = temporaryDirectory("rag-serve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/docs", withIntermediateDirectories: true)
        try "# Garden\n\n## Roses\nPrune roses in late winter.\n\n## Tomatoes\nTomatoes need sun.\n".write(toFile: dir + "/docs/g.md", atomically: true, encoding: .utf8)
        let encoder = try SentenceEncoder(modelDir: miniLMPath!)
        let store = try VectorStore(path: dir + "/i.db", embedder: miniLMPath!, dimension: encoder.dimension)
        _ = try RAGIndexer(encoder: encoder, chunker: try DocumentChunker(maxTokens: 64, overlap: 8)).index(dir + "/docs", into: store)
        let server = try ServerProcess(["--model", smolLM2Path, "--name", "smollm2", "--rag", dir + "/i.db", "--rag-k", "2", "--context", "1024"])
        let body = try JSONSerialization.data(withJSONObject: ["model": "smollm2", "max_tokens": 8, "temperature": 0,
                                                               "messages": [["role": "user", "content": "When should roses be pruned?"]]])
        let (status, headers, data) = try await http("POST", server.base + "/v1/chat/completions", body: body, headers: ["Content-Type": "application/json"])
        #expect(status == 200)
        let sources = try JSONSerialization.jsonObject(with: Data((headers["forge-sources"] ?? "[]").utf8)) as? [String]
        #expect(sources?.first == "g.md § Roses" && sources?.count == 2, "\(headers)")
        let usage = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["usage"] as? [String: Any]
        #expect((usage?["prompt_tokens"] as? Int ?? 0) > 40, "the prompt carries the sources")
        #expect(server.stop() == 0)
    }
}
