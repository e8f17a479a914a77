// Muon: momentum orthogonalized by a Newton–Schulz iteration, for the hidden weight matrices (as the
// modded-nanogpt speedrun and nanochat train them); embeddings, norms, biases and the head stay on AdamW.
//
// One step of a matrix W (rows × cols) with gradient G: B ← B + (1−μ)(G − B); U ← G + μ(B − G) (Nesterov)
// or B; O ← NS₅(U); W ← W − lr·√max(1, rows/cols)·O. NS₅ normalizes U by its Frobenius norm and runs five
// steps of X ← aX + (bA + cA²)X with A = XXᵀ and (a, b, c) = (3.4445, −4.7750, 2.0315), on the wide
// orientation (rows ≤ cols). Forge runs it in Float32 with BLAS products (the GPU versions use bf16).
import ForgeCore
import ForgeKernels

/// Muon's settings (learning rate at the schedule's peak, momentum, Nesterov, Newton–Schulz steps).
public struct MuonSettings: Codable, Equatable, Sendable {
    public var learningRate = 0.02
    public var momentum: Float = 0.95
    public var nesterov = true
    public var steps = 5
    public init() {}
}

/// The quintic Newton–Schulz iteration that maps a matrix to (approximately) the nearest semi-orthogonal one.
public enum NewtonSchulz {
    public static let coefficients: (a: Float, b: Float, c: Float) = (3.4445, -4.7750, 2.0315)

    /// `out` (rows × cols) ← NS(g) after `steps` iterations; `g` is not changed.
    public static func orthogonalize(_ g: UnsafePointer<Float>, rows: Int, cols: Int, steps: Int, out: UnsafeMutablePointer<Float>) {
        let tall = rows > cols
        let r = tall ? cols : rows, c = tall ? rows : cols
        var x = [Float](repeating: 0, count: r * c), y = [Float](repeating: 0, count: r * c)
        var a = [Float](repeating: 0, count: r * r), b = [Float](repeating: 0, count: r * r)
        let norm = Float(sumOfSquares(g, rows * cols).squareRoot()) + 1e-7
        x.withUnsafeMutableBufferPointer { x in
            if tall { for i in 0..<rows { for j in 0..<cols { x[j * rows + i] = g[i * cols + j] / norm } } }
            else { for i in 0..<(rows * cols) { x[i] = g[i] / norm } }
        }
        let (ca, cb, cc) = coefficients
        for _ in 0..<steps {
            x.withUnsafeMutableBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    a.withUnsafeMutableBufferPointer { a in
                        b.withUnsafeMutableBufferPointer { b in
                            let xp = x.baseAddress!, yp = y.baseAddress!, ap = a.baseAddress!, bp = b.baseAddress!
                            // A = X·Xᵀ; B = b·A + c·A·A; Y = a·X + B·X.
                            BLAS.parallelSgemm(transA: false, transB: true, m: r, n: r, k: c, a: xp, lda: c, b: xp, ldb: c, beta: 0, c: ap, ldc: r)
                            for i in 0..<(r * r) { bp[i] = cb * ap[i] }
                            BLAS.parallelSgemm(transA: false, transB: false, m: r, n: r, k: r, alpha: cc, a: ap, lda: r, b: ap, ldb: r,
                                               beta: 1, c: bp, ldc: r)
                            for i in 0..<(r * c) { yp[i] = ca * xp[i] }
                            BLAS.parallelSgemm(transA: false, transB: false, m: r, n: c, k: r, a: bp, lda: r, b: xp, ldb: c,
                                               beta: 1, c: yp, ldc: c)
                        }
                    }
                }
            }
            swap(&x, &y)
        }
        x.withUnsafeBufferPointer { x in
            if tall { for i in 0..<rows { for j in 0..<cols { out[i * cols + j] = x[j * rows + i] } } }
            else { out.update(from: x.baseAddress!, count: rows * cols) }
        }
    }
}

/// The Muon update of one matrix parameter.
public enum MuonKernel {
    /// Updates `p` (rows × cols) from gradient `g` (times `gradScale`, the clipping factor) and momentum buffer `buf`.
    public static func step(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, buf: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                            lr: Float, settings: MuonSettings, gradScale: Float) {
        let n = rows * cols, mu = settings.momentum
        var u = [Float](repeating: 0, count: n), o = [Float](repeating: 0, count: n)
        u.withUnsafeMutableBufferPointer { u in
            for i in 0..<n {
                let gi = g[i] * gradScale
                buf[i] += (1 - mu) * (gi - buf[i])
                u[i] = settings.nesterov ? gi + mu * (buf[i] - gi) : buf[i]
            }
            o.withUnsafeMutableBufferPointer { o in
                NewtonSchulz.orthogonalize(u.baseAddress!, rows: rows, cols: cols, steps: settings.steps, out: o.baseAddress!)
                let s = lr * Float(max(1, Double(rows) / Double(cols)).squareRoot())
                for i in 0..<n { p[i] -= s * o[i] }
            }
        }
    }
}
