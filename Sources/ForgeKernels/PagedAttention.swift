// PagedAttention: causal attention of a batch's queries over key/value caches held in blocks of positions.
//
// Each sequence's keys and values live in fixed-size blocks (PagedRows finds position j's row); a batch holds
// runs of rows of several sequences. A run of fewer than 64 queries goes query by query: over a Float16 cache
// as llama.cpp's CPU flash attention computes it (query rounded to f16, online softmax with libm's expf,
// value sum kept in f16), so that Forge and llama.cpp agree on the same GGUF (or, with `exact: false`, a key/value
// group's heads together in Float32 sums, each row widened once: faster and closer to exact); over a Float32 cache as plain
// dot products, softmax and a weighted sum. A run of 64 or more widens its keys and values to Float32 and
// computes S = Q·Kᵀ and O = P·V by SGEMM (llama.cpp also switches to Float32 tiles there). A query at
// position p sees keys j ≤ p, and with a sliding window only p − window < j.
import CSIMD
import ForgeCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where one sequence's cached rows are for one layer: block base pointers in position order.
public struct PagedRows: @unchecked Sendable {
    public let blocks: UnsafePointer<UnsafeMutableRawPointer>
    /// log2 of the positions per block.
    public let shift: Int
    /// Byte offsets of this layer's keys and values inside a block, and the bytes of one row (G·D elements).
    public let keyOffset, valueOffset, rowBytes: Int

    public init(blocks: UnsafePointer<UnsafeMutableRawPointer>, shift: Int, keyOffset: Int, valueOffset: Int, rowBytes: Int) {
        (self.blocks, self.shift, self.keyOffset, self.valueOffset, self.rowBytes) = (blocks, shift, keyOffset, valueOffset, rowBytes)
    }

    @inline(__always) public func key(_ j: Int) -> UnsafeMutableRawPointer {
        blocks[j &>> shift] + keyOffset + (j & ((1 << shift) - 1)) * rowBytes
    }
    @inline(__always) public func value(_ j: Int) -> UnsafeMutableRawPointer {
        blocks[j &>> shift] + valueOffset + (j & ((1 << shift) - 1)) * rowBytes
    }
}

/// A run of batch rows of one sequence: rows `rows` at positions `first`, `first + 1`, ...
public struct PagedRun: @unchecked Sendable {
    public let rows: Range<Int>
    public let first: Int
    public let cache: PagedRows
    public init(rows: Range<Int>, first: Int, cache: PagedRows) { (self.rows, self.first, self.cache) = (rows, first, cache) }
}

public enum PagedAttention {
    /// Queries in a run from which the cache is read in Float32 tiles (llama.cpp's threshold).
    public static let tileThreshold = 64

    /// out[r][h·D ..< (h+1)·D] = softmax(scale · q_r,h · K[visible]ᵀ) · V for every row r of every run.
    /// `exact`: short runs over a Float16 cache take llama.cpp's floats (`flashHalf`); otherwise Float32 sums (`fastGroup`).
    public static func forward(q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, runs: [PagedRun], half: Bool,
                               heads: Int, kvHeads: Int, headDim d: Int, scale: Float, window: Int?, exact: Bool = true) {
        var short: [(run: Int, row: Int)] = []
        for (i, run) in runs.enumerated() {
            if run.rows.count >= tileThreshold {
                tiles(q: q, out: out, run: run, half: half, heads: heads, kvHeads: kvHeads, headDim: d, scale: scale, window: window)
            } else {
                short += run.rows.map { (i, $0) }
            }
        }
        guard !short.isEmpty else { return }
        let width = heads * d, group = heads / kvHeads
        let longest = short.reduce(0) { max($0, runs[$1.run].first + $1.row - runs[$1.run].rows.lowerBound + 1) }
        let body: (Range<Int>) -> Void = { range in
            let buffers = UnsafeMutableRawPointer.allocate(byteCount: flashScratchBytes(d, keys: longest), alignment: 64)
            defer { buffers.deallocate() }
            var task = range.lowerBound
            while task < range.upperBound {
                let (i, r) = short[task / heads], h = task % heads, end = min(heads, h + range.upperBound - task)
                let run = runs[i]
                let p = run.first + (r - run.rows.lowerBound)
                attendHeads(q + r * width, out + r * width, heads: h..<end, group: group, cache: run.cache, position: p, half: half,
                            headDim: d, scale: scale, window: window, exact: exact, scratch: buffers)
                task += end - h
            }
        }
        let tasks = short.count * heads
        let work = short.reduce(0) { $0 + runs[$1.run].first + $1.row - runs[$1.run].rows.lowerBound + 1 } * heads * d
        // Balanced: 9 heads do not halve, and a worker that starts late should not hold up the token. A head's floats
        // do not depend on which heads share its call.
        if work < 1 << 13 { body(0..<tasks) } else { WorkerPool.shared.forEach(tasks, minChunk: 1, body) }
    }

