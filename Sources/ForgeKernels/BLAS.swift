// BLAS: row-major SGEMM through CBLAS (OpenBLAS on Linux, Accelerate on Apple platforms).
//
// OpenBLAS is pinned to one thread: Forge splits big products itself across `Parallel` workers,
// so BLAS calls made inside other parallel kernels (attention) never oversubscribe the cores and
// no BLAS worker spins while Forge's own kernels run.
import CBLAS
import ForgeCore

/// Row-major matrix products.
public enum BLAS {
    private static let configured: Bool = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
        return true
    }()

    /// C[m×n] = alpha · op(A) · op(B) + beta · C on the calling thread.
    /// op(A) is m×k (A stored k×m when `transA`), op(B) is k×n (B stored n×k when `transB`).
    @inlinable
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        ensureConfigured()
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    @usableFromInline static func ensureConfigured() { _ = configured }

    /// The same product split over `Parallel.threads` workers, by rows of C or by columns when wider.
    /// Each worker owns a fixed block of C, so results do not depend on timing.
    public static func parallelSgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let flops = 2 * m * n * max(k, 1)
        if Parallel.threads == 1 || flops < 2_000_000 {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if m >= n {
            let blocks = max(1, m / 8)
            Parallel.forEach(blocks) { r in
                let lo = r.lowerBound * 8, hi = r.upperBound == blocks ? m : r.upperBound * 8
                let aOff = transA ? lo : lo * lda
                sgemm(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                      a: a + aOff, lda: lda, b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            }
        } else {
            let blocks = max(1, n / 16)
            Parallel.forEach(blocks) { r in
                let lo = r.lowerBound * 16, hi = r.upperBound == blocks ? n : r.upperBound * 16
                let bOff = transB ? lo * ldb : lo
                sgemm(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha,
                      a: a, lda: lda, b: b + bOff, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }
}
