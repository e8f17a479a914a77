// Layer ops: norms, activations, softmax, embedding, RoPE, attention and cross-entropy.
// Each forward calls its kernel; the recorded closure beside it calls the matching backward.
import ForgeCore
import ForgeKernels

extension Tape {
    // MARK: - Norms

    /// LayerNorm over the last dimension with weight and optional bias.
    public func layerNorm(_ x: Variable, weight: Variable, bias: Variable?, eps: Float) -> Variable {
        let (rows, cols) = (x.value.rows, x.value.lastDim)
        precondition(weight.shape == [cols], "layerNorm weight \(weight.shape) does not fit input \(x.shape)")
        let out = Tensor(shape: x.shape, zeroed: false)
        let mean = Tensor(shape: [rows], zeroed: false), rstd = Tensor(shape: [rows], zeroed: false)
        Norms.layerNormForward(x: x.value.data, weight: weight.value.data, bias: bias?.value.data, out: out.data,
                               mean: mean.data, rstd: rstd.data, rows: rows, cols: cols, eps: eps)
        let result = self.result(out, inputs: x, weight, bias)
        record(result) {
            let g = result.grad!.data
            // The three gradients come from one pass; each buffer is claimed first.
            var dx: (UnsafeMutablePointer<Float>, Bool)?
            if x.requiresGrad { x.withGrad { p, a in dx = (p, a) } }
            var dw: (UnsafeMutablePointer<Float>, Bool)?
            if weight.requiresGrad { weight.withGrad { p, a in dw = (p, a) } }
            var db: (UnsafeMutablePointer<Float>, Bool)?
            if let bias, bias.requiresGrad { bias.withGrad { p, a in db = (p, a) } }
            // Parameter gradients share one accumulate flag, so a fresh one is zeroed first.
            let accParams = (dw?.1 ?? true) && (db?.1 ?? true)
            if !accParams {
                if let dw, dw.1 == false { dw.0.initialize(repeating: 0, count: cols) }
                if let db, db.1 == false { db.0.initialize(repeating: 0, count: cols) }
            }
            Norms.layerNormBackward(dout: g, x: x.value.data, weight: weight.value.data, mean: mean.data, rstd: rstd.data,
                                    dx: dx?.0, accumulateDx: dx?.1 ?? false, dweight: dw?.0, dbias: db?.0,
                                    accumulateParams: true, rows: rows, cols: cols)
        }
        return result
    }

    /// RMSNorm over the last dimension: x / rms(x) · weight.
    public func rmsNorm(_ x: Variable, weight: Variable, eps: Float) -> Variable {
        let (rows, cols) = (x.value.rows, x.value.lastDim)
        precondition(weight.shape == [cols], "rmsNorm weight \(weight.shape) does not fit input \(x.shape)")
        let out = Tensor(shape: x.shape, zeroed: false)
        let rstd = Tensor(shape: [rows], zeroed: false)
        Norms.rmsNormForward(x: x.value.data, weight: weight.value.data, out: out.data, rstd: rstd.data,
                             rows: rows, cols: cols, eps: eps)
        let result = self.result(out, inputs: x, weight)
        record(result) {
            var dx: (UnsafeMutablePointer<Float>, Bool)?
            if x.requiresGrad { x.withGrad { p, a in dx = (p, a) } }
            var dw: (UnsafeMutablePointer<Float>, Bool)?
            if weight.requiresGrad { weight.withGrad { p, a in dw = (p, a) } }
            Norms.rmsNormBackward(dout: result.grad!.data, x: x.value.data, weight: weight.value.data, rstd: rstd.data,
                                  dx: dx?.0, accumulateDx: dx?.1 ?? false, dweight: dw?.0, accumulateParams: dw?.1 ?? false,
                                  rows: rows, cols: cols)
        }
        return result
    }

    // MARK: - Activations