    /// Heads `heads` of one query row (`qr`, heads `d` apart) at position `p` over `cache` into `o`, `group` query
    /// heads per key/value head: `forward`'s floats for that row (`scratch`: `flashScratchBytes(d, keys: p + 1)`).
    @inline(__always)
    public static func attendHeads(_ qr: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, heads: Range<Int>, group: Int,
                                   cache: PagedRows, position p: Int, half: Bool, headDim d: Int, scale: Float, window: Int?,
                                   exact: Bool, scratch: UnsafeMutableRawPointer) {
        let lo = window.map { max(0, p - $0 + 1) } ?? 0
        var h = heads.lowerBound
        while h < heads.upperBound {
            let g = h / group
            if half && !exact {
                // The range's next heads of this group together (up to four).
                let count = min(4, group - h % group, heads.upperBound - h)
                fastGroup(qr + h * d, count: count, cache, g * d, from: lo, through: p, o + h * d, d, scale,
                          scratch.assumingMemoryBound(to: Float.self))
                h += count
                continue
            }
            if half {
                flashHalf(qr + h * d, cache, g * d, from: lo, through: p, o + h * d, d, scale, scratch)
            } else {
                single(qr + h * d, cache, g * d, from: lo, through: p, o + h * d, d, scale)
            }
            h += 1
        }
    }

    /// Stores one row's keys and values (`width` values each) at position `p` of `cache`, narrowed to Float16 when `half`.
    @inline(__always)
    public static func store(_ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, width: Int, at p: Int, in cache: PagedRows, half: Bool) {
        if half {
            narrow(k, cache.key(p).assumingMemoryBound(to: Float16.self), width)
            narrow(v, cache.value(p).assumingMemoryBound(to: Float16.self), width)
        } else {
            cache.key(p).assumingMemoryBound(to: Float.self).update(from: k, count: width)
            cache.value(p).assumingMemoryBound(to: Float.self).update(from: v, count: width)
        }
    }

    /// Scratch bytes `attendHeads` needs for head size `d` and `keys` visible keys.
    public static func scratchBytes(headDim d: Int, keys: Int) -> Int { flashScratchBytes(d, keys: keys) }

    /// Scratch bytes `flashHalf` (or `fastGroup`) needs for head size `d` and `keys` visible keys.
    static func flashScratchBytes(_ d: Int, keys: Int) -> Int { (2 * d + 63) / 64 * 64 + 16 * keys }

    /// One query over a Float16 cache as llama.cpp's flash attention: f16 query, online softmax, f16 sum.
    /// The same floats in three passes: every key's score, then the softmax's running factors (libm's expf, in
    /// key order), then the weighted sum of the values with its f16 rounding after each step done in registers
    /// 64 dimensions at a time, instead of a store and reload of the f16 sum per key.
    @inline(__always)
    static func flashHalf(_ qr: UnsafePointer<Float>, _ cache: PagedRows, _ offset: Int, from lo: Int, through p: Int,
                          _ o: UnsafeMutablePointer<Float>, _ d: Int, _ scale: Float, _ scratch: UnsafeMutableRawPointer) {
        let n = p - lo + 1
        let q16 = scratch.assumingMemoryBound(to: Float16.self)
        let rescale = (scratch + (2 * d + 63) / 64 * 64).assumingMemoryBound(to: Float.self), weight = rescale + n
        for i in 0..<d { q16[i] = Float16(qr[i]) }
        for j in 0..<n { rescale[j] = dotHalf(q16, cache.key(lo + j).assumingMemoryBound(to: Float16.self) + offset, d) * scale }
        // Online softmax: a new maximum rescales the sum so far (by ms) and adds its value with weight 1.
        var m = -Float.infinity, sum: Float = 0
        for j in 0..<n {
            let score = rescale[j]
            var ms: Float = 1, vs: Float = 1
            if score > m {
                ms = expf(m - score)
                m = score
            } else {
                vs = expf(score - m)
            }
            rescale[j] = ms
            weight[j] = vs
            sum = vs.addingProduct(sum, ms)
        }
        let inv = sum == 0 ? 0 : 1 / sum
        var i = 0
        while i + 64 <= d {
            var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
            for j in 0..<n {
                let v = cache.value(lo + j).assumingMemoryBound(to: Float16.self) + offset + i
                let ms = rescale[j]
                // acc = f16(acc · ms); a factor of 1 leaves f16 values as they are.
                if ms != 1 {
                    let mv = F16x(repeating: ms)
                    a0 = roundToHalf(a0 * mv); a1 = roundToHalf(a1 * mv); a2 = roundToHalf(a2 * mv); a3 = roundToHalf(a3 * mv)
                }
                // acc = f16(acc + v·vs), fused in Float32.
                let wv = F16x(repeating: weight[j])
                a0.addProduct(loadHalf16(v, 0), wv); a1.addProduct(loadHalf16(v, 16), wv)
                a2.addProduct(loadHalf16(v, 32), wv); a3.addProduct(loadHalf16(v, 48), wv)
                a0 = roundToHalf(a0); a1 = roundToHalf(a1); a2 = roundToHalf(a2); a3 = roundToHalf(a3)
            }
            let iv = F16x(repeating: inv)
            store16(a0 * iv, o, i); store16(a1 * iv, o, i + 16); store16(a2 * iv, o, i + 32); store16(a3 * iv, o, i + 48)
            i += 64
        }
        while i < d {
            // Dimensions past the last 64: one lane at a time, the same steps.
            var a: Float = 0
            for j in 0..<n {
                let v = cache.value(lo + j).assumingMemoryBound(to: Float16.self) + offset + i
                if rescale[j] != 1 { a = Float(Float16(a * rescale[j])) }
                a = Float(Float16(a.addingProduct(Float(v[0]), weight[j])))
            }
            o[i] = a * inv
            i += 1
        }
    }

