// CachedAttention: causal attention of new queries against a key/value cache, for inference.
//
// Queries sit at positions start ..< start+T; keys and values 0 ..< start+T are in the cache
// (rows of kvHeads·D floats). One query: dot products and a weighted sum per head. Several
// queries: per head, S = Q·Kᵀ and O = P·V by SGEMM, heads spread over the workers.
import ForgeCore

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