    /// GELU, tanh approximation (GPT-2's "gelu_new").
    public func gelu(_ x: Variable) -> Variable {
        let out = Tensor(shape: x.shape, zeroed: false)
        Activations.geluForward(x.value.data, out.data, out.count)
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in Activations.geluBackward(x.value.data, result.grad!.data, dx, out.count, accumulate: acc) }
        }
        return result
    }

    /// SiLU: x·σ(x).
    public func silu(_ x: Variable) -> Variable {
        let out = Tensor(shape: x.shape, zeroed: false)
        Activations.siluForward(x.value.data, out.data, out.count)
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in Activations.siluBackward(x.value.data, result.grad!.data, dx, out.count, accumulate: acc) }
        }
        return result
    }

    /// SwiGLU: silu(gate) ⊙ up.
    public func swiglu(gate: Variable, up: Variable) -> Variable {
        precondition(gate.value.count == up.value.count, "swiglu: shapes \(gate.shape) and \(up.shape) differ")
        let out = Tensor(shape: gate.shape, zeroed: false)
        Activations.swigluForward(gate: gate.value.data, up: up.value.data, out.data, out.count)
        let result = self.result(out, inputs: gate, up)
        record(result) {
            var dg: (UnsafeMutablePointer<Float>, Bool)?
            if gate.requiresGrad { gate.withGrad { p, a in dg = (p, a) } }
            var du: (UnsafeMutablePointer<Float>, Bool)?
            if up.requiresGrad { up.withGrad { p, a in du = (p, a) } }
            Activations.swigluBackward(gate: gate.value.data, up: up.value.data, dy: result.grad!.data,
                                       dgate: dg?.0, accumulateGate: dg?.1 ?? false, dup: du?.0, accumulateUp: du?.1 ?? false,
                                       out.count)
        }
        return result
    }

    /// Softmax over the last dimension.
    public func softmax(_ x: Variable) -> Variable {
        let (rows, cols) = (x.value.rows, x.value.lastDim)
        let out = Tensor(shape: x.shape, zeroed: false)
        Softmax.forward(x.value.data, out.data, rows: rows, cols: cols)
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in Softmax.backward(y: out.data, dy: result.grad!.data, dx: dx, rows: rows, cols: cols, accumulate: acc) }
        }
        return result
    }

    // MARK: - Embedding and positions

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

    /// Rotary position embedding on x [(B·T), H·D], rows at positions `offset + row % seq`.
    public func rope(_ x: Variable, seq: Int, heads: Int, table: RoPETable, offset: Int = 0) -> Variable {
        let rows = x.value.rows
        precondition(x.value.lastDim == heads * table.headDim, "rope: input \(x.shape) is not \(heads) heads of \(table.headDim)")
        let out = Tensor(shape: x.shape, zeroed: false)
        RoPE.apply(x.value.data, out.data, rows: rows, seq: seq, heads: heads, table: table, offset: offset)
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in
                RoPE.apply(result.grad!.data, dx, rows: rows, seq: seq, heads: heads, table: table, offset: offset,
                           inverse: true, accumulate: acc)
            }
        }
        return result
    }

    // MARK: - Attention

    /// Scaled dot-product attention (causal by default) with grouped-query heads; see `Attention`.
    public func attention(q: Variable, k: Variable, v: Variable, shape: AttentionShape) -> Variable {
        let rows = shape.batch * shape.seq
        precondition(q.value.count == rows * shape.heads * shape.headDim, "attention: q \(q.shape) does not fit \(shape)")
        precondition(k.value.count == rows * shape.kvHeads * shape.headDim && v.value.count == k.value.count,
                     "attention: k \(k.shape) or v \(v.shape) does not fit \(shape)")
        let out = Tensor(shape: [rows, shape.heads * shape.headDim], zeroed: false)
        let lse = Tensor(shape: [shape.batch, shape.heads, shape.seq], zeroed: false)
        Attention.forward(q: q.value.data, k: k.value.data, v: v.value.data, out: out.data, lse: lse.data, shape: shape)
        let result = self.result(out, inputs: q, k, v)
        record(result) {
            func claim(_ x: Variable) -> (UnsafeMutablePointer<Float>, Bool, Tensor?) {
                if x.requiresGrad { var r: (UnsafeMutablePointer<Float>, Bool)!; x.withGrad { r = ($0, $1) }; return (r.0, r.1, nil) }
                let scratch = Tensor(shape: x.shape, zeroed: false)
                return (scratch.data, false, scratch)
            }
            let dq = claim(q), dk = claim(k), dv = claim(v)
            Attention.backward(q: q.value.data, k: k.value.data, v: v.value.data, out: out.data, lse: lse.data,
                               dout: result.grad!.data, dq: dq.0, accumulateQ: dq.1, dk: dk.0, accumulateK: dk.1,
                               dv: dv.0, accumulateV: dv.1, shape: shape)
            withExtendedLifetime((dq.2, dk.2, dv.2)) {}
        }
        return result
    }

    // MARK: - Loss

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