    /// Up to four query heads of one key/value group (`count`, their rows `d` apart in `q` and `o`) over a Float16 cache in
    /// Float32: each key and value row is widened once for all of them (widening, not multiplying, bounds this loop on
    /// AVX2), one pass of the vector exp per head, values summed in Float32 and divided by the weights' sum once. Not
    /// llama.cpp's floats (its f16 query and f16 running sum round at every key); closer to the exact result.
    @inline(__always)
    static func fastGroup(_ q: UnsafePointer<Float>, count hc: Int, _ cache: PagedRows, _ offset: Int, from lo: Int, through p: Int,
                          _ o: UnsafeMutablePointer<Float>, _ d: Int, _ scale: Float, _ weight: UnsafeMutablePointer<Float>) {
        let n = p - lo + 1
        let q1 = q + min(1, hc - 1) * d, q2 = q + min(2, hc - 1) * d, q3 = q + min(3, hc - 1) * d
        // The cache rows are cold (a token's weights streamed through since the last layer) and strided (one group of a
        // row): keys are fetched 8 ahead, and each value while its key is used.
        let lines = (2 * d + 63) / 64
        for j in 0..<min(8, n) { let k = cache.key(lo + j) + 2 * offset; for l in 0..<lines { forge_prefetch(k + 64 * l) } }
        for j in 0..<n {
            if j + 8 < n { let k = cache.key(lo + j + 8) + 2 * offset; for l in 0..<lines { forge_prefetch(k + 64 * l) } }
            let vr = cache.value(lo + j) + 2 * offset
            for l in 0..<lines { forge_prefetch(vr + 64 * l) }
            let k = cache.key(lo + j).assumingMemoryBound(to: Float16.self) + offset
            var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
            var i = 0
            while i + 16 <= d {
                let kv = loadHalf16(k, i)
                a0.addProduct(load16(q, i), kv)
                if hc > 1 { a1.addProduct(load16(q1, i), kv) }
                if hc > 2 { a2.addProduct(load16(q2, i), kv) }
                if hc > 3 { a3.addProduct(load16(q3, i), kv) }
                i += 16
            }
            var s = SIMD4<Float>(hsum(a0), hsum(a1), hsum(a2), hsum(a3))
            while i < d {
                let kf = Float(k[i])
                s = s.addingProduct(SIMD4(q[i], q1[i], q2[i], q3[i]), kf)
                i += 1
            }
            for h in 0..<hc { weight[h * n + j] = s[h] * scale }
        }
        var inv = SIMD4<Float>(repeating: 0)
        for h in 0..<hc {
            let w = weight + h * n
            let m = Softmax.rowMax(w, n), mv = F16x(repeating: m)
            var acc = F16x()
            var j = 0
            while j + 16 <= n { let e = vexp(load16(w, j) - mv); store16(e, w, j); acc += e; j += 16 }
            var sum = hsum(acc)
            while j < n { let e = expf(w[j] - m); w[j] = e; sum += e; j += 1 }
            inv[h] = sum > 0 ? 1 / sum : 0
        }
        let w1 = weight + min(1, hc - 1) * n, w2 = weight + min(2, hc - 1) * n, w3 = weight + min(3, hc - 1) * n
        var i = 0
        while i + 16 <= d {
            var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
            for j in 0..<n {
                let v = loadHalf16(cache.value(lo + j).assumingMemoryBound(to: Float16.self) + offset, i)
                a0.addProduct(v, F16x(repeating: weight[j]))
                if hc > 1 { a1.addProduct(v, F16x(repeating: w1[j])) }
                if hc > 2 { a2.addProduct(v, F16x(repeating: w2[j])) }
                if hc > 3 { a3.addProduct(v, F16x(repeating: w3[j])) }
            }
            store16(a0 * inv[0], o, i)
            if hc > 1 { store16(a1 * inv[1], o + d, i) }
            if hc > 2 { store16(a2 * inv[2], o + 2 * d, i) }
            if hc > 3 { store16(a3 * inv[3], o + 3 * d, i) }
            i += 16
        }
        while i < d {
            var a = SIMD4<Float>()
            for j in 0..<n {
                let vf = Float(cache.value(lo + j).assumingMemoryBound(to: Float16.self)[offset + i])
                a = a.addingProduct(SIMD4(weight[j], w1[j], w2[j], w3[j]), vf)
            }
            for h in 0..<hc { o[h * d + i] = a[h] * inv[h] }
            i += 1
        }
    }

