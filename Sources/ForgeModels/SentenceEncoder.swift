// SentenceEncoder: a sentence-transformers model dir (a BERT encoder, its pooling and normalization) turned into
// one embedding per text. Texts are sorted by length and run in right-padded batches, so padding stays small;
// pooling reads only each text's real tokens, as sentence-transformers' attention mask does.
import ForgeAutograd
import ForgeCore
import ForgeTokenizer
import Foundation

/// Text → vector with an encoder model dir (all-MiniLM-L6-v2 and other sentence-transformers BERT models).
public final class SentenceEncoder: @unchecked Sendable {
    /// How token states become one vector.
    public enum Pooling: String, Sendable { case mean, cls }

    public let model: Transformer
    public let tokenizer: WordPieceTokenizer
    public let pooling: Pooling
    /// Whether vectors are scaled to unit length (sentence-transformers' Normalize module).
    public let normalize: Bool
    /// Tokens per text, [CLS] and [SEP] included; longer texts are cut (sentence-transformers' max_seq_length).
    public let maxLength: Int
    /// A name for the model (its dir's last component), stored with indexes built from it.
    public let name: String

    /// The vector width.
    public var dimension: Int { model.config.width }

    /// Loads a sentence-transformers dir (config.json, model.safetensors, tokenizer.json, 1_Pooling/config.json,
    /// sentence_bert_config.json, modules.json); errors name the file.
    public init(modelDir dir: String) throws {
        let model = try ModelDir.loadModel(from: dir)
        guard model.config.architecture == .bert else {
            throw ForgeError.file(dir + "/config.json", "model_type is \(model.config.architecture), an embedding model must be a BERT encoder")
        }
        self.model = model
        tokenizer = try WordPieceTokenizer.load(modelDir: dir)
        func json(_ file: String) throws -> Any? {
            guard let data = FileManager.default.contents(atPath: dir + "/" + file) else { return nil }
            guard let j = try? JSONSerialization.jsonObject(with: data) else { throw ForgeError.file(dir + "/" + file, "not valid JSON") }
            return j
        }
        let poolingConfig = try json("1_Pooling/config.json") as? [String: Any] ?? [:]
        if poolingConfig["pooling_mode_cls_token"] as? Bool == true { pooling = .cls }
        else if poolingConfig.isEmpty || poolingConfig["pooling_mode_mean_tokens"] as? Bool == true { pooling = .mean }
        else { throw ForgeError.file(dir + "/1_Pooling/config.json", "only mean or CLS pooling is supported") }
        let modules = try json("modules.json") as? [[String: Any]] ?? []
        normalize = modules.isEmpty || modules.contains { ($0["type"] as? String)?.hasSuffix("Normalize") == true }
        let st = try json("sentence_bert_config.json") as? [String: Any] ?? [:]
        maxLength = min((st["max_seq_length"] as? NSNumber)?.intValue ?? model.config.contextLength, model.config.contextLength)
        name = Self.name(ofDir: dir)
    }

    /// A model dir's name: its last path component, or its parent's when that is a generic "model" (PyPI packages).
    public static func name(ofDir dir: String) -> String {
        let url = URL(fileURLWithPath: dir).standardizedFileURL
        return url.lastPathComponent == "model" ? url.deletingLastPathComponent().lastPathComponent : url.lastPathComponent
    }

    /// The ids the model sees for `text` (template added, cut to `maxLength`).
    public func tokens(_ text: String) -> [Int32] { tokenizer.encodeForModel(text, maxLength: maxLength) }

    /// One vector per text, in input order. `batchTokens` bounds the padded rows run at once.
    public func embed(_ texts: [String], batchTokens: Int = 4096) -> [[Float]] {
        let ids = tokenizer.encodeBatchForModel(texts, maxLength: maxLength)
        return embed(tokenIds: ids, batchTokens: batchTokens)
    }

    /// One vector per token sequence (each already in the template), in input order.
    public func embed(tokenIds ids: [[Int32]], batchTokens: Int = 4096) -> [[Float]] {
        var out = [[Float]](repeating: [], count: ids.count)
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count }
        var i = 0
        while i < order.count {
            let seq = max(1, ids[order[i]].count)
            var group = [order[i]]
            while i + group.count < order.count, (group.count + 1) * seq <= batchTokens { group.append(order[i + group.count]) }
            let vectors = embedBatch(group.map { ids[$0] }, seq: seq)
            for (k, j) in group.enumerated() { out[j] = vectors[k] }
            i += group.count
        }
        return out
    }

    /// Sequences of at most `seq` tokens, right-padded to `seq`, pooled and normalized.
    func embedBatch(_ batch: [[Int32]], seq: Int) -> [[Float]] {
        let pad = tokenizer.padId ?? 0
        var flat: [Int32] = []
        flat.reserveCapacity(batch.count * seq)
        for s in batch { flat += s; flat += [Int32](repeating: pad, count: seq - s.count) }
        let layout = try! TokenLayout(seq: seq, lengths: batch.map { max(1, $0.count) })
        let tape = Tape(recording: false)
        let h = model.hidden(tape, tokens: flat, layout: layout).value
        let C = dimension
        return batch.enumerated().map { b, s in
            var v = [Float](repeating: 0, count: C)
            let base = h.data + b * seq * C
            switch pooling {
            case .cls:
                for c in 0..<C { v[c] = base[c] }
            case .mean:
                var acc = [Double](repeating: 0, count: C)
                for t in 0..<max(1, s.count) { for c in 0..<C { acc[c] += Double(base[t * C + c]) } }
                for c in 0..<C { v[c] = Float(acc[c] / Double(max(1, s.count))) }
            }
            if normalize {
                var norm = 0.0
                for x in v { norm += Double(x) * Double(x) }
                let scale = Float(1 / max(norm.squareRoot(), 1e-12))
                for c in 0..<C { v[c] *= scale }
            }
            return v
        }
    }
}
