// Activations: GELU (tanh form, as GPT-2), SiLU and SwiGLU (as Llama), forward and backward.
import ForgeCore

public enum Activations {
    @usableFromInline static let geluC = Float(0.7978845608028654)  // sqrt(2/pi)
    @usableFromInline static let geluA = Float(0.044715)

    /// y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    public static func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            map16(r.count, x + r.lowerBound, y + r.lowerBound) { v in
                let u = F16x(repeating: geluC) * (v + F16x(repeating: geluA) * v * v * v)
                return 0.5 * v * (1 + vtanh(u))
            }
        }
    }

    /// dx (+)= dy · gelu'(x).
    public static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            var i = r.lowerBound
            @inline(__always) func grad(_ v: F16x) -> F16x {
                let v2 = v * v
                let t = vtanh(F16x(repeating: geluC) * (v + F16x(repeating: geluA) * v2 * v))
                let du = F16x(repeating: geluC) * (1 + F16x(repeating: 3 * geluA) * v2)
                return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du
            }
            while i + 16 <= r.upperBound {
                var g = load16(dy, i) * grad(load16(x, i))
                if accumulate { g += load16(dx, i) }
                store16(g, dx, i); i += 16
            }
            if i < r.upperBound {
                let k = r.upperBound - i
                var g = loadPartial(dy, i, k) * grad(loadPartial(x, i, k))
                if accumulate { g += loadPartial(dx, i, k) }
                storePartial(g, dx, i, k)
            }
        }
    }

    /// y = x·σ(x).
    public static func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            map16(r.count, x + r.lowerBound, y + r.lowerBound) { v in v * vsigmoid(v) }
        }
    }

    /// dx (+)= dy · σ(x)·(1 + x·(1 − σ(x))).
    public static func siluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int, accumulate: Bool) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            var i = r.lowerBound
            while i < r.upperBound {
                let k = min(16, r.upperBound - i)
                let v = loadN(x, i, k)
                let g = loadN(dy, i, k)
                let s = vsigmoid(v)
                var d = g * s * (1 + v * (1 - s))
                if accumulate { d += loadN(dx, i, k) }
                storeN(d, dx, i, k)
                i += k
            }
        }
    }

    /// y = silu(gate) · up.
    public static func swigluForward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            var i = r.lowerBound
            while i < r.upperBound {
                let k = min(16, r.upperBound - i)
                let g = loadN(gate, i, k)
                let u = loadN(up, i, k)
                let v = g * vsigmoid(g) * u
                storeN(v, y, i, k)
                i += k
            }
        }
    }

    /// dgate (+)= dy·up·silu'(gate); dup (+)= dy·silu(gate). Either output may be skipped.
    public static func swigluBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, dy: UnsafePointer<Float>,
        dgate: UnsafeMutablePointer<Float>?, accumulateGate: Bool,
        dup: UnsafeMutablePointer<Float>?, accumulateUp: Bool, _ n: Int
    ) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            var i = r.lowerBound
            while i < r.upperBound {
                let k = min(16, r.upperBound - i)
                let g = loadN(gate, i, k)
                let u = loadN(up, i, k)
                let d = loadN(dy, i, k)
                let s = vsigmoid(g)
                if let dgate {
                    var v = d * u * s * (1 + g * (1 - s))
                    if accumulateGate { v += loadN(dgate, i, k) }
                    storeN(v, dgate, i, k)
                }
                if let dup {
                    var v = d * g * s
                    if accumulateUp { v += loadN(dup, i, k) }
                    storeN(v, dup, i, k)
                }
                i += k
            }
        }
    }

    /// y = x·Φ(x) = 0.5·x·(1 + erf(x/√2)): the exact GELU (BERT's "gelu", PyTorch's default).
    public static func geluErfForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            map16(r.count, x + r.lowerBound, y + r.lowerBound) { v in 0.5 * v * (1 + verf(v * F16x(repeating: 0.7071067811865476))) }
        }
    }

    /// dx (+)= dy · (Φ(x) + x·φ(x)).
    public static func geluErfBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int,
                                       accumulate: Bool) {
        Parallel.forEach(n, grain: 1 << 15) { r in
            var i = r.lowerBound
            @inline(__always) func grad(_ v: F16x) -> F16x {
                let cdf = 0.5 * (1 + verf(v * F16x(repeating: 0.7071067811865476)))
                return cdf + v * F16x(repeating: 0.3989422804014327) * vexp(-0.5 * v * v)
            }
            while i + 16 <= r.upperBound {
                var g = load16(dy, i) * grad(load16(x, i))
                if accumulate { g += load16(dx, i) }
                store16(g, dx, i); i += 16
            }
            if i < r.upperBound {
                let k = r.upperBound - i
                var g = loadPartial(dy, i, k) * grad(loadPartial(x, i, k))
                if accumulate { g += loadPartial(dx, i, k) }
                storePartial(g, dx, i, k)
            }
        }
    }
}
