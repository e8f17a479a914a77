// DataPipeline: runs the stages over every source and accounts for every document.
//
// read → clean → quality → toxicity → PII scrub → exact dedup → near dedup → mixing → split → JSONL shards.
// Per-document stages run on all workers over batches of documents; the order-dependent ones (dedup,
// mixing, writing) run in input order, so a run is deterministic. Every input document gets one line in
// manifest.jsonl: where it went, or the stage and reason that removed it.
//
// Under mpirun the input files are shared out between the ranks (file i to rank i mod N), each rank reads its
// files and runs the per-document stages, and rank 0 gathers the results (exact-dedup keys, MinHash
// signatures and the cleaned texts) and runs the order-dependent stages over all files in input order, so the
// output is byte for byte the one-process run's.
import ForgeCore
import ForgeDistributed
import Foundation
import Synchronization

/// Counts for one stage.
public struct StageCount: Codable, Sendable, Equatable {
    public var stage: String
    public var documentsIn = 0, documentsRemoved = 0
    public var bytesIn = 0, bytesRemoved = 0
    enum CodingKeys: String, CodingKey { case stage, documentsIn = "documents_in", documentsRemoved = "documents_removed", bytesIn = "bytes_in", bytesRemoved = "bytes_removed" }
}

/// What a run did.
public struct DataSummary: Codable, Sendable {
    public var inputDocuments = 0, inputBytes = 0
    public var stages: [StageCount] = []
    public var trainDocuments = 0, validationDocuments = 0
    public var trainBytes = 0, validationBytes = 0
    public var outputWrites = 0
    public var removedDocuments = 0
    public var piiReplacements: [String: Int] = [:]
    public var nearDuplicateClusters = 0
    public var shards: [String] = []
    public var seconds = 0.0

    enum CodingKeys: String, CodingKey {
        case inputDocuments = "input_documents", inputBytes = "input_bytes", stages, trainDocuments = "train_documents",
             validationDocuments = "validation_documents", trainBytes = "train_bytes", validationBytes = "validation_bytes",
             outputWrites = "output_writes", removedDocuments = "removed_documents", piiReplacements = "pii_replacements",
             nearDuplicateClusters = "near_duplicate_clusters", shards, seconds
    }

    /// The stage table as Markdown.
    public var table: String {
        var s = "| stage | documents in | removed | bytes in | bytes removed |\n|---|---|---|---|---|\n"
        for st in stages { s += "| \(st.stage) | \(st.documentsIn) | \(st.documentsRemoved) | \(st.bytesIn) | \(st.bytesRemoved) |\n" }
        s += "| **kept** | | train \(trainDocuments), validation \(validationDocuments) | | train \(trainBytes) B, validation \(validationBytes) B |\n"
        return s
    }
}

/// One manifest line.
struct ManifestEntry: Encodable {
    var id: String
    var source: String
    var bytes: Int
    var status: String
    var stage: String?
    var reason: String?
    var duplicateOf: String?
    var similarity: Double?
    var split: String?
    var shard: String?
    var copies: Int?
    enum CodingKeys: String, CodingKey { case id, source, bytes, status, stage, reason, duplicateOf = "duplicate_of", similarity, split, shard, copies }
}

public final class DataPipeline {
    public let config: PipelineConfig
    public var progress: ((String) -> Void)?

    /// A scorer in place of the word list (the trained classifier, `toxicity.classifier`), with its threshold: documents
    /// scoring at or above it are removed.
    public var toxicityScorer: (scorer: any ToxicityScorer, threshold: Double, name: String)?

    /// The job's ranks (one process unless started by mpirun); rank 0 writes the output.
    public var world: any Communicator = SingleProcess()

    public init(config: PipelineConfig) { self.config = config }

    static let stageNames = ["read", "clean", "quality", "toxicity", "exact_dedup", "near_dedup", "mixing"]

    /// Runs the pipeline; the summary is also written to OUTPUT/summary.json and summary.md.
    @discardableResult
    public func run() throws -> DataSummary {
        let start = Date()
        let c = config
        try FileManager.default.createDirectory(atPath: c.output, withIntermediateDirectories: true)
        let scorer: ToxicityScorer?, removes: (Double) -> Bool, scorerName: String
        if c.toxicity.enabled, let injected = toxicityScorer {
            (scorer, scorerName) = (injected.scorer, injected.name)
            removes = { $0 >= injected.threshold }
        } else {
            scorer = c.toxicity.enabled ? try WordListScorer.load(c.toxicity.wordList) : nil
            scorerName = "word-list"
            removes = { [threshold = c.toxicity.threshold] in $0 > threshold }
        }
        let toxicityThreshold = toxicityScorer?.threshold ?? c.toxicity.threshold
        let hasher = c.nearDedup.enabled ? MinHasher(c.nearDedup) : nil
        var exact = ExactDeduplicator()
        var near = NearDeduplicator(c.nearDedup)
        var summary = DataSummary()
        var counts = Dictionary(uniqueKeysWithValues: Self.stageNames.map { ($0, StageCount(stage: $0)) })
        // Only rank 0 writes (the other ranks of a distributed run send it their results).
        let manifest: JSONLWriter? = world.isRoot ? try JSONLWriter(path: c.output + "/manifest.jsonl") : nil
        let writers = ShardWriters(dir: c.output, shardDocuments: c.shardDocuments)
        var seenIds = Set<String>()
        var manifestIds = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]

