// CachedAttention: causal attention of new queries against a key/value cache, for inference.
//
// Queries sit at positions start ..< start+T; keys and values 0 ..< start+T are in the cache
// (rows of kvHeads·D values). Float32 cache: one query is dot products and a weighted sum per
// head; several queries are S = Q·Kᵀ and O = P·V by SGEMM, heads spread over the workers.
// Float16 cache: computed as llama.cpp's CPU flash attention computes it, so that Forge and
// llama.cpp agree on the same GGUF (same floats, checked against its dumped tensors): fewer than 64
// queries go one by one, the query rounded to f16, an online softmax with libm's expf and the value
// sum kept in f16; 64 or more run in Float32.
import ForgeCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum CachedAttention {
    /// out[t][h·D ..< (h+1)·D] = softmax(q_t,h · K[0 ... start+t]ᵀ / √D) · V, grouped-query (kvHeads divides heads).
    public static func forward(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                               out: UnsafeMutablePointer<Float>, tokens: Int, start: Int,
                               heads: Int, kvHeads: Int, headDim d: Int) {
        let width = heads * d, kvWidth = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        let total = start + tokens
        if tokens == 1 {
            let work = heads * total * d
            let body: (Range<Int>) -> Void = { range in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: total)
                defer { scores.deallocate() }
                for h in range {
                    let qh = q + h * d, g = h / group, oh = out + h * d
                    for j in 0..<total { scores[j] = QuantDot.f32(qh, keys + j * kvWidth + g * d, d) * scale }
                    softmaxInPlace(scores, total)
                    oh.update(repeating: 0, count: d)
                    for j in 0..<total { axpy(scores[j], values + j * kvWidth + g * d, oh, d) }
                }
            }
            if work < 1 << 16 { body(0..<heads) } else { WorkerPool.shared.forEach(heads, body) }
            return
        }
        WorkerPool.shared.forEach(heads) { range in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: tokens * total)
            defer { s.deallocate() }
            for h in range {
                let g = h / group
                BLAS.sgemm(transA: false, transB: true, m: tokens, n: total, k: d, alpha: scale,
                           a: q + h * d, lda: width, b: keys + g * d, ldb: kvWidth, beta: 0, c: s, ldc: total)
                for t in 0..<tokens {
                    let row = s + t * total, n = start + t + 1
                    softmaxInPlace(row, n)
                    (row + n).update(repeating: 0, count: total - n)
                }
                BLAS.sgemm(transA: false, transB: false, m: tokens, n: d, k: total,
                           a: s, lda: total, b: values + g * d, ldb: kvWidth, beta: 0, c: out + h * d, ldc: width)
            }
        }
    }

    /// Queries in a batch from which a Float16 cache is read in Float32 blocks (llama.cpp's tile size).
    public static let halfBatchThreshold = 64

    /// The same attention over a Float16 cache (see the file comment for the arithmetic).
    public static func forward(q: UnsafePointer<Float>, keys: UnsafePointer<Float16>, values: UnsafePointer<Float16>,
                               out: UnsafeMutablePointer<Float>, tokens: Int, start: Int,
                               heads: Int, kvHeads: Int, headDim d: Int) {
        let width = heads * d, kvWidth = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        let total = start + tokens
        if tokens >= halfBatchThreshold {
            // Widen each key/value head once, then the Float32 path (S = Q·Kᵀ, O = P·V by SGEMM).
            WorkerPool.shared.forEach(heads) { range in
                let s = UnsafeMutablePointer<Float>.allocate(capacity: tokens * total + 2 * total * d)
                defer { s.deallocate() }
                let k32 = s + tokens * total, v32 = k32 + total * d
                var widened = -1
                for h in range {
                    let g = h / group
                    if g != widened {
                        for j in 0..<total {
                            widen(keys + j * kvWidth + g * d, k32 + j * d, d)
                            widen(values + j * kvWidth + g * d, v32 + j * d, d)
                        }
                        widened = g
                    }
                    BLAS.sgemm(transA: false, transB: true, m: tokens, n: total, k: d, alpha: scale,
                               a: q + h * d, lda: width, b: k32, ldb: d, beta: 0, c: s, ldc: total)
                    for t in 0..<tokens {
                        let row = s + t * total, n = start + t + 1
                        softmaxInPlace(row, n)
                        (row + n).update(repeating: 0, count: total - n)
                    }
                    BLAS.sgemm(transA: false, transB: false, m: tokens, n: d, k: total,
                               a: s, lda: total, b: v32, ldb: d, beta: 0, c: out + h * d, ldc: width)
                }
            }
            return
        }
        let rows = tokens * heads
        let body: (Range<Int>) -> Void = { range in
            let buffers = UnsafeMutablePointer<Float16>.allocate(capacity: 2 * d)
            defer { buffers.deallocate() }
            let q16 = buffers, acc = buffers + d
            for task in range {
                let t = task / heads, h = task % heads, g = h / group
                let qr = q + t * width + h * d
                for i in 0..<d { q16[i] = Float16(qr[i]) }
                acc.update(repeating: 0, count: d)
                var m = -Float.infinity, sum: Float = 0
                for j in 0..<(start + t + 1) {
                    let score = dotHalf(q16, keys + j * kvWidth + g * d, d) * scale
                    var ms: Float = 1, vs: Float = 1
                    if score > m {
                        ms = expf(m - score)
                        m = score
                        scaleHalf(acc, ms, d)
                    } else {
                        vs = expf(score - m)
                    }
                    madHalf(acc, values + j * kvWidth + g * d, vs, d)
                    sum = vs.addingProduct(sum, ms)
                }
                let inv = sum == 0 ? 0 : 1 / sum
                let o = out + t * width + h * d
                for i in 0..<d { o[i] = Float(acc[i]) * inv }
            }
        }
        if rows * total * d < 1 << 13 { body(0..<rows) } else { WorkerPool.shared.forEach(rows, body) }
    }

    /// Σ a[i]·b[i] of two Float16 vectors as ggml_vec_dot_f16 (AVX-512): four 16-lane accumulators over
    /// steps of 64, folded (0+2, 1+3, then 0+1) and summed across lanes; a tail in Float64.
    @inline(__always) static func dotHalf(_ a: UnsafePointer<Float16>, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var s0 = F16x(), s1 = F16x(), s2 = F16x(), s3 = F16x()
        var i = 0
        while i + 64 <= n {
            s0.addProduct(loadHalf16(a, i), loadHalf16(b, i))
            s1.addProduct(loadHalf16(a, i + 16), loadHalf16(b, i + 16))
            s2.addProduct(loadHalf16(a, i + 32), loadHalf16(b, i + 32))
            s3.addProduct(loadHalf16(a, i + 48), loadHalf16(b, i + 48))
            i += 64
        }
        var sum = Double(hsum((s0 + s2) + (s1 + s3)))
        while i < n { sum += Double(Float(a[i]) * Float(b[i])); i += 1 }
        return Float(sum)
    }

    /// acc = f16(acc · a).
    @inline(__always) static func scaleHalf(_ acc: UnsafeMutablePointer<Float16>, _ a: Float, _ n: Int) {
        let av = F16x(repeating: a)
        var i = 0
        while i + 16 <= n { storeHalf16(loadHalf16(acc, i) * av, acc, i); i += 16 }
        while i < n { acc[i] = Float16(Float(acc[i]) * a); i += 1 }
    }

    /// acc = f16(acc + v·a), fused in Float32.
    @inline(__always) static func madHalf(_ acc: UnsafeMutablePointer<Float16>, _ v: UnsafePointer<Float16>, _ a: Float, _ n: Int) {
        let av = F16x(repeating: a)
        var i = 0
        while i + 16 <= n {
            var y = loadHalf16(acc, i)
            y.addProduct(loadHalf16(v, i), av)
            storeHalf16(y, acc, i)
            i += 16
        }
        while i < n { acc[i] = Float16(Float(acc[i]).addingProduct(Float(v[i]), a)); i += 1 }
    }

    /// Float16 → Float32 for `n` values.
    @inline(__always) static func widen(_ x: UnsafePointer<Float16>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store16(loadHalf16(x, i), y, i); i += 16 }
        while i < n { y[i] = Float(x[i]); i += 1 }
    }

    /// x[0..<n] = softmax(x[0..<n]).
    @inline(__always) static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        let lse = F16x(repeating: Softmax.logSumExp(x, n))
        map16(n, x, x) { vexp($0 - lse) }
    }

    /// y += a·x over n floats.
    @inline(__always) static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = F16x(repeating: a)
        var i = 0
        while i + 16 <= n { var v = load16(y, i); v.addProduct(av, load16(x, i)); store16(v, y, i); i += 16 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }
}
