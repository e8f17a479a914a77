// ReferenceBERT: BERT's forward and masked-LM loss in Float64 with plain loops, for tests only (padding masks
// written out, exact GELU through libm's erf). Shares no code with ForgeModels/BERT.swift.
import Foundation

/// A naive BERT over weights by Hugging Face name (matrices [out, in]).
public struct RefBERT {
    public var vocab, context, width, layers, heads, ffn: Int
    public var eps: Double
    public init(vocab: Int, context: Int, width: Int, layers: Int, heads: Int, ffn: Int, eps: Double) {
        (self.vocab, self.context, self.width, self.layers, self.heads, self.ffn, self.eps) = (vocab, context, width, layers, heads, ffn, eps)
    }

    /// Hidden states [B·T, C] of right-padded sequences (`lengths[b]` real tokens each).
    public func hidden(_ w: [String: [Double]], tokens: [Int], batch: Int, seq: Int, lengths: [Int]) -> [Double] {
        let C = width, N = batch * seq, D = C / heads
        var x = [Double](repeating: 0, count: N * C)
        for r in 0..<N {
            for c in 0..<C {
                x[r * C + c] = w["embeddings.word_embeddings.weight"]![tokens[r] * C + c]
                    + w["embeddings.position_embeddings.weight"]![(r % seq) * C + c] + w["embeddings.token_type_embeddings.weight"]![c]
            }
        }
        x = Ref.layerNorm(x, rows: N, cols: C, weight: w["embeddings.LayerNorm.weight"]!, bias: w["embeddings.LayerNorm.bias"]!, eps: eps)
        for l in 0..<layers {
            let p = "encoder.layer.\(l)."
            func lin(_ x: [Double], _ name: String, _ i: Int, _ o: Int) -> [Double] {
                Ref.linear(x, rows: N, inF: i, weight: w[p + name + ".weight"]!, bias: w[p + name + ".bias"]!, outF: o)
            }
            let q = lin(x, "attention.self.query", C, C), k = lin(x, "attention.self.key", C, C), v = lin(x, "attention.self.value", C, C)
            var a = [Double](repeating: 0, count: N * C)
            for b in 0..<batch {
                for h in 0..<heads {
                    for i in 0..<seq {
                        var scores = [Double](repeating: 0, count: lengths[b])
                        for j in 0..<lengths[b] {
                            var s = 0.0
                            for d in 0..<D { s += q[(b * seq + i) * C + h * D + d] * k[(b * seq + j) * C + h * D + d] }
                            scores[j] = s / Double(D).squareRoot()
                        }
                        let m = scores.max()!
                        let e = scores.map { exp($0 - m) }, total = e.reduce(0, +)
                        for d in 0..<D {
                            var s = 0.0
                            for j in 0..<lengths[b] { s += e[j] / total * v[(b * seq + j) * C + h * D + d] }
                            a[(b * seq + i) * C + h * D + d] = s
                        }
                    }
                }
            }
            let o = lin(a, "attention.output.dense", C, C)
            x = Ref.layerNorm(zip(x, o).map(+), rows: N, cols: C, weight: w[p + "attention.output.LayerNorm.weight"]!,
                              bias: w[p + "attention.output.LayerNorm.bias"]!, eps: eps)
            let f = lin(x, "intermediate.dense", C, ffn).map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) }
            let y = Ref.linear(f, rows: N, inF: ffn, weight: w[p + "output.dense.weight"]!, bias: w[p + "output.dense.bias"]!, outF: C)
            x = Ref.layerNorm(zip(x, y).map(+), rows: N, cols: C, weight: w[p + "output.LayerNorm.weight"]!,
                              bias: w[p + "output.LayerNorm.bias"]!, eps: eps)
        }
        return x
    }

    /// Mean cross-entropy of the masked-LM head at the rows whose target is ≥ 0.
    public func maskedLMLoss(_ w: [String: [Double]], tokens: [Int], targets: [Int], batch: Int, seq: Int, lengths: [Int]) -> Double {
        let h = hidden(w, tokens: tokens, batch: batch, seq: seq, lengths: lengths)
        let rows = targets.indices.filter { targets[$0] >= 0 }, C = width
        let picked = rows.flatMap { h[($0 * C)..<(($0 + 1) * C)] }
        let t = Ref.linear(picked, rows: rows.count, inF: C, weight: w["cls.predictions.transform.dense.weight"]!,
                           bias: w["cls.predictions.transform.dense.bias"]!, outF: C).map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) }
        let n = Ref.layerNorm(t, rows: rows.count, cols: C, weight: w["cls.predictions.transform.LayerNorm.weight"]!,
                              bias: w["cls.predictions.transform.LayerNorm.bias"]!, eps: eps)
        let logits = Ref.linear(n, rows: rows.count, inF: C, weight: w["embeddings.word_embeddings.weight"]!,
                                bias: w["cls.predictions.bias"]!, outF: vocab)
        return Ref.crossEntropy(logits, rows: rows.count, vocab: vocab, targets: rows.map { targets[$0] })
    }
}