        func record(_ e: ManifestEntry) throws {
            try manifest!.write(String(decoding: try encoder.encode(e), as: UTF8.self))
            manifestIds += 1
        }
        func removed(_ stage: String, _ doc: (id: String, source: String, bytes: Int), _ reason: String, dup: String? = nil, sim: Double? = nil) throws {
            counts[stage]!.documentsRemoved += 1
            counts[stage]!.bytesRemoved += doc.bytes
            summary.removedDocuments += 1
            try record(ManifestEntry(id: doc.id, source: doc.source, bytes: doc.bytes, status: "removed", stage: stage, reason: reason,
                                     duplicateOf: dup, similarity: sim.map { ($0 * 1000).rounded() / 1000 }))
        }
        func countIn(_ stages: [String], _ bytes: Int) {
            for s in stages { counts[s]!.documentsIn += 1; counts[s]!.bytesIn += bytes }
        }

        /// The per-document work done in parallel.
        struct Processed {
            var doc: Document
            var text = ""
            var failure: (stage: String, reason: String)?
            var exactKey: (UInt64, UInt64) = (0, 0)
            var signature: [UInt32] = []
            var pii: [String: Int] = [:]
        }
        func process(_ doc: Document) -> Processed {
            var p = Processed(doc: doc)
            let text = TextCleaner.clean(doc.text, isHTML: doc.isHTML, options: c.clean)
            if text.isEmpty { p.failure = ("clean", "empty after cleaning"); return p }
            if let r = QualityFilter.check(text, c.quality) { p.failure = ("quality", r); return p }
            if let scorer {
                let (score, matches) = scorer.score(text)
                if removes(score) {
                    let shown = Array(Set(matches)).sorted().prefix(5).joined(separator: ", ")
                    p.failure = ("toxicity", String(format: "%@ score %.4f over %.4f (%d matches: %@)", scorerName, score, toxicityThreshold,
                                                    matches.count, shown))
                    return p
                }
            }
            let (scrubbed, piiCounts) = PIIScrubber.scrub(text, c.pii)
            p.text = scrubbed
            p.pii = piiCounts
            if c.exactDedup.enabled { p.exactKey = ExactDeduplicator.key(scrubbed) }
            if let hasher { p.signature = hasher.signature(scrubbed) }
            return p
        }

        func processAll(_ docs: [Document]) -> [Processed] {
            var results = [Processed?](repeating: nil, count: docs.count)
            let next = Atomic<Int>(0)
            results.withUnsafeMutableBufferPointer { res in
                Parallel.forEachTask(Parallel.threads) { _ in
                    while true {
                        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard i < docs.count else { break }
                        res[i] = process(docs[i])
                    }
                }
            }
            return results.map { $0! }
        }

        /// An input's unique id (ids must be unique for the accounting to mean anything), counted as read.
        func admit(_ original: String, bytes: Int) -> String {
            var id = original, k = 2
            while !seenIds.insert(id).inserted { id = original + "~\(k)"; k += 1 }
            summary.inputDocuments += 1
            summary.inputBytes += bytes
            countIn(["read"], bytes)
            return id
        }

