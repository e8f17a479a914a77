// Softmax over the last dimension, and the fused softmax cross-entropy with an ignore mask.
import ForgeCore
import Foundation

public enum Softmax {
    /// Writes max and log-sum-exp of one row; returns lse.
    @inlinable @inline(__always)
    public static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        let m = rowMax(x, n)
        if m == -.infinity { return -.infinity }
        let mb = F16x(repeating: m)
        var acc = F16x()
        var i = 0
        while i + 16 <= n { acc += vexp(load16(x, i) - mb); i += 16 }
        if i < n { acc += vexp(loadPartial(x, i, n - i) - mb).replacing(with: 0, where: laneMask(n - i)) }
        return m + log(hsum(acc))
    }

    /// The largest of n floats (−∞ for none).
    @inlinable @inline(__always)
    public static func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var mv = F16x(repeating: -.infinity)
        var i = 0
        while i + 16 <= n { let v = load16(x, i); mv = mv.replacing(with: v, where: mv .< v); i += 16 }
        var m = hmax(mv)
        while i < n { m = max(m, x[i]); i += 1 }
        return m
    }

    /// Lanes at or past `k` set (for masking a partial vector).
    @inlinable @inline(__always)
    public static func laneMask(_ k: Int) -> SIMDMask<SIMD16<Int32>> {
        let idx = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        return idx .>= SIMD16<Int32>(repeating: Int32(k))
    }

    /// y = softmax(x) per row of an N×C matrix.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        Parallel.forEach(rows, grain: 8) { r in
            for row in r {
                let xr = x + row * cols, yr = y + row * cols
                let lse = F16x(repeating: logSumExp(xr, cols))
                map16(cols, xr, yr) { vexp($0 - lse) }
            }
        }
    }

    /// dx (+)= y ⊙ (dy − Σ dy⊙y) per row.
    public static func backward(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, cols: Int, accumulate: Bool) {
        Parallel.forEach(rows, grain: 8) { r in
            for row in r {
                let yr = y + row * cols, gr = dy + row * cols, dr = dx + row * cols
                var acc = F16x()
                var i = 0
                while i + 16 <= cols { acc.addProduct(load16(yr, i), load16(gr, i)); i += 16 }
                var dot = hsum(acc)
                while i < cols { dot += yr[i] * gr[i]; i += 1 }
                for j in 0..<cols {
                    let v = yr[j] * (gr[j] - dot)
                    dr[j] = accumulate ? dr[j] + v : v
                }
            }
        }
    }
}

public enum CrossEntropy {
    /// Per-row loss lse(x) − x[target] into `losses` and lse into `lse`; rows with target < 0 get 0.
    /// Returns the number of counted rows.
    public static func forward(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
        losses: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        Parallel.forEach(rows, grain: 4) { r in
            for row in r {
                let t = Int(targets[row])
                guard t >= 0 else { losses[row] = 0; lse[row] = 0; continue }
                let xr = logits + row * vocab
                let l = Softmax.logSumExp(xr, vocab)
                lse[row] = l
                losses[row] = l - xr[t]
            }
        }
    }

    /// dlogits (+)= scale · rowScale[row] · (softmax(x) − onehot(target)) per counted row; ignored rows get 0.
    public static func backward(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, lse: UnsafePointer<Float>,
        rows: Int, vocab: Int, scale scale0: Float, rowScale: UnsafePointer<Float>? = nil,
        dlogits: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        Parallel.forEach(rows, grain: 4) { r in
            for row in r {
                let t = Int(targets[row])
                let xr = logits + row * vocab, dr = dlogits + row * vocab
                if t < 0 {
                    if !accumulate { dr.initialize(repeating: 0, count: vocab) }
                    continue
                }
                let scale = rowScale.map { scale0 * $0[row] } ?? scale0
                let l = F16x(repeating: lse[row]), s = F16x(repeating: scale)
                var i = 0
                while i + 16 <= vocab {
                    var g = vexp(load16(xr, i) - l) * s
                    if accumulate { g += load16(dr, i) }
                    store16(g, dr, i); i += 16
                }
                while i < vocab {
                    let g = Float(exp(Double(xr[i] - lse[row]))) * scale
                    dr[i] = accumulate ? dr[i] + g : g
                    i += 1
                }
                dr[t] -= scale
            }
        }
    }
}
