// Losses: the training objectives as functions of a model's logits, so a trainer can take any of them.
//   crossEntropy          mean next-token loss over the counted targets (pretraining, SFT with masks)
//   tokenLogProbabilities log p(target) per row (0 where the target is ignored)
//   sequenceLogProbabilities  Σ_t log p(target_t) per sequence (preference losses: DPO, reward margins)
import ForgeCore
import ForgeKernels

/// Loss functions over logits [N, V] and targets (negative targets are ignored: masked positions).
public enum Losses {
    /// Mean cross-entropy over the rows whose target is ≥ 0.
    public static func crossEntropy(_ tape: Tape, _ logits: Variable, targets: [Int32]) -> Variable {
        tape.crossEntropy(logits, targets: targets)
    }

    /// log softmax(logits)[target] per row, [N]; rows with a negative target give 0.
    public static func tokenLogProbabilities(_ tape: Tape, _ logits: Variable, targets: [Int32]) -> Variable {
        tape.tokenLogProbabilities(logits, targets: targets)
    }

    /// The positions whose target is a token (≥ 0), in order.
    public static func targetRows(_ targets: [Int32]) -> [Int] { targets.indices.filter { targets[$0] >= 0 } }

    /// Σ of the token log-probabilities of each of `sequences` consecutive equal groups of rows, [sequences].
    public static func sequenceLogProbabilities(_ tape: Tape, _ logits: Variable, targets: [Int32], sequences: Int) -> Variable {
        tape.groupSums(tape.tokenLogProbabilities(logits, targets: targets), groups: sequences)
    }
}

extension Tape {
    /// log softmax(logits)[target] per row, [N] (0 for negative targets).
    public func tokenLogProbabilities(_ logits: Variable, targets: [Int32]) -> Variable {
        let (rows, vocab) = (logits.value.rows, logits.value.lastDim)
        precondition(targets.count == rows, "tokenLogProbabilities: \(targets.count) targets for \(rows) rows")
        precondition(targets.allSatisfy { Int($0) < vocab }, "tokenLogProbabilities: target id out of range 0..<\(vocab)")
        let losses = Tensor(shape: [rows], zeroed: false), lse = Tensor(shape: [rows], zeroed: false)
        targets.withUnsafeBufferPointer {
            CrossEntropy.forward(logits: logits.value.data, targets: $0.baseAddress!, rows: rows, vocab: vocab,
                                 losses: losses.data, lse: lse.data)
        }
        for i in 0..<rows { losses.data[i] = -losses.data[i] }
        let result = self.result(losses, inputs: logits)
        record(result) {
            logits.withGrad { dl, acc in
                targets.withUnsafeBufferPointer {
                    // d log p / d logits = onehot − softmax, times the incoming gradient of each row.
                    CrossEntropy.backward(logits: logits.value.data, targets: $0.baseAddress!, lse: lse.data, rows: rows,
                                          vocab: vocab, scale: -1, rowScale: result.grad!.data, dlogits: dl, accumulate: acc)
                }
            }
        }
        return result
    }

    /// Sums of `groups` consecutive equal parts of a vector [N] (N a multiple of groups), [groups].
    public func groupSums(_ x: Variable, groups: Int) -> Variable {
        let n = x.value.count
        precondition(groups > 0 && n % groups == 0, "groupSums: \(n) values do not split into \(groups) groups")
        let size = n / groups
        let out = Tensor(shape: [groups], zeroed: true)
        for g in 0..<groups { var s = 0.0; for i in 0..<size { s += Double(x.value.data[g * size + i]) }; out.data[g] = Float(s) }
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in
                for g in 0..<groups {
                    let v = result.grad!.data[g]
                    for i in 0..<size { dx[g * size + i] = (acc ? dx[g * size + i] : 0) + v }
                }
            }
        }
        return result
    }
}