    /// One query over a Float32 cache: scores, softmax, weighted sum of the values.
    @inline(__always)
    static func single(_ qr: UnsafePointer<Float>, _ cache: PagedRows, _ offset: Int, from lo: Int, through p: Int,
                       _ o: UnsafeMutablePointer<Float>, _ d: Int, _ scale: Float) {
        let n = p - lo + 1
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { scores.deallocate() }
        for j in lo...p { scores[j - lo] = QuantDot.f32(qr, cache.key(j).assumingMemoryBound(to: Float.self) + offset, d) * scale }
        softmaxInPlace(scores, n)
        o.update(repeating: 0, count: d)
        for j in lo...p { axpy(scores[j - lo], cache.value(j).assumingMemoryBound(to: Float.self) + offset, o, d) }
    }

    /// A run of 64+ queries: each key/value head widened to Float32 once, then S = Q·Kᵀ and O = P·V by SGEMM, each
    /// output row divided by its softmax sum afterwards. (Taking a group's heads together in one pair of products per
    /// tile measured 2× slower for SmolLM2's 3 heads at 512 tokens: the 192 rows of scores no longer stay in L2.)
    static func tiles(q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, run: PagedRun, half: Bool,
                      heads: Int, kvHeads: Int, headDim d: Int, scale: Float, window: Int?) {
        let width = heads * d, group = heads / kvHeads
        let tokens = run.rows.count, total = run.first + tokens
        let q0 = q + run.rows.lowerBound * width, o0 = out + run.rows.lowerBound * width
        // Tasks are (head, tile of 64 queries), head by head, each head's tiles ordered first, last, second, second
        // to last...: a causal tile's cost grows with its index, so the fixed halves of this list carry about equal
        // work even when the heads do not split evenly (9 heads: 4.5 each, not 4 and 5). Each task's floats are the
        // same whichever thread runs it.
        let tileCount = (tokens + tileThreshold - 1) / tileThreshold
        var order: [Int] = []
        var (a, b) = (0, tileCount - 1)
        while a <= b { order.append(a); if a != b { order.append(b) }; a += 1; b -= 1 }
        let tasks = (0..<heads).flatMap { h in order.map { (h, $0) } }
        WorkerPool.shared.forEach(tasks.count) { range in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: tileThreshold * total + 2 * total * d + tileThreshold)
            defer { s.deallocate() }
            let k32 = s + tileThreshold * total, v32 = k32 + total * d, sums = v32 + total * d
            var widened = -1
            for task in range {
                let (h, tile) = tasks[task]
                let g = h / group
                if g != widened {
                    for j in 0..<total {
                        if half {
                            widen(run.cache.key(j).assumingMemoryBound(to: Float16.self) + g * d, k32 + j * d, d)
                            widen(run.cache.value(j).assumingMemoryBound(to: Float16.self) + g * d, v32 + j * d, d)
                        } else {
                            (k32 + j * d).update(from: run.cache.key(j).assumingMemoryBound(to: Float.self) + g * d, count: d)
                            (v32 + j * d).update(from: run.cache.value(j).assumingMemoryBound(to: Float.self) + g * d, count: d)
                        }
                    }
                    widened = g
                }
                // The tile's queries against only the keys some query of the tile may see.
                let t0 = tile * tileThreshold
                let rows = min(tileThreshold, tokens - t0), last = run.first + t0 + rows - 1
                let first = window.map { max(0, run.first + t0 - $0 + 1) } ?? 0, n = last + 1 - first
                BLAS.sgemm(transA: false, transB: true, m: rows, n: n, k: d, alpha: scale,
                           a: q0 + t0 * width + h * d, lda: width, b: k32 + first * d, ldb: d, beta: 0, c: s, ldc: n)
                // Unnormalized weights exp(s − max) in one pass (not a log-sum-exp pass and then a second exp pass).
                for t in 0..<rows {
                    let row = s + t * n, p = run.first + t0 + t
                    let lo = (window.map { max(0, p - $0 + 1) } ?? 0) - first
                    sums[t] = expInPlace(row + lo, p - first + 1 - lo)
                    if lo > 0 { row.update(repeating: 0, count: lo) }
                    (row + p - first + 1).update(repeating: 0, count: n - (p - first) - 1)
                }
                let o = o0 + t0 * width + h * d
                BLAS.sgemm(transA: false, transB: false, m: rows, n: d, k: n,
                           a: s, lda: n, b: v32 + first * d, ldb: d, beta: 0, c: o, ldc: width)
                for t in 0..<rows { scaleInPlace(o + t * width, by: 1 / sums[t], d) }
            }
        }
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

