// Loss op: mean cross-entropy with an ignore mask.
import ForgeCore
import ForgeKernels

extension Tape {
    /// Mean cross-entropy of logits [N, V] against targets (N ids; negative ids are ignored).
    public func crossEntropy(_ logits: Variable, targets: [Int32]) -> Variable {
        let (rows, vocab) = (logits.value.rows, logits.value.lastDim)
        precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows")
        precondition(targets.allSatisfy { Int($0) < vocab }, "crossEntropy: target id out of range 0..<\(vocab)")
        let losses = Tensor(shape: [rows], zeroed: false), lse = Tensor(shape: [rows], zeroed: false)
        targets.withUnsafeBufferPointer {
            CrossEntropy.forward(logits: logits.value.data, targets: $0.baseAddress!, rows: rows, vocab: vocab,
                                 losses: losses.data, lse: lse.data)
        }
        let counted = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var total = 0.0
        for i in 0..<rows { total += Double(losses.data[i]) }
        let mean = counted > 0 ? total / Double(counted) : 0
        let result = self.result(Tensor(shape: [1], values: [Float(mean)]), inputs: logits)
        record(result) {
            let scale = counted > 0 ? result.grad!.data[0] / Float(counted) : 0
            logits.withGrad { dl, acc in
                targets.withUnsafeBufferPointer {
                    CrossEntropy.backward(logits: logits.value.data, targets: $0.baseAddress!, lse: lse.data, rows: rows,
                                          vocab: vocab, scale: scale, dlogits: dl, accumulate: acc)
                }
            }
        }
        return result
    }
}
