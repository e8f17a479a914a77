// Activation ops: GELU, SiLU, SwiGLU and softmax, each with its backward.
import ForgeCore
import Foundation
import ForgeKernels

extension Tape {
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

    /// GELU, exact: x·Φ(x) (BERT's "gelu").
    public func geluErf(_ x: Variable) -> Variable {
        let out = Tensor(shape: x.shape, zeroed: false)
        Activations.geluErfForward(x.value.data, out.data, out.count)
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in Activations.geluErfBackward(x.value.data, result.grad!.data, dx, out.count, accumulate: acc) }
        }
        return result
    }

    /// log σ(x) elementwise, computed stably (min(x, 0) − log(1 + e^−|x|)); its gradient is σ(−x).
    public func logSigmoid(_ x: Variable) -> Variable {
        let out = Tensor(shape: x.shape, zeroed: false)
        for i in 0..<out.count {
            let v = Double(x.value.data[i])
            out.data[i] = Float(min(v, 0) - log1p(exp(-abs(v))))
        }
        let result = self.result(out, inputs: x)
        record(result) {
            x.withGrad { dx, acc in
                for i in 0..<out.count {
                    let g = result.grad!.data[i] * Float(1 / (1 + exp(Double(x.value.data[i]))))
                    dx[i] = (acc ? dx[i] : 0) + g
                }
            }
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
}