        var batch: [Document] = []
        var batchBytes = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            try decide(processAll(batch))
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
        }

        /// The order-dependent stages over processed documents, in input order.
        func decide(_ results: [Processed]) throws {
            for p in results {
                let d = (id: p.doc.id, source: p.doc.source, bytes: p.doc.inputBytes)
                // A document enters each stage up to the one that removes it.
                func enter(through stage: String) {
                    let order = Self.stageNames.dropFirst()
                    countIn(Array(order.prefix(through: order.firstIndex(of: stage)!)), d.bytes)
                }
                if let f = p.failure {
                    enter(through: f.stage)
                    try removed(f.stage, d, f.reason)
                    continue
                }
                enter(through: "exact_dedup")
                for (k, v) in p.pii { summary.piiReplacements[k, default: 0] += v }
                if c.exactDedup.enabled, let first = exact.check(id: d.id, key: p.exactKey) {
                    try removed("exact_dedup", d, "same content as \(first)", dup: first)
                    continue
                }
                countIn(["near_dedup"], d.bytes)
                if c.nearDedup.enabled, let (first, sim) = near.add(id: d.id, signature: p.signature) {
                    try removed("near_dedup", d, String(format: "near duplicate of %@ (estimated Jaccard %.3f)", first, sim), dup: first, sim: sim)
                    continue
                }
                countIn(["mixing"], d.bytes)
                let weight = c.sources.first { $0.name == d.source }?.weight ?? 1
                let u = Double(ExactDeduplicator.key("mix:" + d.id).0 >> 11) * 0x1.0p-53
                let copies = Int(weight) + (u < weight - Double(Int(weight)) ? 1 : 0)
                if copies == 0 {
                    try removed("mixing", d, String(format: "sampled out (source weight %.3g)", weight))
                    continue
                }
                let isVal = c.validationIdsContaining.isEmpty
                    ? Double(ExactDeduplicator.key("split:" + d.id).1 >> 11) * 0x1.0p-53 < c.validationFraction
                    : c.validationIdsContaining.contains { d.id.contains($0) }
                let split = isVal ? "val" : "train"
                var shard = ""
                for _ in 0..<copies { shard = try writers.write(split: split, id: d.id, source: d.source, text: p.text) }
                summary.outputWrites += copies
                if isVal { summary.validationDocuments += 1; summary.validationBytes += p.text.utf8.count }
                else { summary.trainDocuments += 1; summary.trainBytes += p.text.utf8.count }
                try record(ManifestEntry(id: d.id, source: d.source, bytes: d.bytes, status: "kept", split: split, shard: shard,
                                         copies: copies == 1 ? nil : copies))
            }
            progress?(String(format: "data: %d documents read, %.1f MB, %d kept, %d removed", summary.inputDocuments,
                             Double(summary.inputBytes) / 1e6, summary.trainDocuments + summary.validationDocuments, summary.removedDocuments))
        }

        let reader = DocumentReader()
        var units: [(path: String, relative: String, source: SourceConfig)] = []
        for source in c.sources { for (path, rel) in try DocumentReader.files(source.paths) { units.append((path, rel, source)) } }
        if world.size == 1 {
            for unit in units {
                try reader.read(path: unit.path, relative: unit.relative, source: unit.source.name, textField: unit.source.textField) { item in
                    switch item {
                    case .document(var d):
                        d.id = admit(d.id, bytes: d.inputBytes)
                        batch.append(d)
                        batchBytes += d.inputBytes
                        if batch.count >= 256 || batchBytes >= 64 << 20 { try flush() }
                    case .rejected(let r):
                        try removed("read", (admit(r.id, bytes: r.bytes), r.source, r.bytes), r.reason)
                    }
                }
            }
            try flush()
        } else {
            // Each rank reads and processes its share of the files; rank 0 decides over all of them in input order.
            var mine: [DistributedItem] = []
            for (u, unit) in units.enumerated() where u % world.size == world.rank {
                var docs: [Document] = []
                var items: [DistributedItem] = []
                try reader.read(path: unit.path, relative: unit.relative, source: unit.source.name, textField: unit.source.textField) { item in
                    switch item {
                    case .document(let d):
                        docs.append(d)
                        items.append(DistributedItem(unit: u, id: d.id, source: d.source, bytes: d.inputBytes))
                    case .rejected(let r):
                        items.append(DistributedItem(unit: u, id: r.id, source: r.source, bytes: r.bytes, rejected: r.reason))
                    }
                }
                var processed = processAll(docs).makeIterator()
                for var item in items {
                    if item.rejected == nil, let p = processed.next() {
                        item.failureStage = p.failure?.stage
                        item.failureReason = p.failure?.reason
                        item.text = p.text
                        item.exactKey = [p.exactKey.0, p.exactKey.1]
                        item.signature = p.signature
                        item.pii = p.pii
                    }
                    mine.append(item)
                }
                progress?("data: rank \(world.rank) read \(unit.relative) (\(items.count) documents)")
            }
            let gathered = world.gather(Array(try JSONEncoder().encode(mine)), root: 0)
            guard world.isRoot else {
                var s = DataSummary()
                s.seconds = Date().timeIntervalSince(start)
                return s
            }
            var byUnit = [[DistributedItem]](repeating: [], count: units.count)
            for payload in gathered {
                for item in try JSONDecoder().decode([DistributedItem].self, from: Data(payload)) { byUnit[item.unit].append(item) }
            }
            // The same batches as one process makes (read rejections recorded at once, documents in batches).
            var pending: [Processed] = [], pendingBytes = 0
            for items in byUnit {
                for item in items {
                    let id = admit(item.id, bytes: item.bytes)
                    if let reason = item.rejected {
                        try removed("read", (id, item.source, item.bytes), reason)
                        continue
                    }
                    var p = Processed(doc: Document(id: id, source: item.source, text: "", inputBytes: item.bytes, isHTML: false))
                    p.text = item.text ?? ""
                    if let stage = item.failureStage { p.failure = (stage, item.failureReason ?? "") }
                    if let k = item.exactKey, k.count == 2 { p.exactKey = (k[0], k[1]) }
                    p.signature = item.signature ?? []
                    p.pii = item.pii ?? [:]
                    pending.append(p)
                    pendingBytes += item.bytes
                    if pending.count >= 256 || pendingBytes >= 64 << 20 { try decide(pending); pending = []; pendingBytes = 0 }
                }
            }
            try decide(pending)
        }
        summary.shards = try writers.finish()
        try manifest?.close()

        // Near-duplicate clusters.
        let clusters = near.clusters()
        summary.nearDuplicateClusters = clusters.count
        let clusterLines = clusters.map { cl -> String in
            let obj: [String: Any] = ["kept": cl.kept, "removed": cl.removed]
            return String(decoding: try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        }
        try AtomicFile.write(c.output + "/clusters.jsonl", string: clusterLines.map { $0 + "\n" }.joined())

        summary.stages = Self.stageNames.map { counts[$0]! }
        summary.seconds = Date().timeIntervalSince(start)
        // Accounting: every input document is either kept or removed, exactly once.
        let kept = summary.trainDocuments + summary.validationDocuments
        guard kept + summary.removedDocuments == summary.inputDocuments, manifestIds == summary.inputDocuments else {
            throw ForgeError("accounting error: \(summary.inputDocuments) documents in, \(kept) kept + \(summary.removedDocuments) removed, \(manifestIds) manifest lines")
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(c.output + "/summary.json", data: try enc.encode(summary))
        try AtomicFile.write(c.output + "/summary.md", string: summary.table)
        return summary
    }
}

