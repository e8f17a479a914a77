// Decode attention over a Float16 cache (PagedAttention.flashHalf, three passes with the f16 sum in registers) against
// llama.cpp's CPU flash-attention loop written out directly: per key, the score, the online-softmax step with libm's
// expf, and the value sum rounded to f16 in memory after every step. The floats must be the same, bit for bit.
import ForgeCore
import Foundation
@testable import ForgeKernels
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct PagedAttentionTests {
    /// llama.cpp's loop (ggml_compute_forward_flash_attn_ext_f16, f16 V): one query row of one head.
    static func reference(_ q: [Float], keys: [[Float16]], values: [[Float16]], from lo: Int, through p: Int, scale: Float) -> [Float] {
        let d = q.count
        let q16 = q.map { Float16($0) }
        var acc = [Float16](repeating: 0, count: d)
        var m = -Float.infinity, sum: Float = 0
        for j in lo...p {
            let score = q16.withUnsafeBufferPointer { a in keys[j].withUnsafeBufferPointer { k in
                PagedAttention.dotHalf(a.baseAddress!, k.baseAddress!, d) } } * scale
            var ms: Float = 1, vs: Float = 1
            if score > m {
                ms = expf(m - score)
                m = score
                for i in 0..<d { acc[i] = Float16(Float(acc[i]) * ms) }
            } else {
                vs = expf(score - m)
            }
            for i in 0..<d { acc[i] = Float16(Float(acc[i]).addingProduct(Float(values[j][i]), vs)) }
            sum = vs.addingProduct(sum, ms)
        }
        let inv = sum == 0 ? 0 : 1 / sum
        return acc.map { Float($0) * inv }
    }

    /// A paged cache of `positions` rows of `rowBytes` bytes in blocks of 16 positions (keys, then values), and
    /// what frees it.
    static func cache(positions: Int, rowBytes: Int) -> (rows: PagedRows, release: () -> Void) {
        let blockCount = (positions + 15) / 16, blockBytes = 2 * 16 * rowBytes
        let table = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: blockCount)
        for i in 0..<blockCount { table[i] = .allocate(byteCount: blockBytes, alignment: 64) }
        let rows = PagedRows(blocks: table, shift: 4, keyOffset: 0, valueOffset: 16 * rowBytes, rowBytes: rowBytes)
        return (rows, {
            for i in 0..<blockCount { table[i].deallocate() }
            table.deallocate()
        })
    }

    /// Random keys and values rounded to f16, stored in the cache at every position; returned as Float rows.
    static func fill(_ rows: PagedRows, positions: Int, kvWidth: Int, rng: inout RNG) -> (keys: [[Float]], values: [[Float]]) {
        var keys = [[Float]](repeating: [], count: positions), values = keys
        for j in 0..<positions {
            keys[j] = (0..<kvWidth).map { _ in Float(Float16(Float(rng.normal()))) }
            values[j] = (0..<kvWidth).map { _ in Float(Float16(Float(rng.normal()))) }
            for i in 0..<kvWidth {
                (rows.key(j) + 2 * i).storeBytes(of: Float16(keys[j][i]), as: Float16.self)
                (rows.value(j) + 2 * i).storeBytes(of: Float16(values[j][i]), as: Float16.self)
            }
        }
        return (keys, values)
    }

    /// The largest difference between `out` and Float64 softmax attention of `count` query rows at positions `first`...
    static func largestDifference(_ out: [Float], q: [Float], keys: [[Float]], values: [[Float]], first: Int, count: Int, window: Int?,
                                  heads: Int, kvHeads: Int, headDim d: Int, scale: Float) -> Double {
        let width = heads * d
        var worst = 0.0
        for r in 0..<count {
            let p = first + r, lo = window.map { max(0, p - $0 + 1) } ?? 0
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let qh = (0..<d).map { Double(q[r * width + h * d + $0]) }
                let scores = (lo...p).map { j in (0..<d).reduce(0.0) { $0 + qh[$1] * Double(keys[j][g * d + $1]) } * Double(scale) }
                let m = scores.max()!, e = scores.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                for i in 0..<d {
                    let want = zip(lo...p, e).reduce(0.0) { $0 + $1.1 * Double(values[$1.0][g * d + i]) } / z
                    worst = max(worst, abs(Double(out[r * width + h * d + i]) - want))
                }
            }
        }
        return worst
    }

    @Test(arguments: [64, 80, 128, 256])
    func decodeAttentionIsLlamaCppsLoop(headDim d: Int) {
        var rng = RNG(seed: UInt64(d))
        let heads = 4, kvHeads = 2, positions = 150, kvWidth = kvHeads * d, rowBytes = 2 * kvWidth
        // Keys and values per KV head and position; the cache holds them in blocks of 16 positions.
        let keys = (0..<kvHeads).map { _ in (0..<positions).map { _ in (0..<d).map { _ in Float16(Float(rng.normal())) } } }
        let values = (0..<kvHeads).map { _ in (0..<positions).map { _ in (0..<d).map { _ in Float16(Float(rng.normal())) } } }
        let cache = Self.cache(positions: positions, rowBytes: rowBytes)
        defer { cache.release() }
        let rows = cache.rows
        for j in 0..<positions {
            for g in 0..<kvHeads {
                for i in 0..<d {
                    (rows.key(j) + 2 * (g * d + i)).storeBytes(of: keys[g][j][i], as: Float16.self)
                    (rows.value(j) + 2 * (g * d + i)).storeBytes(of: values[g][j][i], as: Float16.self)
                }
            }
        }
        let scale = 1 / Float(d).squareRoot()
        // One query at several positions, a run of 3 queries, with and without a sliding window; one query with
        // scores scaled up so that later keys often set a new maximum (rescaling the sum).
        for (first, count, window, boost) in [(0, 1, nil, 1), (6, 1, nil, 1), (149, 1, nil, 1), (97, 3, nil, 1), (120, 1, 32, 1),
                                               (60, 1, nil, 8)] as [(Int, Int, Int?, Float)] {
            let width = heads * d
            let q = (0..<(count * width)).map { _ in Float(rng.normal()) * boost }
            var out = [Float](repeating: 0, count: count * width)
            q.withUnsafeBufferPointer { qb in out.withUnsafeMutableBufferPointer { ob in
                PagedAttention.forward(q: qb.baseAddress!, out: ob.baseAddress!, runs: [PagedRun(rows: 0..<count, first: first, cache: rows)],
                                       half: true, heads: heads, kvHeads: kvHeads, headDim: d, scale: scale, window: window)
            } }
            for r in 0..<count {
                let p = first + r, lo = window.map { max(0, p - $0 + 1) } ?? 0
                for h in 0..<heads {
                    let g = h / (heads / kvHeads)
                    let want = Self.reference(Array(q[(r * width + h * d)..<(r * width + h * d + d)]), keys: keys[g], values: values[g],
                                              from: lo, through: p, scale: scale)
                    let got = Array(out[(r * width + h * d)..<(r * width + h * d + d)])
                    #expect(got == want, "d \(d), position \(p), head \(h): largest difference \(zip(got, want).map { abs($0 - $1) }.max()!)")
                }
            }
        }
    }

    /// Runs of 64+ queries go through Float32 tiles (head, 64 queries) split over the threads in a balanced order:
    /// every head and every tile, partial tiles and sliding windows included, against Float64 softmax attention.
    @Test func longRunsInTilesMatchFloat64() {
        var rng = RNG(seed: 11)
        let d = 64, heads = 9, kvHeads = 3, positions = 200, kvWidth = kvHeads * d, rowBytes = 2 * kvWidth
        let cache = Self.cache(positions: positions, rowBytes: rowBytes)
        defer { cache.release() }
        let rows = cache.rows
        let (keys, values) = Self.fill(rows, positions: positions, kvWidth: kvWidth, rng: &rng)
        let scale = 1 / Float(d).squareRoot(), width = heads * d
        for (first, count, window) in [(0, 200, nil), (30, 150, nil), (0, 130, 40)] as [(Int, Int, Int?)] {
            let q = (0..<(count * width)).map { _ in Float(rng.normal()) }
            var out = [Float](repeating: .nan, count: count * width)
            q.withUnsafeBufferPointer { qb in out.withUnsafeMutableBufferPointer { ob in
                PagedAttention.forward(q: qb.baseAddress!, out: ob.baseAddress!, runs: [PagedRun(rows: 0..<count, first: first, cache: rows)],
                                       half: true, heads: heads, kvHeads: kvHeads, headDim: d, scale: scale, window: window)
            } }
            #expect(!out.contains { $0.isNaN }, "first \(first), \(count) queries: some outputs were not written")
            let worst = Self.largestDifference(out, q: q, keys: keys, values: values, first: first, count: count, window: window,
                                               heads: heads, kvHeads: kvHeads, headDim: d, scale: scale)
            #expect(worst < 1e-4, "first \(first), \(count) queries, window \(String(describing: window)): largest difference \(worst)")
        }
    }

    /// Short runs outside llama.cpp's order (`exact: false`): a key/value group's heads, up to four at a time, in Float32
    /// sums. Groups of 1, 3, 4, 5 and 8 heads (split over the threads anywhere), head sizes with and without a tail past
    /// the 16-lane steps, windows and large scores, against Float64 softmax attention over the same f16 keys and values.
    @Test(arguments: [(9, 3, 64), (8, 1, 72), (4, 4, 20), (10, 2, 16), (12, 3, 256)])
    func fastDecodeMatchesFloat64(heads: Int, kvHeads: Int, headDim d: Int) {
        var rng = RNG(seed: UInt64(heads * 1000 + d))
        let positions = 150, kvWidth = kvHeads * d, rowBytes = 2 * kvWidth, width = heads * d
        let cache = Self.cache(positions: positions, rowBytes: rowBytes)
        defer { cache.release() }
        let rows = cache.rows
        let (keys, values) = Self.fill(rows, positions: positions, kvWidth: kvWidth, rng: &rng)
        let scale = 1 / Float(d).squareRoot()
        for (first, count, window, boost) in [(0, 1, nil, 1), (7, 1, nil, 1), (149, 1, nil, 1), (97, 3, nil, 1), (120, 2, 32, 1),
                                               (60, 1, nil, 8)] as [(Int, Int, Int?, Float)] {
            let q = (0..<(count * width)).map { _ in Float(rng.normal()) * boost }
            var out = [Float](repeating: .nan, count: count * width)
            q.withUnsafeBufferPointer { qb in out.withUnsafeMutableBufferPointer { ob in
                PagedAttention.forward(q: qb.baseAddress!, out: ob.baseAddress!, runs: [PagedRun(rows: 0..<count, first: first, cache: rows)],
                                       half: true, heads: heads, kvHeads: kvHeads, headDim: d, scale: scale, window: window, exact: false)
            } }
            #expect(!out.contains { $0.isNaN }, "\(heads)/\(kvHeads) heads of \(d), position \(first): some outputs were not written")
            let worst = Self.largestDifference(out, q: q, keys: keys, values: values, first: first, count: count, window: window,
                                               heads: heads, kvHeads: kvHeads, headDim: d, scale: scale)
            #expect(worst < 2e-5, "\(heads)/\(kvHeads) heads of \(d), position \(first), \(count) queries: largest difference \(worst)")
        }
    }
}
