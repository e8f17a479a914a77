// KQuantGEMM: Q4_K and Q6_K against Q8_K activations for tiles of 4 tokens, so the weights are unpacked once for
// four tokens instead of once per token. Integer sums are exact whatever their order, and the float steps per token
// are those of the per-token kernels (QuantDotK) in the variants llama.cpp runs for sequences of several tokens:
//
// - Q4_K, a packed group of 8 rows: per pair of sub-blocks, Σ scale·Σq·x̂ and Σ min·Σx̂ in integers, each
//   converted and fused with d·d_x and dmin·d_x (`q4KPacked(pairs: true)`, llama.cpp's gemm_q4_K_8x8_q8_K). With
//   AVX-512 VNNI, four groups (32 rows) × 2 tokens at a time instead (`PackedGEMMWide.q4K`, the same floats).
// - Q6_K, up to 4 stored rows: per block the whole integer sum times d, fused with d_x (`q6K(batch: true)`,
//   llama.cpp's tiled matmul for 8+ tokens). With AVX-512 VNNI, strips of 32 rows decoded to bytes instead
//   (`Q6KWide`, the same floats).
//
// Each token's floats are therefore the per-token kernels' bit for bit (KQuantBatches says for which tokens).
import CSIMD
import ForgeCore

enum KQuantGEMM {
    /// Tokens per tile.
    static let tile = 4

