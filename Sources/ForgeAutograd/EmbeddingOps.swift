// Embedding ops: token/position lookup and rotary position embedding, with backwards.
import ForgeCore
import ForgeKernels

extension Tape {
    /// Rows of `table` [V, C] for each id: [ids.count, C].
    public func embedding(_ table: Variable, ids: [Int32]) -> Variable {
        let (vocab, cols) = (table.shape[0], table.shape[1])
        precondition(ids.allSatisfy { $0 >= 0 && Int($0) < vocab }, "embedding id out of range 0..<\(vocab)")
        let out = Tensor(shape: [ids.count, cols], zeroed: false)
        ids.withUnsafeBufferPointer { Embedding.forward(table: table.value.data, ids: $0.baseAddress!, count: ids.count, cols: cols, out: out.data) }
        let result = self.result(out, inputs: table)
        record(result) {
            table.withGrad { dt, acc in
                if !acc { dt.initialize(repeating: 0, count: vocab * cols) }
                ids.withUnsafeBufferPointer {
                    Embedding.backward(dout: result.grad!.data, ids: $0.baseAddress!, count: ids.count, cols: cols, dtable: dt)
                }
            }
        }
        return result
    }

    /// Rotary position embedding on x [(B·T), H·D], rows at positions `offset + row % seq`, or at `positions[row]`.
    public func rope(_ x: Variable, seq: Int, heads: Int, table: RoPETable, offset: Int = 0, positions: [Int32]? = nil) -> Variable {
        let rows = x.value.rows
        precondition(x.value.lastDim == heads * table.headDim, "rope: input \(x.shape) is not \(heads) heads of \(table.headDim)")
        precondition(positions == nil || positions!.count == rows, "rope: \(positions?.count ?? 0) positions for \(rows) rows")
        let out = Tensor(shape: x.shape, zeroed: false)
        func apply(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, inverse: Bool, accumulate: Bool) {
            if let positions {
                positions.withUnsafeBufferPointer {
                    RoPE.apply(from, to, rows: rows, seq: seq, heads: heads, table: table, positions: $0.baseAddress!,
                               inverse: inverse, accumulate: accumulate)
                }
            } else {
                RoPE.apply(from, to, rows: rows, seq: seq, heads: heads, table: table, offset: offset, inverse: inverse, accumulate: accumulate)
            }
        }
        apply(x.value.data, out.data, inverse: false, accumulate: false)
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in apply(result.grad!.data, dx, inverse: true, accumulate: acc) }
        }
        return result
    }
}
