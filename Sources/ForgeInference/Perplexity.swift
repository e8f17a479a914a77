// Perplexity: llama-perplexity's protocol, so the figures compare directly.
//
// The text is tokenized once (BOS first when the model adds one) and cut into windows of `context`
// tokens; each window starts from an empty cache (its first token replaced by BOS when the model adds
// one) and only the second half is scored: positions context/2 ..< context−1 predict the next token.
import ForgeCore
import ForgeKernels
import ForgeModels
import Foundation

public struct PerplexityResult: Sendable {
    public var perplexity: Double
    /// Standard error of the perplexity (from the spread of the token log-likelihoods).
    public var standardError: Double
    public var windows: Int
    public var scoredTokens: Int
    public var tokensPerSecond: Double
}

public enum Perplexity {
    /// Scores `tokens` in windows of `context`; `bos` replaces each window's first token when given.
    /// `progress` gets (window, windows, running perplexity).
    public static func evaluate(_ model: InferenceModel, tokens: [Int32], context: Int, bos: Int32?, cacheType: KVCacheType = .f16,
                                progress: (Int, Int, Double) -> Void = { _, _, _ in }) throws -> PerplexityResult {
        guard context >= 8 else { throw ForgeError("the context must be at least 8 tokens, got \(context)") }
        let windows = tokens.count / context
        guard windows >= 1 else {
            throw ForgeError("the text has \(tokens.count) tokens; at least \(context) are needed for one window of \(context)")
        }
        let session = try InferenceSession(model: model, contextLength: context, cacheType: cacheType)
        let V = model.config.vocabSize, first = context / 2
        var nll = 0.0, nll2 = 0.0, count = 0
        let clock = ContinuousClock.now
        let scored = context - 1 - first
        var lp = [Double](repeating: 0, count: scored)
        for w in 0..<windows {
            var window = Array(tokens[(w * context)..<((w + 1) * context)])
            if let bos { window[0] = bos }
            session.reset()
            // Logits only for the scored half (rows first ..< context), as llama-perplexity asks for them.
            let logits = try session.forward(window, logits: .from(first))
            logits.withUnsafeBufferPointer { l in
                lp.withUnsafeMutableBufferPointer { out in
                    Parallel.forEach(scored) { range in
                        for j in range {
                            let row = l.baseAddress! + j * V
                            out[j] = Double(row[Int(window[first + j + 1])]) - Double(Softmax.logSumExp(row, V))
                        }
                    }
                }
            }
            for v in lp { nll -= v; nll2 += v * v }
            count += scored
            progress(w + 1, windows, exp(nll / Double(count)))
        }
        let mean = nll / Double(count)
        let variance = max(0, nll2 / Double(count) - mean * mean)
        let ppl = exp(mean)
        let elapsed = ContinuousClock.now - clock
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return PerplexityResult(perplexity: ppl, standardError: ppl * (variance / Double(max(count - 1, 1))).squareRoot(),
                                windows: windows, scoredTokens: count, tokensPerSecond: Double(windows * context) / secs)
    }

}
