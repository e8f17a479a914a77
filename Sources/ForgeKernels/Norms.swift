// Norms: LayerNorm and RMSNorm over the last dimension, forward and backward.
//
// x is N×C (N rows of C channels). Forward saves per-row statistics (mean, 1/std) so that the
// backward needs no second pass over x for them. Weight and bias gradients are reduced per worker
// in fixed row blocks and then summed in order, so they are deterministic.
import ForgeCore

public enum Norms {
    // MARK: - LayerNorm

    /// y = (x − mean) · rstd · w + b per row; writes mean[N] and rstd[N].
    public static func layerNormForward(
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, cols: Int, eps: Float
    ) {
        Parallel.forEach(rows, grain: 16) { r in
            for row in r {
                let xr = x + row * cols, yr = out + row * cols
                let m = rowSum(xr, cols) / Float(cols)
                var acc = F16x()
                var i = 0
                let mv = F16x(repeating: m)
                while i + 16 <= cols { let d = load16(xr, i) - mv; acc.addProduct(d, d); i += 16 }
                var v = hsum(acc)
                while i < cols { let d = xr[i] - m; v += d * d; i += 1 }
                let s = 1 / (v / Float(cols) + eps).squareRoot()
                mean[row] = m; rstd[row] = s
                let sv = F16x(repeating: s)
                i = 0
                while i + 16 <= cols {
                    var y = (load16(xr, i) - mv) * sv * load16(weight, i)
                    if let bias { y += load16(bias, i) }
                    store16(y, yr, i); i += 16
                }
                while i < cols { yr[i] = (xr[i] - m) * s * weight[i] + (bias?[i] ?? 0); i += 1 }
            }
        }
    }

    /// dx (+)= LayerNorm input gradient; dweight, dbias (+)= their gradients.
    public static func layerNormBackward(
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
        dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?, accumulateParams: Bool,
        rows: Int, cols: Int
    ) {
        let parts = partialBuffers(rows: rows, cols: cols, count: 2)
        defer { parts.release() }
        Parallel.forEach(parts.blocks) { r in
            for blk in r {
                let pw = parts.block(blk, 0), pb = parts.block(blk, 1)
                pw.initialize(repeating: 0, count: cols); pb.initialize(repeating: 0, count: cols)
                for row in parts.rows(blk) {
                    let xr = x + row * cols, gr = dout + row * cols
                    let m = F16x(repeating: mean[row]), s = F16x(repeating: rstd[row])
                    // dnorm = g·w;  dx = s · (dnorm − mean(dnorm) − xhat · mean(dnorm·xhat))
                    var a1 = F16x(), a2 = F16x()
                    var i = 0
                    while i + 16 <= cols {
                        let xhat = (load16(xr, i) - m) * s
                        let g = load16(gr, i)
                        let dn = g * load16(weight, i)
                        a1 += dn; a2.addProduct(dn, xhat)
                        var w = load16(pw, i); w.addProduct(g, xhat); store16(w, pw, i)
                        store16(load16(pb, i) + g, pb, i)
                        i += 16
                    }
                    var s1 = hsum(a1), s2 = hsum(a2)
                    while i < cols {
                        let xhat = (xr[i] - mean[row]) * rstd[row], g = gr[i], dn = g * weight[i]
                        s1 += dn; s2 += dn * xhat; pw[i] += g * xhat; pb[i] += g
                        i += 1
                    }
                    guard let dx else { continue }
                    let m1 = F16x(repeating: s1 / Float(cols)), m2 = F16x(repeating: s2 / Float(cols))
                    let dr = dx + row * cols
                    i = 0
                    while i + 16 <= cols {
                        let xhat = (load16(xr, i) - m) * s
                        let dn = load16(gr, i) * load16(weight, i)
                        var v = (dn - m1 - xhat * m2) * s
                        if accumulateDx { v += load16(dr, i) }
                        store16(v, dr, i); i += 16
                    }
                    while i < cols {
                        let xhat = (xr[i] - mean[row]) * rstd[row], dn = gr[i] * weight[i]
                        let v = (dn - s1 / Float(cols) - xhat * s2 / Float(cols)) * rstd[row]
                        dr[i] = accumulateDx ? dr[i] + v : v
                        i += 1
                    }
                }
            }
        }
        parts.reduce(index: 0, into: dweight, cols: cols, accumulate: accumulateParams)
        parts.reduce(index: 1, into: dbias, cols: cols, accumulate: accumulateParams)
    }

    // MARK: - RMSNorm