    /// Float16 → Float32 for `n` values.
    @inline(__always) static func widen(_ x: UnsafePointer<Float16>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store16(loadHalf16(x, i), y, i); i += 16 }
        while i < n { y[i] = Float(x[i]); i += 1 }
    }

    /// Float32 → Float16 for `n` values (the cache's rounding).
    @inline(__always) public static func narrow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float16>, _ n: Int) {
        var i = 0
        while i + 16 <= n { storeHalf16(load16(x, i), y, i); i += 16 }
        while i < n { y[i] = Float16(x[i]); i += 1 }
    }

    /// x[0..<n] = softmax(x[0..<n]).
    @inline(__always) static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        let lse = F16x(repeating: Softmax.logSumExp(x, n))
        map16(n, x, x) { vexp($0 - lse) }
    }

    /// x[0..<n] = exp(x − max x); returns their sum (the softmax's divisor).
    @inline(__always) static func expInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let mb = F16x(repeating: Softmax.rowMax(x, n))
        var acc = F16x()
        var i = 0
        while i + 16 <= n { let e = vexp(load16(x, i) - mb); store16(e, x, i); acc += e; i += 16 }
        if i < n {
            let e = vexp(loadPartial(x, i, n - i) - mb).replacing(with: 0, where: Softmax.laneMask(n - i))
            storePartial(e, x, i, n - i)
            acc += e
        }
        return hsum(acc)
    }

    /// x *= a over n floats.
    @inline(__always) static func scaleInPlace(_ x: UnsafeMutablePointer<Float>, by a: Float, _ n: Int) {
        let av = F16x(repeating: a)
        var i = 0
        while i + 16 <= n { store16(load16(x, i) * av, x, i); i += 16 }
        while i < n { x[i] *= a; i += 1 }
    }

    /// y += a·x over n floats.
    @inline(__always) static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = F16x(repeating: a)
        var i = 0
        while i + 16 <= n { var v = load16(y, i); v.addProduct(av, load16(x, i)); store16(v, y, i); i += 16 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }
}

/// One sequence's cached rows for every layer, for a decode region (`WorkerPool.region`): the block pointers
/// copied once per step, so the parts read plain memory.
public final class PagedDecodeRows: @unchecked Sendable {
    let blocks: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let shift, layerBytes, valueOffset, rowBytes: Int
    /// Keys and values are stored as Float16 (else Float32).
    public let half: Bool

    /// Takes ownership of `blocks` (`count` block base pointers in position order, freed with this object).
    public init(blocks: UnsafeMutablePointer<UnsafeMutableRawPointer>, count: Int, shift: Int, layerBytes: Int, valueOffset: Int,
                rowBytes: Int, half: Bool) {
        (self.blocks, self.shift, self.layerBytes, self.valueOffset, self.rowBytes, self.half) =
            (blocks, shift, layerBytes, valueOffset, rowBytes, half)
    }

    deinit { blocks.deallocate() }

    /// Layer `layer`'s rows.
    public func rows(layer: Int) -> PagedRows {
        PagedRows(blocks: blocks, shift: shift, keyOffset: layer * layerBytes, valueOffset: layer * layerBytes + valueOffset,
                  rowBytes: rowBytes)
    }
}
