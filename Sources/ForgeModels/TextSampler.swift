// TextSampler: autoregressive sampling from a Transformer with temperature and top-k.
//
// This is the training model's forward run without a tape: every new token re-reads the last
// `contextLength` tokens (no KV cache). The inference engine has the fast, cached path.
import ForgeAutograd
import ForgeCore
import ForgeKernels
import Foundation

/// Sampling settings.
public struct SamplingOptions: Sendable {
    /// 0 means greedy.
    public var temperature: Float = 0.8
    /// Keep only the k most likely tokens (0: all).
    public var topK = 40
    public var maxTokens = 200
    public var seed: UInt64 = 1
    public init(temperature: Float = 0.8, topK: Int = 40, maxTokens: Int = 200, seed: UInt64 = 1) {
        self.temperature = temperature
        self.topK = topK
        self.maxTokens = maxTokens
        self.seed = seed
    }
}

public enum TextSampler {
    /// Logits of the token after `context` (the last `contextLength` tokens are used).
    public static func nextLogits(_ model: Transformer, context: [Int32]) -> [Float] {
        let window = Array(context.suffix(model.config.contextLength))
        let tape = Tape(recording: false)
        let h = model.hidden(tape, tokens: window, batch: 1, seq: window.count)
        let C = model.config.width, V = model.config.vocabSize
        let head = model.config.tiedEmbeddings ? model.embeddingTable.value : model.parameter("lm_head.weight").value
        var logits = [Float](repeating: 0, count: V)
        logits.withUnsafeMutableBufferPointer { out in
            BLAS.parallelSgemm(transA: false, transB: true, m: 1, n: V, k: C, a: h.value.data + (window.count - 1) * C, lda: C,
                               b: head.data, ldb: C, beta: 0, c: out.baseAddress!, ldc: V)
        }
        return logits
    }

    /// Picks a token from logits with temperature and top-k.
    public static func pick(_ logits: [Float], temperature: Float, topK: Int, rng: inout RNG) -> Int32 {
        if temperature <= 0 { return Int32(logits.indices.max { logits[$0] < logits[$1] }!) }
        var order = Array(logits.indices)
        if topK > 0 && topK < logits.count {
            order.sort { logits[$0] > logits[$1] }
            order = Array(order.prefix(topK))
        }
        let m = order.map { logits[$0] }.max()!
        let weights = order.map { exp(Double((logits[$0] - m) / temperature)) }
        var u = rng.uniform() * weights.reduce(0, +)
        for (i, w) in zip(order, weights) {
            u -= w
            if u <= 0 { return Int32(i) }
        }
        return Int32(order.last!)
    }

    /// Generates up to `maxTokens` after `prompt`, calling `onToken` for each; stops early if
    /// `onToken` returns false.
    @discardableResult
    public static func generate(_ model: Transformer, prompt: [Int32], options: SamplingOptions,
                                onToken: (Int32) -> Bool = { _ in true }) -> [Int32] {
        var rng = RNG(seed: options.seed)
        var tokens = prompt
        var out: [Int32] = []
        for _ in 0..<options.maxTokens {
            let next = pick(nextLogits(model, context: tokens), temperature: options.temperature, topK: options.topK, rng: &rng)
            tokens.append(next)
            out.append(next)
            if !onToken(next) { break }
        }
        return out
    }
}