    /// y = x · rstd · w with rstd = 1/sqrt(mean(x²) + eps); writes rstd[N].
    public static func rmsNormForward(
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>, rows: Int, cols: Int, eps: Float
    ) {
        Parallel.forEach(rows, grain: 16) { r in
            for row in r {
                let xr = x + row * cols, yr = out + row * cols
                let s = 1 / (Float(sumOfSquares(xr, cols)) / Float(cols) + eps).squareRoot()
                rstd[row] = s
                let sv = F16x(repeating: s)
                var i = 0
                while i + 16 <= cols { store16(load16(xr, i) * sv * load16(weight, i), yr, i); i += 16 }
                while i < cols { yr[i] = xr[i] * s * weight[i]; i += 1 }
            }
        }
    }

    /// dx (+)= RMSNorm input gradient; dweight (+)= its gradient.
    public static func rmsNormBackward(
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool,
        dweight: UnsafeMutablePointer<Float>?, accumulateParams: Bool, rows: Int, cols: Int
    ) {
        let parts = partialBuffers(rows: rows, cols: cols, count: 1)
        defer { parts.release() }
        Parallel.forEach(parts.blocks) { r in
            for blk in r {
                let pw = parts.block(blk, 0)
                pw.initialize(repeating: 0, count: cols)
                for row in parts.rows(blk) {
                    let xr = x + row * cols, gr = dout + row * cols
                    let s = rstd[row], sv = F16x(repeating: s)
                    // dx = s · (g·w − xhat · mean(g·w·xhat))
                    var acc = F16x()
                    var i = 0
                    while i + 16 <= cols {
                        let xhat = load16(xr, i) * sv, g = load16(gr, i)
                        acc.addProduct(g * load16(weight, i), xhat)
                        var w = load16(pw, i); w.addProduct(g, xhat); store16(w, pw, i)
                        i += 16
                    }
                    var dot = hsum(acc)
                    while i < cols { let xhat = xr[i] * s; dot += gr[i] * weight[i] * xhat; pw[i] += gr[i] * xhat; i += 1 }
                    guard let dx else { continue }
                    let mv = F16x(repeating: dot / Float(cols))
                    let dr = dx + row * cols
                    i = 0
                    while i + 16 <= cols {
                        let xhat = load16(xr, i) * sv
                        var v = (load16(gr, i) * load16(weight, i) - xhat * mv) * sv
                        if accumulateDx { v += load16(dr, i) }
                        store16(v, dr, i); i += 16
                    }
                    while i < cols {
                        let v = (gr[i] * weight[i] - xr[i] * s * dot / Float(cols)) * s
                        dr[i] = accumulateDx ? dr[i] + v : v
                        i += 1
                    }
                }
            }
        }
        parts.reduce(index: 0, into: dweight, cols: cols, accumulate: accumulateParams)
    }

    @inline(__always)
    static func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a = F16x(), b = F16x()
        var i = 0
        while i + 32 <= n { a += load16(p, i); b += load16(p, i + 16); i += 32 }
        while i + 16 <= n { a += load16(p, i); i += 16 }
        var s = hsum(a + b)
        while i < n { s += p[i]; i += 1 }
        return s
    }
}

/// Per-block partial sums of parameter gradients, reduced in a fixed order (deterministic).
struct PartialBuffers {
    let blocks: Int
    let rowsTotal: Int
    let cols: Int
    let count: Int
    let storage: UnsafeMutablePointer<Float>

    func rows(_ blk: Int) -> Range<Int> { (rowsTotal * blk / blocks)..<(rowsTotal * (blk + 1) / blocks) }
    func block(_ blk: Int, _ which: Int) -> UnsafeMutablePointer<Float> { storage + (blk * count + which) * cols }

    func reduce(index: Int, into out: UnsafeMutablePointer<Float>?, cols: Int, accumulate: Bool) {
        guard let out else { return }
        if !accumulate { out.initialize(repeating: 0, count: cols) }
        for blk in 0..<blocks {
            let p = block(blk, index)
            for i in 0..<cols { out[i] += p[i] }
        }
    }

    func release() { storage.deallocate() }
}

/// Fixed number of row blocks (independent of thread count, so results are reproducible anywhere).
func partialBuffers(rows: Int, cols: Int, count: Int) -> PartialBuffers {
    let blocks = max(1, min(16, rows / 64))
    let storage = UnsafeMutablePointer<Float>.allocate(capacity: max(1, blocks * count * cols))
    return PartialBuffers(blocks: blocks, rowsTotal: rows, cols: cols, count: count, storage: storage)
}
