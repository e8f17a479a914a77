// Attention op: causal multi-head attention with grouped-query heads (see ForgeKernels/Attention).
import ForgeCore
import ForgeKernels

extension Tape {
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
}
