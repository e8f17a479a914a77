// Norm ops: LayerNorm and RMSNorm with their backwards.
import ForgeCore
import ForgeKernels

extension Tape {
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

    /// RMSNorm over the last dimension: x / rms(x) · (offset + weight) (Gemma's norms use offset 1).
    /// A weight of C values normalizes rows of C; a [N, H·C] input is normalized per head of C.
    public func rmsNorm(_ x: Variable, weight: Variable, eps: Float, offset: Float = 0) -> Variable {
        let cols = weight.value.count
        precondition(weight.shape.count == 1 && x.value.lastDim % cols == 0, "rmsNorm weight \(weight.shape) does not fit input \(x.shape)")
        let rows = x.value.count / cols
        let out = Tensor(shape: x.shape, zeroed: false)
        let rstd = Tensor(shape: [rows], zeroed: false)
        var scale = weight.value
        if offset != 0 {
            scale = Tensor(shape: [cols], zeroed: false)
            for i in 0..<cols { scale.data[i] = weight.value.data[i] + offset }
        }
        Norms.rmsNormForward(x: x.value.data, weight: scale.data, out: out.data, rstd: rstd.data,
                             rows: rows, cols: cols, eps: eps)
        let result = self.result(out, inputs: x, weight)
        record(result) {
            var dx: (UnsafeMutablePointer<Float>, Bool)?
            if x.requiresGrad { x.withGrad { p, a in dx = (p, a) } }
            var dw: (UnsafeMutablePointer<Float>, Bool)?
            if weight.requiresGrad { weight.withGrad { p, a in dw = (p, a) } }
            Norms.rmsNormBackward(dout: result.grad!.data, x: x.value.data, weight: scale.data, rstd: rstd.data,
                                  dx: dx?.0, accumulateDx: dx?.1 ?? false, dweight: dw?.0, accumulateParams: dw?.1 ?? false,
                                  rows: rows, cols: cols)
        }
        return result
    }
}
