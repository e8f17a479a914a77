// RowOps: picking rows of a matrix and placing a vector's entries back at their rows. Losses use them to run the output
// layer only on the positions that have a target (a reply's tokens), not on prompts and padding.
import ForgeCore

extension Tape {
    /// Rows `rows` of x [N, C], as [K, C]; the gradient adds back into those rows.
    public func gatherRows(_ x: Variable, rows: [Int]) -> Variable {
        let (n, c) = (x.value.rows, x.value.lastDim)
        precondition(rows.allSatisfy { $0 >= 0 && $0 < n }, "gatherRows: a row index is out of range 0..<\(n)")
        let out = Tensor(shape: [rows.count, c], zeroed: false)
        for (k, r) in rows.enumerated() { (out.data + k * c).update(from: x.value.data + r * c, count: c) }
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in
                if !acc { dx.initialize(repeating: 0, count: n * c) }
                let g = result.grad!.data
                for (k, r) in rows.enumerated() {
                    let src = g + k * c, dst = dx + r * c
                    for j in 0..<c { dst[j] += src[j] }
                }
            }
        }
        return result
    }

    /// The vector x [K] placed at `rows` of a zero vector [n]; the gradient reads those entries back.
    public func scatterRows(_ x: Variable, rows: [Int], count n: Int) -> Variable {
        precondition(x.value.count == rows.count, "scatterRows: \(x.value.count) values for \(rows.count) rows")
        precondition(rows.allSatisfy { $0 >= 0 && $0 < n }, "scatterRows: a row index is out of range 0..<\(n)")
        precondition(Set(rows).count == rows.count, "scatterRows: repeated row index")
        let out = Tensor(shape: [n], zeroed: true)
        for (k, r) in rows.enumerated() { out.data[r] = x.value.data[k] }
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in
                let g = result.grad!.data
                for (k, r) in rows.enumerated() { dx[k] = (acc ? dx[k] : 0) + g[r] }
            }
        }
        return result
    }
}