    /// Tokens x[0..<4] against the 8 rows of packed Q4_K group `g`: out[t·ld + i] for row i, each token's floats
    /// those of `QuantDotK.q4KPacked(g, x[t], pairs: true)`.
    @inline(__always)
    static func q4K(_ g: UnsafeRawPointer, _ x: UnsafePointer<Q8KActivations>, _ out: UnsafeMutablePointer<Float>, ld: Int) {
        let inPlace = forge_has_vnni() != 0
        let x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3]
        var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>()), accMin = acc
        let pf = WeightPrefetch.enabled
        for b in 0..<(x0.count / 256) {
            let p = g + b * QuantDotK.q4KPackedBytes
            let d = halves8(p), dmin = halves8(p + 16)
            for j in 0..<4 {
                if pf { QuantDotK.q4KPrefetch(p, j) }
                let at = 256 * b + 64 * j
                let a0 = UnsafeRawPointer(x0.values) + at, a1 = UnsafeRawPointer(x1.values) + at
                let a2 = UnsafeRawPointer(x2.values) + at, a3 = UnsafeRawPointer(x3.values) + at
                var lo = (SIMD8<Int32>(), SIMD8<Int32>(), SIMD8<Int32>(), SIMD8<Int32>()), hi = lo
                if inPlace {
                    for v in 0..<8 {
                        let (l, h) = QuantDotK.q4KNibbles(p, j, v, inPlace: true)
                        lo.0 = forge_dot_u8s8(lo.0, l, broadcastLane(a0, v))
                        hi.0 = forge_dot_u8s8(hi.0, h, broadcastLane(a0 + 32, v))
                        lo.1 = forge_dot_u8s8(lo.1, l, broadcastLane(a1, v))
                        hi.1 = forge_dot_u8s8(hi.1, h, broadcastLane(a1 + 32, v))
                        lo.2 = forge_dot_u8s8(lo.2, l, broadcastLane(a2, v))
                        hi.2 = forge_dot_u8s8(hi.2, h, broadcastLane(a2 + 32, v))
                        lo.3 = forge_dot_u8s8(lo.3, l, broadcastLane(a3, v))
                        hi.3 = forge_dot_u8s8(hi.3, h, broadcastLane(a3 + 32, v))
                    }
                } else {
                    // AVX2: int16 pair sums added over the 8 vectors (per lane at most 16 products of 15·127, 30,480,
                    // below int16's limit), widened once: one multiply per 32 products instead of two.
                    var lo16 = (SIMD16<Int16>(), SIMD16<Int16>(), SIMD16<Int16>(), SIMD16<Int16>()), hi16 = lo16
                    for v in 0..<8 {
                        let (l, h) = QuantDotK.q4KNibbles(p, j, v, inPlace: false)
                        lo16.0 &+= forge_pairs_u8s8(l, broadcastLane(a0, v))
                        hi16.0 &+= forge_pairs_u8s8(h, broadcastLane(a0 + 32, v))
                        lo16.1 &+= forge_pairs_u8s8(l, broadcastLane(a1, v))
                        hi16.1 &+= forge_pairs_u8s8(h, broadcastLane(a1 + 32, v))
                        lo16.2 &+= forge_pairs_u8s8(l, broadcastLane(a2, v))
                        hi16.2 &+= forge_pairs_u8s8(h, broadcastLane(a2 + 32, v))
                        lo16.3 &+= forge_pairs_u8s8(l, broadcastLane(a3, v))
                        hi16.3 &+= forge_pairs_u8s8(h, broadcastLane(a3 + 32, v))
                    }
                    let one = SIMD16<Int16>(repeating: 1)
                    lo = (forge_madd_i16(lo.0, lo16.0, one), forge_madd_i16(lo.1, lo16.1, one),
                          forge_madd_i16(lo.2, lo16.2, one), forge_madd_i16(lo.3, lo16.3, one))
                    hi = (forge_madd_i16(hi.0, hi16.0, one), forge_madd_i16(hi.1, hi16.1, one),
                          forge_madd_i16(hi.2, hi16.2, one), forge_madd_i16(hi.3, hi16.3, one))
                }
                @inline(__always) func fuse(_ x: Q8KActivations, _ low: SIMD8<Int32>, _ high: SIMD8<Int32>,
                                            _ acc: inout SIMD8<Float>, _ accMin: inout SIMD8<Float>) {
                    let (sum, mins) = QuantDotK.q4KPair(p, j, low: low, high: high, inPlace: inPlace, x.sums16 + 16 * b)
                    let dx = SIMD8<Float>(repeating: x.scales[b])
                    acc.addProduct(int32ToFloat(sum), d * dx)
                    accMin.addProduct(int32ToFloat(mins), dmin * dx)
                }
                fuse(x0, lo.0, hi.0, &acc.0, &accMin.0)
                fuse(x1, lo.1, hi.1, &acc.1, &accMin.1)
                fuse(x2, lo.2, hi.2, &acc.2, &accMin.2)
                fuse(x3, lo.3, hi.3, &acc.3, &accMin.3)
            }
        }
        PackedGEMM.store(out, ld, 4, acc.0 - accMin.0, acc.1 - accMin.1, acc.2 - accMin.2, acc.3 - accMin.3)
    }

    /// Tokens x[0..<4] against `rows` (1...4) stored Q6_K rows `stride` bytes apart: out[t·ld + i] for row i, each
    /// token's floats those of `QuantDotK.q6K(row, stride:, x[t], rows:, batch: true)`.
    @inline(__always)
    static func q6K(_ row: UnsafeRawPointer, stride: Int, rows: Int, _ x: UnsafePointer<Q8KActivations>,
                    _ out: UnsafeMutablePointer<Float>, ld: Int) {
        let x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3]
        var total = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())  // per row, a lane per token
        for b in 0..<(x0.count / 256) {
            // Each token's 16-value sums as int16 (at most 16·127), for one vpmaddwd with a row's scales.
            @inline(__always) func sums(_ x: Q8KActivations) -> SIMD16<Int16> {
                let s = UnsafeRawPointer(x.sums16 + 16 * b).loadUnaligned(as: SIMD16<Int32>.self)
                var r = SIMD16<Int16>()
                for i in 0..<16 { r[i] = Int16(truncatingIfNeeded: s[i]) }
                return r
            }
            let s0 = sums(x0), s1 = sums(x1), s2 = sums(x2), s3 = sums(x3)
            let dy = SIMD4<Float>(x0.scales[b], x1.scales[b], x2.scales[b], x3.scales[b])
            let a0 = UnsafeRawPointer(x0.values) + 256 * b, a1 = UnsafeRawPointer(x1.values) + 256 * b
            let a2 = UnsafeRawPointer(x2.values) + 256 * b, a3 = UnsafeRawPointer(x3.values) + 256 * b
            @inline(__always) func one(_ p: UnsafeRawPointer, _ total: inout SIMD4<Float>) {
                // Two 32-value chunks per instruction (64 bytes: vpmaddubsw and vpmaddwd on zmm with AVX-512BW).
                var wide = (SIMD16<Int32>(), SIMD16<Int32>(), SIMD16<Int32>(), SIMD16<Int32>())
                for j in 0..<2 {
                    let q = QuantDotK.q6KQuants(p, j)
                    @inline(__always) func chunks(_ t: Int, _ qa: SIMD32<UInt8>, _ qb: SIMD32<UInt8>) {
                        let q64 = SIMD64<UInt8>(lowHalf: qa, highHalf: qb), at = 128 * j + 32 * t
                        let sc = SIMD32<Int16>(lowHalf: QuantDotK.q6KChunkScales(p, j, t), highHalf: QuantDotK.q6KChunkScales(p, j, t + 1))
                        @inline(__always) func dot(_ sumi: inout SIMD16<Int32>, _ a: UnsafeRawPointer) {
                            sumi = forge_madd_i16_x32(sumi, forge_pairs_u8s8_x64(q64, a.loadUnaligned(fromByteOffset: at, as: SIMD64<Int8>.self)), sc)
                        }
                        dot(&wide.0, a0); dot(&wide.1, a1); dot(&wide.2, a2); dot(&wide.3, a3)
                    }
                    chunks(0, q.0, q.1); chunks(2, q.2, q.3)
                }
                let sumi = (wide.0.lowHalf &+ wide.0.highHalf, wide.1.lowHalf &+ wide.1.highHalf,
                            wide.2.lowHalf &+ wide.2.highHalf, wide.3.lowHalf &+ wide.3.highHalf)
                // The quants are stored as q + 32: take 32·Σ scale·Σx̂ of the 16-value groups back out, then each
                // token's whole sum (integers: any order), times d and fused with its d_x, four tokens at once.
                var scales = SIMD16<Int16>()
                let sc = p.loadUnaligned(fromByteOffset: 192, as: SIMD16<Int8>.self)
                for i in 0..<16 { scales[i] = Int16(sc[i]) }
                @inline(__always) func less(_ sumi: SIMD8<Int32>, _ s: SIMD16<Int16>) -> SIMD4<Int32> {
                    let v = sumi &- (forge_madd_i16(SIMD8<Int32>(), scales, s) &<< 5)
                    return v.lowHalf &+ v.highHalf
                }
                let v0 = less(sumi.0, s0), v1 = less(sumi.1, s1), v2 = less(sumi.2, s2), v3 = less(sumi.3, s3)
                let h01 = SIMD4(v0[0], v1[0], v0[2], v1[2]) &+ SIMD4(v0[1], v1[1], v0[3], v1[3])
                let h23 = SIMD4(v2[0], v3[0], v2[2], v3[2]) &+ SIMD4(v2[1], v3[1], v2[3], v3[3])
                let whole = SIMD4(h01[0], h01[1], h23[0], h23[1]) &+ SIMD4(h01[2], h01[3], h23[2], h23[3])
                var r = SIMD4<Float>()
                for t in 0..<4 { r[t] = Float(whole[t]) }
                total.addProduct(r * QuantBlocks.half(p, 208), dy)
            }
            let p = row + b * 210
            one(p, &total.0)
            if rows > 1 { one(p + stride, &total.1) }
            if rows > 2 { one(p + 2 * stride, &total.2) }
            if rows > 3 { one(p + 3 * stride, &total.3) }
        }
        for t in 0..<4 {
            let o = out + t * ld
            o[0] = total.0[t]
            if rows > 1 { o[1] = total.1[t] }
            if rows > 2 { o[2] = total.2[t] }
            if rows > 3 { o[3] = total.3[t] }
        }
    }
}
