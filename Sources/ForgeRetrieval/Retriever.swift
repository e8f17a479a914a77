// Retriever: a question embedded with the index's encoder and answered by its nearest chunks, labelled with their
// document and section for citations.
import ForgeCore
import ForgeModels
import Foundation

/// Top-k chunks for a question from a VectorStore.
public final class Retriever {
    public let store: VectorStore
    public let encoder: SentenceEncoder

    /// Opens the index at `path` with the encoder dir it was built with (or `embedder`, when given).
    public convenience init(index path: String, embedder: String? = nil) throws {
        let store = try VectorStore(path: path)
        try self.init(store: store, encoder: try SentenceEncoder(modelDir: embedder ?? store.embedder))
    }

    /// Opens `store` with `encoder` (the store names the encoder dir it was built with; widths must agree).
    public init(store: VectorStore, encoder: SentenceEncoder) throws {
        guard store.dimension == encoder.dimension else {
            throw ForgeError.file(store.path, "was built with embedder '\(store.embedder)' (\(store.dimension) dims), not '\(encoder.name)' (\(encoder.dimension))")
        }
        (self.store, self.encoder) = (store, encoder)
    }

    /// The `k` nearest chunks to `question`.
    public func search(_ question: String, k: Int) throws -> [ChunkHit] {
        try store.search(encoder.embed([question])[0], k: k)
    }

    /// The prompt for `question` grounded in its `k` nearest chunks, numbered 1...k.
    public func prompt(_ question: String, k: Int) throws -> (prompt: GroundedPrompt, hits: [ChunkHit]) {
        let hits = try search(question, k: k)
        let sources = try hits.enumerated().map { n, h in
            GroundedPrompt.Source(number: n + 1, label: try label(h), text: h.text)
        }
        return (GroundedPrompt(question: question, sources: sources), hits)
    }

    /// "path § Section" for a chunk (the section from the document's metadata, when it has one).
    public func label(_ hit: ChunkHit) throws -> String {
        guard let doc = try store.document(source: hit.source), let json = doc.metadata["sections"],
              let sections = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String],
              hit.ordinal < sections.count, !sections[hit.ordinal].isEmpty else { return hit.source }
        return hit.source + " § " + sections[hit.ordinal]
    }
}