/// Appends lines to a file, written whole at close (atomic).
final class JSONLWriter {
    let path: String
    let tmp: String
    let handle: FileHandle
    var buffer = Data()

    init(path: String) throws {
        self.path = path
        tmp = path + ".partial"
        _ = FileManager.default.createFile(atPath: tmp, contents: nil)
        guard let h = FileHandle(forWritingAtPath: tmp) else { throw ForgeError.file(path, "cannot be created") }
        handle = h
    }

    func write(_ line: String) throws {
        buffer.append(contentsOf: Array(line.utf8))
        buffer.append(10)
        if buffer.count > 1 << 20 { try handle.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
    }

    func close() throws {
        try handle.write(contentsOf: buffer)
        try handle.synchronize()
        try handle.close()
        guard rename(tmp, path) == 0 else { throw ForgeError.file(path, "rename failed") }
    }
}

/// JSONL output shards per split, rotated every `shardDocuments` documents.
final class ShardWriters {
    let dir: String
    let shardDocuments: Int
    var open: [String: (writer: JSONLWriter, name: String, count: Int, index: Int)] = [:]
    var done: [String] = []

    init(dir: String, shardDocuments: Int) {
        self.dir = dir
        self.shardDocuments = shardDocuments
    }

    /// Writes one document; returns the shard's file name.
    func write(split: String, id: String, source: String, text: String) throws -> String {
        if open[split] == nil || open[split]!.count >= shardDocuments {
            let index = (open[split]?.index ?? -1) + 1
            if let o = open[split] { try o.writer.close(); done.append(o.name) }
            let name = String(format: "%@_%05d.jsonl", split, index)
            open[split] = (try JSONLWriter(path: dir + "/" + name), name, 0, index)
        }
        let obj: [String: Any] = ["id": id, "source": source, "text": text]
        let line = String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        try open[split]!.writer.write(line)
        open[split]!.count += 1
        return open[split]!.name
    }

    func finish() throws -> [String] {
        for (_, o) in open.sorted(by: { $0.key < $1.key }) { try o.writer.close(); done.append(o.name) }
        open = [:]
        return done.sorted()
    }
}

/// One input of a distributed run as a rank sends it to rank 0: the outcome of the per-document stages.
struct DistributedItem: Codable {
    var unit: Int
    var id: String
    var source: String
    var bytes: Int
    var rejected: String?
    var failureStage: String?
    var failureReason: String?
    var text: String?
    var exactKey: [UInt64]?
    var signature: [UInt32]?
    var pii: [String: Int]?
}
