// KQuantBatches: how the tokens of a batch go through the K-quant kernels. Each sequence gets the variant llama.cpp
// runs for it (per-token kernels in QuantDotK), and long batches take those variants four tokens at a time through
// KQuantGEMM's tiles, which give the same floats: a token's result depends on its sequence alone, not on the batch
// around it or the path.
import ForgeCore

/// Which K-quant kernel variant each token of a batch takes, as llama.cpp orders a sequence (`segments`: the token
/// counts of consecutive sequences): Q4_K's gemm takes a sequence's tokens four at a time and the rest one by one;
/// Q6_K switches to its tiled order for sequences of 8 or more tokens. A token's floats thus depend on its sequence
/// alone, not on the batch around it.
struct KQuantPlan {
    /// Per token: Q4_K summed per pair of sub-blocks (among its sequence's fours).
    private(set) var inFours: [Bool]
    /// Per token: Q6_K in the tiled order (its sequence has 8+ tokens).
    private(set) var tiled: [Bool]
    /// First tokens of the runs of 4 a tile can take: Q4_K's fours, and 4 consecutive tiled Q6_K tokens.
    private(set) var q4KTiles: [Int] = [], q6KTiles: [Int] = []
    /// The other tokens, one by one.
    private(set) var q4KSingles: [Int] = [], q6KSingles: [Int] = []

    init(segments: [Int], tokens: Int) {
        inFours = [Bool](repeating: false, count: tokens)
        tiled = inFours
        var start = 0
        for n in segments {
            let fours = n / 4 * 4
            for i in 0..<n { inFours[start + i] = i < fours; tiled[start + i] = n >= 8 }
            q4KTiles += stride(from: start, to: start + fours, by: 4)
            q4KSingles += (start + fours)..<(start + n)
            if n >= 8 {
                q6KTiles += stride(from: start, to: start + fours, by: 4)
                q6KSingles += (start + fours)..<(start + n)
            } else {
                q6KSingles += start..<(start + n)
            }
            start += n
        }
        precondition(start == tokens, "segments of \(start) tokens for \(tokens)")
    }
}

