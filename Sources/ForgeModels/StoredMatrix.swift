// StoredMatrix: a frozen projection kept in its file's stored type (a GGUF's Q4_1 rows, mapped), multiplied by
// decoding strips (`WeightMatrix.multiplyDecoded`) in the forward and the input gradient: LoRA on a quantized base
// without a Float32 copy of it. A GGUF's Q/K rows are in llama.cpp's order; `hfFromStored` puts the outputs in
// Hugging Face's, which the training forward's RoPE expects.
import ForgeAutograd
import ForgeCore
import ForgeKernels

public struct StoredMatrix: @unchecked Sendable {
    public let matrix: WeightMatrix
    /// Output j in Hugging Face's order is stored output `storedIndex[j]` (nil: the same order).
    public let storedIndex: [Int32]?
    /// Keeps the mapped file alive.
    let owner: AnyObject

    public init(matrix: WeightMatrix, transform: GGUFTransform, owner: AnyObject) {
        self.matrix = matrix
        self.owner = owner
        if case .ropePermutation(let heads) = transform {
            let d = matrix.rows / heads, half = d / 2
            var idx = [Int32](repeating: 0, count: matrix.rows)
            for h in 0..<heads { for a in 0..<2 { for b in 0..<half { idx[h * d + a * half + b] = Int32(h * d + 2 * b + a) } } }
            storedIndex = idx
        } else {
            storedIndex = nil
        }
    }

    /// Rows of the matrix (embedding lookups) as Float32, in order.
    public func rows(_ ids: [Int32]) -> Tensor {
        let out = Tensor(shape: [ids.count, matrix.cols], zeroed: false)
        for (i, id) in ids.enumerated() { matrix.dequantizeRow(Int(id), into: out.data + i * matrix.cols) }
        return out
    }
}

extension Tape {
    /// x·Wᵀ for a frozen stored matrix: gradients flow to x only.
    public func storedLinear(_ x: Variable, _ s: StoredMatrix) -> Variable {
        let n = x.value.rows, rows = s.matrix.rows
        precondition(x.value.lastDim == s.matrix.cols, "storedLinear: input \(x.shape) for a \(rows)×\(s.matrix.cols) matrix")
        let out = Tensor(shape: [n, rows], zeroed: false)
        s.matrix.multiplyDecoded(x.value.data, tokens: n, into: out.data)
        if let idx = s.storedIndex {
            let row = UnsafeMutablePointer<Float>.allocate(capacity: rows)
            defer { row.deallocate() }
            for t in 0..<n {
                let y = out.data + t * rows
                row.update(from: y, count: rows)
                for j in 0..<rows { y[j] = row[Int(idx[j])] }
            }
        }
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in
                var dy = UnsafePointer(result.grad!.data)
                var scratch: Tensor?
                if let idx = s.storedIndex {
                    let t = Tensor(shape: [n, rows], zeroed: false)
                    for r in 0..<n { for j in 0..<rows { t.data[r * rows + Int(idx[j])] = result.grad!.data[r * rows + j] } }
                    scratch = t
                    dy = UnsafePointer(t.data)
                }
                s.matrix.multiplyTransposedDecoded(dy, tokens: n, into: dx, accumulate: acc)
                withExtendedLifetime(scratch) {}
            }
        }
        return result
    }
}
