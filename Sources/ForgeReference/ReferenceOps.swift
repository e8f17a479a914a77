// ReferenceOps: slow, obviously correct Float64 versions of every op, for tests only.
//
// Written from the textbook formulas with plain loops, sharing no code with the fast path
// (no SIMD, no BLAS, no blocking), so that the fast kernels and their hand-written backwards can
// be checked against these forwards and against central finite differences of them.
import Foundation

/// Naive Float64 ops over flat row-major arrays.
public enum Ref {
    /// C = op(A)·op(B) for `batches` pairs; A is m×k (k×m stored if transA), B is k×n (n×k if transB).
    /// `sharedB` uses one B for every batch.
    public static func matmul(_ a: [Double], _ b: [Double], batches: Int, m: Int, k: Int, n: Int,
                              transA: Bool, transB: Bool, sharedB: Bool = false) -> [Double] {
        var c = [Double](repeating: 0, count: batches * m * n)
        for z in 0..<batches {
            let ao = z * m * k, bo = sharedB ? 0 : z * k * n
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k {
                        let av = transA ? a[ao + p * m + i] : a[ao + i * k + p]
                        let bv = transB ? b[bo + j * k + p] : b[bo + p * n + j]
                        s += av * bv
                    }
                    c[z * m * n + i * n + j] = s
                }
            }
        }
        return c
    }

    /// y = x·Wᵀ + b with W [out, in].
    public static func linear(_ x: [Double], rows: Int, inF: Int, weight: [Double], bias: [Double]?, outF: Int) -> [Double] {
        var y = [Double](repeating: 0, count: rows * outF)
        for r in 0..<rows {
            for o in 0..<outF {
                var s = bias?[o] ?? 0
                for i in 0..<inF { s += x[r * inF + i] * weight[o * inF + i] }
                y[r * outF + o] = s
            }
        }
        return y
    }

    public static func layerNorm(_ x: [Double], rows: Int, cols: Int, weight: [Double], bias: [Double]?, eps: Double) -> [Double] {
        var y = x
        for r in 0..<rows {
            let row = Array(x[(r * cols)..<((r + 1) * cols)])
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            for c in 0..<cols {
                y[r * cols + c] = (row[c] - mean) / (variance + eps).squareRoot() * weight[c] + (bias?[c] ?? 0)
            }
        }
        return y
    }

    public static func rmsNorm(_ x: [Double], rows: Int, cols: Int, weight: [Double], eps: Double) -> [Double] {
        var y = x
        for r in 0..<rows {
            var ms = 0.0
            for c in 0..<cols { ms += x[r * cols + c] * x[r * cols + c] }
            let scale = 1 / (ms / Double(cols) + eps).squareRoot()
            for c in 0..<cols { y[r * cols + c] = x[r * cols + c] * scale * weight[c] }
        }
        return y
    }

    public static func gelu(_ x: [Double]) -> [Double] {
        x.map { v in 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) }
    }

    public static func silu(_ x: [Double]) -> [Double] { x.map { $0 / (1 + exp(-$0)) } }

    public static func swiglu(gate: [Double], up: [Double]) -> [Double] {
        zip(silu(gate), up).map { $0 * $1 }
    }

    public static func softmax(_ x: [Double], rows: Int, cols: Int) -> [Double] {
        var y = x
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)]
            let m = row.max()!
            let z = row.map { exp($0 - m) }.reduce(0, +)
            for c in 0..<cols { y[r * cols + c] = exp(x[r * cols + c] - m) / z }
        }
        return y
    }

    public static func embedding(_ table: [Double], cols: Int, ids: [Int]) -> [Double] {
        ids.flatMap { table[($0 * cols)..<(($0 + 1) * cols)] }
    }

    /// Rotary embedding, "rotate half" layout; row r is at position offset + r % seq.
    public static func rope(_ x: [Double], rows: Int, seq: Int, heads: Int, headDim: Int, theta: Double, offset: Int = 0) -> [Double] {
        var y = x
        let half = headDim / 2
        for r in 0..<rows {
            let pos = Double(offset + r % seq)
            for h in 0..<heads {
                let base = r * heads * headDim + h * headDim
                for i in 0..<half {
                    let angle = pos * pow(theta, -2 * Double(i) / Double(headDim))
                    let x1 = x[base + i], x2 = x[base + i + half]
                    y[base + i] = x1 * cos(angle) - x2 * sin(angle)
                    y[base + i + half] = x2 * cos(angle) + x1 * sin(angle)
                }
            }
        }
        return y
    }

    /// Multi-head attention over q [(B·T), H·D], k and v [(B·T), G·D]; full T×T scores per head.
    public static func attention(q: [Double], k: [Double], v: [Double], batch: Int, seq: Int, heads: Int,
                                 kvHeads: Int, headDim: Int, causal: Bool, window: Int? = nil, scale: Double? = nil) -> [Double] {
        let scale = scale ?? 1 / Double(headDim).squareRoot()
        var out = [Double](repeating: 0, count: q.count)
        let qw = heads * headDim, kw = kvHeads * headDim, group = heads / kvHeads
        for b in 0..<batch {
            for h in 0..<heads {
                let g = h / group
                for i in 0..<seq {
                    var scores = [Double](repeating: -Double.infinity, count: seq)
                    for j in 0..<seq where (!causal || j <= i) && (window.map { i - j < $0 } ?? true) {
                        var s = 0.0
                        for d in 0..<headDim { s += q[(b * seq + i) * qw + h * headDim + d] * k[(b * seq + j) * kw + g * headDim + d] }
                        scores[j] = s * scale
                    }
                    let p = softmax(scores, rows: 1, cols: seq)
                    for d in 0..<headDim {
                        var s = 0.0
                        for j in 0..<seq where p[j] > 0 { s += p[j] * v[(b * seq + j) * kw + g * headDim + d] }
                        out[(b * seq + i) * qw + h * headDim + d] = s
                    }
                }
            }
        }
        return out
    }

    /// Mean cross-entropy over rows whose target is not negative.
    public static func crossEntropy(_ logits: [Double], rows: Int, vocab: Int, targets: [Int]) -> Double {
        var total = 0.0, counted = 0
        for r in 0..<rows where targets[r] >= 0 {
            let row = logits[(r * vocab)..<((r + 1) * vocab)]
            let m = row.max()!
            let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
            total += lse - logits[r * vocab + targets[r]]
            counted += 1
        }
        return counted > 0 ? total / Double(counted) : 0
    }

    /// Central finite-difference gradient of `f` at `x`, coordinate by coordinate (or only `indices`).
    public static func numericalGradient(_ x: [Double], indices: [Int]? = nil, step: Double = 1e-6,
                                         _ f: ([Double]) -> Double) -> [Int: Double] {
        var grads: [Int: Double] = [:]
        var xp = x
        for i in indices ?? Array(x.indices) {
            let h = step * max(1, abs(x[i]))
            xp[i] = x[i] + h
            let up = f(xp)
            xp[i] = x[i] - h
            let down = f(xp)
            xp[i] = x[i]
            grads[i] = (up - down) / (2 * h)
        }
        return grads
    }
}
