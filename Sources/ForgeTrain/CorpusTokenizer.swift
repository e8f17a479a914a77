// CorpusTokenizer: text files → train/validation token shards for `forge pretrain`.
// Documents are split between train and validation whole (every k-th document goes to validation),
// each document starts with the tokenizer's BOS token (or ends with EOS when there is no BOS), and
// shards hold at most `shardTokens` ids, as uint16 when the vocabulary fits.
import ForgeCore
import ForgeTokenizer
import Foundation

/// What a tokenize run produced.
public struct TokenizeSummary: Codable, Sendable {
    public var documents = 0, validationDocuments = 0
    public var bytes = 0, validationBytes = 0
    public var tokens = 0, validationTokens = 0
    public var shards: [String] = []
    public var bytesPerToken: Double { tokens > 0 ? Double(bytes) / Double(tokens) : 0 }
}

public enum CorpusTokenizer {
    /// Tokenizes `files` into `outDir`; every `validationEvery`-th document (0: none) is held out.
    public static func run(files: inout TextFiles, tokenizer: any TextTokenizer, outDir: String, validationEvery: Int,
                           shardTokens: Int = 50_000_000, progress: ProgressLine? = nil) throws -> TokenizeSummary {
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        var summary = TokenizeSummary()
        var train: [Int32] = [], val: [Int32] = []
        var trainShard = 0, valShard = 0
        let vocab = tokenizer.vocabSize
        func flush(_ tokens: inout [Int32], _ prefix: String, _ index: inout Int, force: Bool) throws {
            while tokens.count >= shardTokens || (force && !tokens.isEmpty) {
                let n = min(tokens.count, shardTokens)
                let path = outDir + String(format: "/%@_%03d.bin", prefix, index)
                try TokenShard.write(Array(tokens[0..<n]), vocabSize: vocab, to: path)
                summary.shards.append(path)
                tokens.removeFirst(n)
                index += 1
            }
        }
        let start = Date()
        try files.forEachBatch { batch in
            let encoded = tokenizer.encodeBatch(batch)
            for (doc, ids) in zip(batch, encoded) {
                var t: [Int32] = []
                if let b = tokenizer.bosId { t = [b] + ids } else if let e = tokenizer.eosId { t = ids + [e] } else { t = ids }
                let isVal = validationEvery > 0 && summary.documents % validationEvery == validationEvery - 1
                summary.documents += 1
                if isVal {
                    summary.validationDocuments += 1
                    summary.validationBytes += doc.utf8.count
                    summary.validationTokens += t.count
                    val += t
                } else {
                    summary.bytes += doc.utf8.count
                    summary.tokens += t.count
                    train += t
                }
            }
            try flush(&train, "train", &trainShard, force: false)
            try flush(&val, "val", &valShard, force: false)
            let mb = Double(summary.bytes + summary.validationBytes) / 1e6
            progress?.update(String(format: "tokenized %d documents, %.1f MB, %.1f MB/s", summary.documents, mb, mb / max(1e-9, Date().timeIntervalSince(start))))
        }
        try flush(&train, "train", &trainShard, force: true)
        try flush(&val, "val", &valShard, force: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(outDir + "/tokenize.json", data: try enc.encode(summary))
        return summary
    }
}
