// RAGIndexer: a folder of documents (txt, md, rst, html) into a VectorStore: each file read as text (HTML headings
// kept as Markdown headings), cut into token windows with overlap, embedded with a sentence encoder, and stored
// with its content hash. Re-indexing skips unchanged files, replaces changed ones and drops deleted ones.
import ForgeCore
import ForgeData
import ForgeModels
import Foundation

/// Builds and updates a retrieval index from files.
public struct RAGIndexer {
    public let encoder: SentenceEncoder
    public let chunker: DocumentChunker
    /// File extensions read (lowercase, no dot).
    public static let extensions: Set<String> = ["txt", "md", "markdown", "rst", "html", "htm"]

    public init(encoder: SentenceEncoder, chunker: DocumentChunker) { (self.encoder, self.chunker) = (encoder, chunker) }

    /// What an indexing pass did.
    public struct Report: Sendable {
        public var added = 0, replaced = 0, unchanged = 0, removed = 0, chunks = 0
    }

    /// Indexes every document file under `root` into `store`; `progress` receives (files done, files total).
    public func index(_ root: String, into store: VectorStore, progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        let files = try Self.files(root)
        guard !files.isEmpty else { throw ForgeError.file(root, "holds no .txt, .md, .rst or .html files") }
        var report = Report()
        let seen = Set(files.map(\.relative))
        for (n, f) in files.enumerated() {
            let text = try Self.read(f.path)
            let hash = Self.hash(text)
            if let old = try store.document(source: f.relative) {
                if old.contentHash == hash { report.unchanged += 1; progress(n + 1, files.count); continue }
                _ = try store.delete(documentID: old.id)
                report.replaced += 1
            } else {
                report.added += 1
            }
            let document = try makeDocument(text, source: f.relative, hash: hash)
            report.chunks += document.chunks.count
            _ = try store.add(document)
            progress(n + 1, files.count)
        }
        for d in try store.documents() where !seen.contains(d.source) {
            _ = try store.delete(documentID: d.id)
            report.removed += 1
        }
        return report
    }

    /// A document's chunks, embedded; the sections each chunk starts under go in the metadata ("sections", JSON).
    public func makeDocument(_ text: String, source: String, hash: String) throws -> NewDocument {
        let tokenizer = encoder.tokenizer
        let chunks = chunker.chunks(text) { tokenizer.encode(String($0)).count }
        let vectors = encoder.embed(chunks.map { c in c.section.map { $0 + "\n" + c.text } ?? c.text })
        let sections = chunks.map { $0.section ?? "" }
        let sectionsJSON = String(decoding: try JSONSerialization.data(withJSONObject: sections), as: UTF8.self)
        let title = DocumentChunker.headings(Array(text.unicodeScalars)).first?.title ?? URL(fileURLWithPath: source).lastPathComponent
        return NewDocument(source: source, title: title, metadata: ["sections": sectionsJSON], contentHash: hash,
                           chunks: zip(chunks, vectors).map { NewChunk(text: $0.text, characters: $0.characters, tokens: $0.tokens, vector: $1) })
    }

    /// Document files under `root` (or `root` itself), sorted, with paths relative to `root`.
    public static func files(_ root: String) throws -> [(path: String, relative: String)] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else { throw ForgeError.file(root, "no such file or directory") }
        if !isDir.boolValue { return [(root, URL(fileURLWithPath: root).lastPathComponent)] }
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw ForgeError.file(root, "cannot be listed") }
        var out: [(String, String)] = []
        while let rel = walker.nextObject() as? String {
            if extensions.contains(URL(fileURLWithPath: rel).pathExtension.lowercased()) { out.append((root + "/" + rel, rel)) }
        }
        return out.sorted { $0.1 < $1.1 }
    }

    /// A file as plain text; HTML loses its markup but keeps h1–h6 as Markdown headings (permalink ¶ marks dropped).
    public static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
        let text = String(decoding: data, as: UTF8.self)
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        guard ext == "html" || ext == "htm" else { return text }
        let marked = text.replacingOccurrences(of: "<h([1-6])([^>]*)>", with: "<h$1$2>\n## ", options: [.regularExpression, .caseInsensitive])
        return HTMLText.toText(marked).replacingOccurrences(of: "¶", with: "")
    }

    /// FNV-1a of the text, hex (changes when the file's text does).
    static func hash(_ text: String) -> String {
        var h = FNV1a64()
        Array(text.utf8).withUnsafeBytes { h.update($0) }
        return String(h.value, radix: 16)
    }
}