extension WeightMatrix {
    /// K-quant matrices (packed Q4_K, Q6_K), long batches: tiles of 4 tokens (KQuantGEMM) where `KQuantPlan` allows,
    /// the other tokens one by one, all with the floats of the per-token path (`multiplyInteger`).
    static func multiplyKTiles(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ x: UnsafePointer<Float>, tokens: Int,
                               segments: [Int]) {
        let plan = KQuantPlan(segments: segments, tokens: tokens)
        let cols = parts[0].0.cols
        let kBytes = (Q8KActivations.scratchBytes(count: cols) + 63) / 64 * 64
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: tokens * kBytes, alignment: 64)
        defer { scratch.deallocate() }
        let acts = (0..<tokens).map { t in Q8KActivations(count: cols, in: scratch + t * kBytes) }
        // With AVX-512 VNNI, Q6_K matrices' whole 32-row strips go through `Q6KWide` (their last rows as below).
        let wide = PackedGEMMWide.available && !plan.q6KTiles.isEmpty
        let strips = wide ? parts.filter { $0.0.type == .q6_K && $0.0.rows >= Q6KWide.rows } : []
        let rest = strips.isEmpty ? parts : parts.filter { !($0.0.type == .q6_K && $0.0.rows >= Q6KWide.rows) }
        acts.withUnsafeBufferPointer { ab in
            let k = ab.baseAddress!
            WorkerPool.shared.forEach(tokens) { r in for t in r { k[t].quantize(x + t * cols) } }
            if !strips.isEmpty { q6KStrips(strips, k, plan: plan) }
            if rest.isEmpty { return }
            forEachRowGroup(rest, grain: 1, runBytes: WeightMatrix.tileRunBytes, minChunkGroups: PackedGEMMWide.groups) { m, out, ld, r, n in
                if m.type == .q4_K {  // packed, so its rows are whole groups of 8 (a run of them)
                    for t in plan.q4KTiles {
                        var r0 = r
                        if PackedGEMMWide.available {  // 32 rows × 2 tokens, twice
                            while r0 + PackedGEMMWide.rows <= r + n {
                                PackedGEMMWide.q4K(m.group(r0), m.groupBytes, k + t, out + t * ld + r0, ld: ld)
                                PackedGEMMWide.q4K(m.group(r0), m.groupBytes, k + t + 2, out + (t + 2) * ld + r0, ld: ld)
                                r0 += PackedGEMMWide.rows
                            }
                        }
                        while r0 < r + n {
                            KQuantGEMM.q4K(m.group(r0), k + t, out + t * ld + r0, ld: ld)
                            r0 += WeightMatrix.packGroup
                        }
                    }
                    for t in plan.q4KSingles {
                        for r0 in stride(from: r, to: r + n, by: WeightMatrix.packGroup) {
                            UnsafeMutableRawPointer(out + t * ld + r0).storeBytes(of: QuantDotK.q4KPacked(m.group(r0), k[t]), as: SIMD8<Float>.self)
                        }
                    }
                    return
                }
                q6KRows(m, out, ld, r, n, k, plan: plan)
            }
        }
    }

    /// Rows `r ..< r + n` (at most 4) of stored Q6_K matrix `m` against every token: tiles of 4 where the plan has them.
    @inline(__always)
    static func q6KRows(_ m: RowsView, _ out: UnsafeMutablePointer<Float>, _ ld: Int, _ r: Int, _ n: Int,
                        _ k: UnsafePointer<Q8KActivations>, plan: KQuantPlan) {
        for t in plan.q6KTiles { KQuantGEMM.q6K(m.row(r), stride: m.rowBytes, rows: n, k + t, out + t * ld + r, ld: ld) }
        for t in plan.q6KSingles {
            let v = QuantDotK.q6K(m.row(r), stride: m.rowBytes, k[t], rows: n, batch: plan.tiled[t])
            for i in 0..<n { out[t * ld + r + i] = v[i] }
        }
    }

    /// Q6_K matrices of 32+ rows, long batches with AVX-512 VNNI: each worker decodes strips of 32 rows (`Q6KWide`)
    /// and runs the plan's tiles of 4 tokens on them; the other tokens, and rows past the last whole strip, take
    /// `q6KRows`. The same floats as `q6KRows` for every token.
    static func q6KStrips(_ parts: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], _ k: UnsafePointer<Q8KActivations>,
                          plan: KQuantPlan) {
        var items: [(part: Int, row: Int, count: Int)] = []
        for (p, (m, _, _)) in parts.enumerated() {
            for r in stride(from: 0, to: m.rows, by: Q6KWide.rows) { items.append((p, r, min(Q6KWide.rows, m.rows - r))) }
        }
        let blocks = parts[0].0.cols / 256
        WorkerPool.shared.forEach(items.count, minChunk: 1) { range in
            let strip = UnsafeMutableRawPointer.allocate(byteCount: blocks * Q6KWide.blockBytes, alignment: 64)
            defer { strip.deallocate() }
            for i in range {
                let (p, r, n) = items[i]
                let (m, out, ld) = parts[p]
                if n < Q6KWide.rows {
                    for r0 in stride(from: r, to: r + n, by: 4) { q6KRows(m.view, out, ld, r0, min(4, r + n - r0), k, plan: plan) }
                    continue
                }
                Q6KWide.decode(m.row(r), stride: m.rowBytes, blocks: blocks, into: strip)
                for t in plan.q6KTiles { Q6KWide.tile(strip, blocks: blocks, k + t, out + t * ld + r, ld: ld) }
                for t in plan.q6KSingles {
                    for r0 in stride(from: r, to: r + n, by: 4) {
                        let v = QuantDotK.q6K(m.row(r0), stride: m.rowBytes, k[t], rows: 4, batch: plan.tiled[t])
                        for i in 0..<4 { out[t * ld + r0 + i] = v[i] }
                    }
                }
            }
        }
    }
}
