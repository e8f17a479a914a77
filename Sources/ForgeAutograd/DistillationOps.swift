// DistillationOps: the knowledge-distillation loss against a teacher's top-k logits.
//
// For each row: q = softmax(z/τ) over the student's whole vocabulary and the teacher's distribution at τ known on its
// k largest logits. With the teacher's log-sum-exp at τ over its whole vocabulary (what a cache keeps besides the top
// k), the teacher's probabilities p_j = exp(t_j/τ − LSE) are exact and the rest of its mass, p_rest = 1 − Σ p_j, is a
// bucket of its own matched by the student's q_rest = Σ of q outside the k ids: KL over k + 1 buckets. (Renormalizing
// the top k instead tells the student that the true next token has probability 0 whenever the teacher did not rank it
// in its top k, which costs perplexity; that form is kept for caches without the log-sum-exp.) The loss is
// τ²·KL(p ‖ q) (Hinton et al.: the τ² keeps gradient sizes comparable across temperatures). Gradient per row:
// ∂/∂z_v = τ·(q_v − p_v) for the top-k ids and τ·q_v·(1 − p_rest/q_rest) for the others.
import ForgeCore
import ForgeKernels
import Foundation

extension Tape {
    /// Mean over rows of τ²·KL(teacher ‖ student) for logits [N, V], teacher top-k ids and logits [N·k] and, when
    /// given, the teacher's log-sum-exp of logits/τ per row [N] (then the mass outside the top k is a bucket; without
    /// it the top k are renormalized). Rows whose first id is negative are skipped (not counted in the mean).
    public func topKDistillation(_ logits: Variable, ids: [Int32], teacherLogits: [Float], teacherLSE: [Float]? = nil,
                                 k: Int, temperature tau: Float) -> Variable {
        let (rows, vocab) = (logits.value.rows, logits.value.lastDim)
        precondition(k >= 1 && k < vocab && ids.count == rows * k && teacherLogits.count == rows * k,
                     "topKDistillation: \(ids.count) ids and \(teacherLogits.count) logits for \(rows) rows of top-\(k)")
        precondition(teacherLSE == nil || teacherLSE!.count == rows, "topKDistillation: one teacher log-sum-exp per row")
        precondition(tau > 0, "topKDistillation: temperature must be positive")
        precondition(ids.allSatisfy { Int($0) < vocab }, "topKDistillation: teacher id out of range 0..<\(vocab)")
        // Teacher probabilities of the top k (exact with the log-sum-exp, renormalized without) and of the rest.
        var p = [Float](repeating: 0, count: rows * k), pRest = [Double](repeating: 0, count: rows)
        for r in 0..<rows where ids[r * k] >= 0 {
            let t = (0..<k).map { Double(teacherLogits[r * k + $0]) / Double(tau) }
            let lse: Double
            if let teacherLSE { lse = Double(teacherLSE[r]) } else { let m = t.max()!; lse = m + log(t.map { exp($0 - m) }.reduce(0, +)) }
            var s = 0.0
            for j in 0..<k { let pj = exp(t[j] - lse); p[r * k + j] = Float(pj); s += pj }
            pRest[r] = teacherLSE == nil ? 0 : max(0, 1 - s)
        }
        let counted = (0..<rows).filter { ids[$0 * k] >= 0 }
        let z = logits.value.data
        var kl = [Double](repeating: 0, count: rows), qRest = [Double](repeating: 1, count: rows)
        kl.withUnsafeMutableBufferPointer { klp in
            qRest.withUnsafeMutableBufferPointer { qrp in
                let out = UncheckedSendable(klp.baseAddress!), qr = UncheckedSendable(qrp.baseAddress!)
                Parallel.forEach(rows) { range in
                    var scaled = [Float](repeating: 0, count: vocab), q = [Float](repeating: 0, count: vocab)
                    for r in range where ids[r * k] >= 0 {
                        let row = z + r * vocab
                        for v in 0..<vocab { scaled[v] = row[v] / tau }
                        let l = Double(scaled.withUnsafeBufferPointer { Softmax.logSumExp($0.baseAddress!, vocab) })
                        var s = 0.0
                        for j in 0..<k where p[r * k + j] > 0 {
                            let pj = Double(p[r * k + j])
                            s += pj * (log(pj) - (Double(scaled[Int(ids[r * k + j])]) - l))
                        }
                        if pRest[r] > 0 {
                            // q_rest summed over the other ids (accurate even when it is tiny).
                            scaled.withUnsafeBufferPointer { sp in q.withUnsafeMutableBufferPointer { Softmax.forward(sp.baseAddress!, $0.baseAddress!, rows: 1, cols: vocab) } }
                            var inTop = 0.0
                            for j in 0..<k { inTop += Double(q[Int(ids[r * k + j])]) }
                            var total = 0.0
                            for v in 0..<vocab { total += Double(q[v]) }
                            let rest = max(total - inTop, 1e-30)
                            qr.value[r] = rest
                            s += pRest[r] * (log(pRest[r]) - log(rest))
                        }
                        out.value[r] = s
                    }
                }
            }
        }
        let total = counted.reduce(0.0) { $0 + kl[$1] }
        let mean = counted.isEmpty ? 0 : Double(tau * tau) * total / Double(counted.count)
        let result = self.result(Tensor(shape: [1], values: [Float(mean)]), inputs: logits)
        record(result) {
            guard !counted.isEmpty else { return }
            let g = result.grad!.data[0] * tau / Float(counted.count)
            logits.withGrad { dl, acc in
                let d = UncheckedSendable(dl)
                Parallel.forEach(rows) { range in
                    var scaled = [Float](repeating: 0, count: vocab), q = [Float](repeating: 0, count: vocab)
                    for r in range {
                        let row = z + r * vocab, out = d.value + r * vocab
                        guard ids[r * k] >= 0 else {
                            if !acc { for v in 0..<vocab { out[v] = 0 } }
                            continue
                        }
                        for v in 0..<vocab { scaled[v] = row[v] / tau }
                        scaled.withUnsafeBufferPointer { s in q.withUnsafeMutableBufferPointer { Softmax.forward(s.baseAddress!, $0.baseAddress!, rows: 1, cols: vocab) } }
                        // Outside the top k: g·q_v·(1 − p_rest/q_rest) (just g·q_v when renormalized); inside: g·(q_v − p_v).
                        let f = g * Float(1 - pRest[r] / qRest[r])
                        if acc { for v in 0..<vocab { out[v] += f * q[v] } } else { for v in 0..<vocab { out[v] = f * q[v] } }
                        for j in 0..<k {
                            let v = Int(ids[r * k + j])
                            out[v] += (g - f) * q[v] - g * p[r * k + j]
                        }
                    }
                }
            }
        }
        return result
    }
}
