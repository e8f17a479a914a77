// BLAS: row-major SGEMM through CBLAS (OpenBLAS on Linux, Accelerate on Apple platforms).
//
// OpenBLAS is pinned to one thread: Forge splits big products itself across `Parallel` workers,
// so BLAS calls made inside other parallel kernels (attention) never oversubscribe the cores and
// no BLAS worker spins while Forge's own kernels run.
//
// On Linux OpenBLAS is opened at first use rather than linked: its kernel choice happens when the
// library loads, and Debian's 0.3.21 does not recognise recent Intel Xeons (it falls back to SSE3
// "Prescott" kernels, 5x slower). Unless OPENBLAS_CORETYPE is already set, Forge sets it from the
// CPU's flags (SkylakeX for AVX-512, Haswell for AVX2) before loading the library.
import CBLAS
import ForgeCore
#if canImport(Glibc)
import Glibc
#endif

/// Row-major matrix products.
public enum BLAS {
    #if canImport(Accelerate)
    static let ready = true
    @inline(__always) static func callSgemm(_ ta: CBLAS_TRANSPOSE, _ tb: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Float,
                                            _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>, _ ldb: Int32,
                                            _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
    /// The BLAS kernel family in use.
    public static var coreName: String { "Accelerate" }
    #else
    typealias SgemmFn = @convention(c) (CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Float,
                                        UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
                                        UnsafeMutablePointer<Float>?, Int32) -> Void
    struct Library: @unchecked Sendable {
        let sgemm: SgemmFn
        let coreName: String
    }
    static let library: Library = {
        if getenv("OPENBLAS_CORETYPE") == nil {
            if CPUFeatures.hasAVX512 { setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) }
            else if CPUFeatures.hasAVX2 { setenv("OPENBLAS_CORETYPE", "Haswell", 1) }
        }
        // Forge threads its own products and calls SGEMM on one thread. OpenBLAS otherwise starts its own threads at
        // load, and an idle one kept yielding in a loop (17% of a core in `perf` during prompt attention).
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        var handle: UnsafeMutableRawPointer?
        for name in ["libopenblas.so.0", "libopenblas.so"] where handle == nil { handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) }
        guard let handle, let s = dlsym(handle, "cblas_sgemm") else {
            fatalError("OpenBLAS not found (libopenblas.so.0): install it with `apt-get install libopenblas0`")
        }
        if let t = dlsym(handle, "openblas_set_num_threads") {
            unsafeBitCast(t, to: (@convention(c) (Int32) -> Void).self)(1)
        }
        var core = "unknown"
        if let f = dlsym(handle, "openblas_get_corename"),
           let name = unsafeBitCast(f, to: (@convention(c) () -> UnsafePointer<CChar>?).self)() {
            core = String(cString: name)
        }
        return Library(sgemm: unsafeBitCast(s, to: SgemmFn.self), coreName: core)
    }()
    @inline(__always) static func callSgemm(_ ta: CBLAS_TRANSPOSE, _ tb: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Float,
                                            _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>, _ ldb: Int32,
                                            _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32) {
        library.sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
    /// The BLAS kernel family in use (OpenBLAS's core name).
    public static var coreName: String { library.coreName }
    #endif

    /// C[m×n] = alpha · op(A) · op(B) + beta · C on the calling thread.
    /// op(A) is m×k (A stored k×m when `transA`), op(B) is k×n (B stored n×k when `transB`).
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        callSgemm(transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                  Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

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
