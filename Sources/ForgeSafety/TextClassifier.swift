// TextClassifier: a decoder language model cut to its first layers with a score head ("score.weight", [1, width], as
// Hugging Face's sequence classification) reading the hidden state of a text's last token; P(toxic) = σ(score).
// Why a decoder: Forge trains and runs decoders (no encoder ships yet), and a pretrained one brings its tokenizer and
// what its early layers know of words; why cut: the first layers carry most of what word-level toxicity needs, at a
// fraction of the cost per text. Texts longer than `maxTokens` are scored in windows and take their highest score.
import ForgeAlign
import ForgeAutograd
import ForgeCore
import ForgeData
import ForgeModels
import ForgeTokenizer
import ForgeTrain
import Foundation

/// Settings saved beside the classifier's model dir (classifier.json).
public struct ClassifierSettings: Codable, Sendable, Equatable {
    /// Texts at or above this probability are flagged (calibrated on the validation split).
    public var threshold = 0.5
    /// Tokens per scoring window.
    public var maxTokens = 64
    /// What a positive means.
    public var label = "toxic"
    /// The model the layers came from, and how many were kept.
    public var base = ""
    public var layers = 0
    enum CodingKeys: String, CodingKey { case threshold, maxTokens = "max_tokens", label, base, layers }
    public init() {}
}

public final class TextClassifier: @unchecked Sendable {
    public let model: Transformer
    public let tokenizer: TextTokenizer
    public var settings: ClassifierSettings
    let lock = NSLock()

    public init(model: Transformer, tokenizer: TextTokenizer, settings: ClassifierSettings) {
        (self.model, self.tokenizer, self.settings) = (model, tokenizer, settings)
    }

    /// A new classifier from the first `layers` blocks of a language model, with a fresh score head.
    public static func fromLanguageModel(_ base: BaseModel, layers: Int, name: String, seed: UInt64) throws -> TextClassifier {
        let full = base.transformer
        guard layers >= 1, layers <= full.config.layers else {
            throw ForgeError("--layers must be in 1...\(full.config.layers) (the model has \(full.config.layers)), got \(layers)")
        }
        var config = full.config
        config.layers = layers
        var weights: [String: Tensor] = [:]
        let keep = Set(try config.family.parameters(config).map(\.name))
        for p in full.parameters where keep.contains(p.name) { weights[p.name] = p.value }
        let model = try Transformer(config: config, weights: weights)
        var rng = RNG(seed: seed ^ 0x70C1C)
        let w = Tensor(shape: [1, config.width], zeroed: false)
        for i in 0..<w.count { w.data[i] = Float(0.02 * rng.normal()) }
        model.heads["score.weight"] = Variable(w, requiresGrad: true, name: "score.weight")
        var s = ClassifierSettings()
        (s.base, s.layers) = (name, layers)
        return TextClassifier(model: model, tokenizer: base.tokenizer, settings: s)
    }

    /// Loads a classifier dir (a model dir with a score head, and classifier.json).
    public static func load(_ dir: String) throws -> TextClassifier {
        let path = dir + "/classifier.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ForgeError.file(path, "missing: \(dir) is not a classifier dir (forge classifier train writes one)")
        }
        let settings: ClassifierSettings
        do { settings = try JSONDecoder().decode(ClassifierSettings.self, from: data) }
        catch { throw ForgeError.file(path, "not valid classifier settings: \(error)") }
        let model = try ModelDir.loadModel(from: dir)
        guard let head = model.heads["score.weight"], head.shape == [1, model.config.width] else {
            throw ForgeError.file(dir, "the model has no [1, \(model.config.width)] score head")
        }
        return TextClassifier(model: model, tokenizer: try ModelDir.loadTokenizer(from: dir), settings: settings)
    }

    /// Writes the model dir and classifier.json.
    public func save(to dir: String) throws {
        try ModelDir.save(model, tokenizer: tokenizer, to: dir)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(dir + "/classifier.json", data: try enc.encode(settings))
    }

    /// The token windows a text is scored in (at least one; an empty text is its end-of-text token alone).
    public func windows(_ text: String) -> [[Int32]] {
        var ids = tokenizer.encode(text)
        if ids.isEmpty { ids = [tokenizer.eosId ?? 0] }
        let n = settings.maxTokens
        guard ids.count > n else { return [ids] }
        let stride = max(1, n / 2)
        return Swift.stride(from: 0, to: ids.count - n + stride, by: stride).map { Array(ids[min($0, ids.count - n)..<min($0 + n, ids.count)]) }
    }

    /// The scores (logits) of token rows, right-padded with `pad` into one batch: [rows, 1].
    public static func scores(_ tape: Tape, _ model: Transformer, _ rows: [[Int32]], pad: Int32) -> Variable {
        let seq = rows.map(\.count).max() ?? 1
        var inputs: [Int32] = []
        inputs.reserveCapacity(rows.count * seq)
        for r in rows { inputs += r + Array(repeating: pad, count: seq - r.count) }
        let h = model.hidden(tape, tokens: inputs, layout: TokenLayout(batch: rows.count, seq: seq))
        let last = rows.enumerated().map { $0.offset * seq + $0.element.count - 1 }
        return tape.linear(tape.gatherRows(h, rows: last), model.heads["score.weight"]!)
    }

    /// The end-of-text token rows are padded with.
    public var pad: Int32 { tokenizer.eosId ?? 0 }

    /// P(positive) of each text, batched by length (`batch` windows per forward).
    public func probabilities(_ texts: [String], batch: Int = 32) -> [Double] {
        lock.lock(); defer { lock.unlock() }
        var windows: [(text: Int, tokens: [Int32])] = []
        for (i, t) in texts.enumerated() { for w in self.windows(t) { windows.append((i, w)) } }
        let order = windows.indices.sorted { windows[$0].tokens.count < windows[$1].tokens.count }
        var best = [Double](repeating: 0, count: texts.count)
        for start in stride(from: 0, to: order.count, by: batch) {
            let chunk = Array(order[start..<min(start + batch, order.count)])
            let s = Self.scores(Tape(recording: false), model, chunk.map { windows[$0].tokens }, pad: pad).value
            for (k, w) in chunk.enumerated() {
                let p = 1 / (1 + exp(-Double(s.data[k])))
                best[windows[w].text] = max(best[windows[w].text], p)
            }
        }
        return best
    }
}

/// The classifier behind the data pipeline's `ToxicityScorer` interface: the score is P(toxic).
extension TextClassifier: ToxicityScorer {
    public func score(_ text: String) -> (score: Double, matches: [String]) {
        let p = probabilities([text])[0]
        return (p, p >= settings.threshold ? ["classifier:\(settings.label)"] : [])
    }
}
