// Elementwise ops: add, multiply, scale, column split, and a weighted sum to a scalar.
import ForgeCore
import ForgeKernels

extension Tape {
    /// a + b (same element count; the result has a's shape).
    public func add(_ a: Variable, _ b: Variable) -> Variable {
        precondition(a.value.count == b.value.count, "add: shapes \(a.shape) and \(b.shape) differ")
        let out = Tensor(shape: a.shape, zeroed: false)
        Elementwise.add(a.value.data, b.value.data, out.data, out.count)
        let result = self.result(out, inputs: a, b)
        record(result) {
            let g = result.grad!
            if b.requiresGrad { b.withGrad { db, acc in Elementwise.copy(g.data, db, g.count, accumulate: acc) } }
            if a.requiresGrad { a.accumulateGrad(g) }
        }
        return result
    }

    /// a ⊙ b (same element count).
    public func mul(_ a: Variable, _ b: Variable) -> Variable {
        precondition(a.value.count == b.value.count, "mul: shapes \(a.shape) and \(b.shape) differ")
        let out = Tensor(shape: a.shape, zeroed: false)
        Elementwise.mul(a.value.data, b.value.data, out.data, out.count, accumulate: false)
        let result = self.result(out, inputs: a, b)
        record(result) {
            let g = result.grad!
            if a.requiresGrad { a.withGrad { da, acc in Elementwise.mul(g.data, b.value.data, da, g.count, accumulate: acc) } }
            if b.requiresGrad { b.withGrad { db, acc in Elementwise.mul(g.data, a.value.data, db, g.count, accumulate: acc) } }
        }
        return result
    }

    /// s · a.
    public func scale(_ a: Variable, _ s: Float) -> Variable {
        let out = Tensor(shape: a.shape, zeroed: false)
        Elementwise.scale(a.value.data, s, out.data, out.count, accumulate: false)
        let result = self.result(out, inputs: a)
        record(result) {
            let g = result.grad!
            a.withGrad { da, acc in Elementwise.scale(g.data, s, da, g.count, accumulate: acc) }
        }
        return result
    }

    /// Inverted dropout: each element kept with probability 1 − p and scaled by 1/(1 − p), the mask drawn from
    /// `seed` (the same seed gives the same mask, so a recomputed block drops the same elements).
    public func dropout(_ x: Variable, _ p: Float, seed: UInt64) -> Variable {
        precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
        if p == 0 { return x }
        var rng = RNG(seed: seed)
        let keep = 1 / (1 - p)
        let mask = Tensor(shape: x.shape, zeroed: false)
        for i in 0..<mask.count { mask.data[i] = rng.uniform() < Double(p) ? 0 : keep }
        let out = Tensor(shape: x.shape, zeroed: false)
        for i in 0..<out.count { out.data[i] = x.value.data[i] * mask.data[i] }
        let result = self.result(out, inputs: x)
        record(result) {
            let g = result.grad!
            x.withGrad { dx, acc in
                for i in 0..<g.count { dx[i] = (acc ? dx[i] : 0) + g.data[i] * mask.data[i] }
            }
        }
        return result
    }

    /// Splits the last dimension of x into consecutive pieces of the given widths (copies).
    public func split(_ x: Variable, _ widths: [Int]) -> [Variable] {
        let cols = x.value.lastDim, rows = x.value.rows
        precondition(widths.reduce(0, +) == cols, "split widths \(widths) do not sum to \(cols)")
        var offsets: [Int] = []
        var o = 0
        for w in widths { offsets.append(o); o += w }
        let prefix = Array(x.shape.dropLast())
        let outs: [Variable] = zip(widths, offsets).map { w, off in
            let t = Tensor(shape: prefix + [w], zeroed: false)
            Parallel.forEach(rows, grain: 64) { r in
                for row in r { (t.data + row * w).update(from: x.value.data + row * cols + off, count: w) }
            }
            return self.result(t, inputs: x)
        }
        record(outputs: outs) {
            x.withGrad { dx, acc in
                for (i, (w, off)) in zip(widths, offsets).enumerated() {
                    let g = outs[i].grad
                    Parallel.forEach(rows, grain: 64) { r in
                        for row in r {
                            let dst = dx + row * cols + off
                            if let g {
                                let src = g.data + row * w
                                if acc { for j in 0..<w { dst[j] += src[j] } } else { dst.update(from: src, count: w) }
                            } else if !acc {
                                dst.initialize(repeating: 0, count: w)
                            }
                        }
                    }
                }
            }
        }
        return outs
    }

    /// Σ x ⊙ w as a scalar, for a constant tensor w (a test probe: its gradient is w).
    public func weightedSum(_ x: Variable, _ w: Tensor) -> Variable {
        precondition(x.value.count == w.count, "weightedSum: shapes \(x.shape) and \(w.shape) differ")
        var s = 0.0
        for i in 0..<w.count { s += Double(x.value.data[i]) * Double(w.data[i]) }
        let out = Tensor(shape: [1], values: [Float(s)])
        let result = self.result(out, inputs: x)
        record(result) {
            let g = result.grad!.data[0]
            x.withGrad { dx, acc in Elementwise.scale(w.data, g, dx, w.count, accumulate: acc) }
        }
        return result
    }
}
