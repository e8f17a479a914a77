// DistillationOps: the knowledge-distillation loss against a teacher's top-k logits.
//
// For each row: q = softmax(z/τ) over the student's whole vocabulary, p = softmax of the teacher's k largest logits
// divided by τ (the teacher's distribution renormalized on its top k, which is what a cache of top-k logits keeps),
// and the loss τ²·KL(p ‖ q) = τ²·Σ_j p_j (log p_j − log q_{id_j}) (Hinton et al.: the τ² keeps gradient sizes
// comparable across temperatures). Gradient: ∂/∂z_v = τ·(q_v − p_v) per row, p_v zero off the top k.
import ForgeCore
import ForgeKernels
import Foundation

extension Tape {
    /// Mean over rows of τ²·KL(teacher top-k ‖ student) for logits [N, V], teacher ids and logits [N·k]; rows whose first
    /// id is negative are skipped (not counted in the mean).
    public func topKDistillation(_ logits: Variable, ids: [Int32], teacherLogits: [Float], k: Int, temperature tau: Float) -> Variable {
        let (rows, vocab) = (logits.value.rows, logits.value.lastDim)
        precondition(k >= 1 && ids.count == rows * k && teacherLogits.count == rows * k,
                     "topKDistillation: \(ids.count) ids and \(teacherLogits.count) logits for \(rows) rows of top-\(k)")
        precondition(tau > 0, "topKDistillation: temperature must be positive")
        precondition(ids.allSatisfy { Int($0) < vocab }, "topKDistillation: teacher id out of range 0..<\(vocab)")
        let p = [Float](unsafeUninitializedCapacity: rows * k) { buf, n in
            for r in 0..<rows {
                let t = teacherLogits[(r * k)..<((r + 1) * k)]
                let m = t.max()!
                var s = 0.0
                for j in 0..<k { s += exp(Double((t[r * k + j] - m) / tau)) }
                for j in 0..<k { buf[r * k + j] = Float(exp(Double((t[r * k + j] - m) / tau)) / s) }
            }
            n = rows * k
        }
        var kl = [Double](repeating: 0, count: rows)
        let counted = (0..<rows).filter { ids[$0 * k] >= 0 }
        let z = logits.value.data
        kl.withUnsafeMutableBufferPointer { klp in
            let out = UncheckedSendable(klp.baseAddress!)
            Parallel.forEach(rows) { range in
                var scaled = [Float](repeating: 0, count: vocab)
                for r in range where ids[r * k] >= 0 {
                    let row = z + r * vocab
                    for v in 0..<vocab { scaled[v] = row[v] / tau }
                    let l = scaled.withUnsafeBufferPointer { Softmax.logSumExp($0.baseAddress!, vocab) }
                    var s = 0.0
                    for j in 0..<k where p[r * k + j] > 0 {
                        let pj = Double(p[r * k + j])
                        s += pj * (log(pj) - (Double(row[Int(ids[r * k + j])] / tau) - Double(l)))
                    }
                    out.value[r] = s
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
                        if acc { for v in 0..<vocab { out[v] += g * q[v] } } else { for v in 0..<vocab { out[v] = g * q[v] } }
                        for j in 0..<k { out[Int(ids[r * k + j])] -= g * p[r * k + j] }
                    }
                }
            }
        }
        return result
    }
}
