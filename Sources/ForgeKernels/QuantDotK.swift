// QuantDotK: Q4_K and Q6_K rows against Q8_K activations, in integers per 256-value block and in Float32
// across blocks, in the order of the kernels llama.cpp runs on x86 for them:
//
// - Q4_K, packed eight rows per group (its "repacked" q4_K_8x8 kernels, which it uses when the rows are a
//   multiple of 8): per row and block, Σ_sub scale·Σ q·x̂ and Σ_sub min·Σ x̂ as integers, each converted and
//   fused with d·d_x and dmin·d_x into its own accumulator; the result is the difference of the two.
// - Q6_K, row by row (vec_dot_q6_K_q8_K; not repacked on x86): 8 int32 lanes per block, lane k holding the
//   products of bytes 4k..4k+3 of each 32-value chunk times that chunk's scale, less 32·(scale·Σq) of 16-value
//   groups 2k and 2k+1; converted and fused with d·d_x, block after block, then summed as hsum_float_8.
import CSIMD
import ForgeCore

public enum QuantDotK {
    /// True for the K-quant types with integer kernels (Q4_K needs its packed layout).
    public static func supports(_ type: GGMLType) -> Bool { type == .q4_K || type == .q6_K }

    // MARK: - Q4_K, packed

    /// Bytes of one packed Q4_K block of 8 rows: d[8], dmin[8] (f16), scales[8 sub-blocks][8 rows],
    /// mins[8][8] (u8, unpacked from 6 bits), then 32 quant vectors (j, v): lane r = row r's bytes 32j+4v ..+3.
    static let q4KPackedBytes = 160 + 1024

    /// Writes the 8 stored Q4_K blocks at `rows[r]` (r < 8) into one packed block at `dst`.
    static func packQ4K(_ rows: (Int) -> UnsafeRawPointer, into dst: UnsafeMutableRawPointer) {
        for r in 0..<8 {
            let src = rows(r)
            dst.storeBytes(of: src.loadUnaligned(as: UInt16.self), toByteOffset: 2 * r, as: UInt16.self)
            dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 16 + 2 * r, as: UInt16.self)
            for s in 0..<8 {
                let (scale, min) = scaleMinK4(s, src + 4)
                dst.storeBytes(of: scale, toByteOffset: 32 + 8 * s + r, as: UInt8.self)
                dst.storeBytes(of: min, toByteOffset: 96 + 8 * s + r, as: UInt8.self)
            }
            for j in 0..<4 {
                for v in 0..<8 {
                    let word = src.loadUnaligned(fromByteOffset: 16 + 32 * j + 4 * v, as: UInt32.self)
                    dst.storeBytes(of: word, toByteOffset: 160 + 32 * (8 * j + v) + 4 * r, as: UInt32.self)
                }
            }
        }
    }

    /// The 6-bit scale and min of sub-block j (0..<8) of a Q4_K block's 12 scale bytes at q.
    @inline(__always) static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        @inline(__always) func b(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 0xF) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4))
    }

    /// Decodes row i (0..<8) of packed block p into y[0..<256] as QuantBlocks decodes Q4_K (d·s·q − dmin·m).
    static func decodeQ4K(_ p: UnsafeRawPointer, row i: Int, into y: UnsafeMutablePointer<Float>) {
        let d = QuantBlocks.half(p, 2 * i), dmin = QuantBlocks.half(p, 16 + 2 * i)
        for s in 0..<8 {
            let d1 = d * Float(p.load(fromByteOffset: 32 + 8 * s + i, as: UInt8.self))
            let n1 = -dmin * Float(p.load(fromByteOffset: 96 + 8 * s + i, as: UInt8.self))
            let j = s / 2, high = s % 2 == 1
            for e in 0..<32 {
                let byte = p.load(fromByteOffset: 160 + 32 * (8 * j + e / 4) + 4 * i + e % 4, as: UInt8.self)
                y[32 * s + e] = n1.addingProduct(Float(high ? byte >> 4 : byte & 0xF), d1)
            }
        }
    }

    /// The 8 rows of packed Q4_K group `g` against `x`. `pairs`: fused per pair of sub-blocks (64 values) rather
    /// than per block, as llama.cpp's gemm_q4_K_8x8_q8_K does for the tokens it takes four at a time.
    @inline(__always)
    public static func q4KPacked(_ g: UnsafeRawPointer, _ x: Q8KActivations, pairs: Bool = false) -> SIMD8<Float> {
        let inPlace = forge_has_vnni() != 0  // high nibbles as 16·q need VNNI (see PackedDot)
        var acc = SIMD8<Float>(), accMin = SIMD8<Float>()
        let xv = UnsafeRawPointer(x.values), pf = WeightPrefetch.enabled
        for b in 0..<(x.count / 256) {
            let p = g + b * q4KPackedBytes, xb = xv + 256 * b
            let dx = SIMD8<Float>(repeating: x.scales[b])
            let dd = halves8(p) * dx, dm = halves8(p + 16) * dx
            var sum = SIMD8<Int32>(), mins = SIMD8<Int32>()
            for j in 0..<4 {
                if pf { q4KPrefetch(p, j) }
                var low = SIMD8<Int32>(), high = SIMD8<Int32>()
                if inPlace {
                    for v in 0..<8 {
                        let (l, h) = q4KNibbles(p, j, v, inPlace: inPlace)
                        low = forge_dot_u8s8(low, l, broadcastLane(xb + 64 * j, v))
                        high = forge_dot_u8s8(high, h, broadcastLane(xb + 64 * j + 32, v))
                    }
                } else {
                    // Without VNNI: 8 pair sums of nibbles with int8 per int16 lane (≤ 8·2·15·128) add up in int16 and
                    // are widened once (vpmaddwd) instead of once per vector: the same integers.
                    var low16 = SIMD16<Int16>(), high16 = SIMD16<Int16>()
                    for v in 0..<8 {
                        let (l, h) = q4KNibbles(p, j, v, inPlace: false)
                        low16 &+= forge_pairs_u8s8(l, broadcastLane(xb + 64 * j, v))
                        high16 &+= forge_pairs_u8s8(h, broadcastLane(xb + 64 * j + 32, v))
                    }
                    let one = SIMD16<Int16>(repeating: 1)
                    low = forge_madd_i16(low, low16, one)
                    high = forge_madd_i16(high, high16, one)
                }
                let (s, m) = q4KPair(p, j, low: low, high: high, inPlace: inPlace, x.sums16 + 16 * b)
                sum &+= s
                mins &+= m
                if pairs {
                    acc.addProduct(int32ToFloat(sum), dd)
                    accMin.addProduct(int32ToFloat(mins), dm)
                    sum = SIMD8(); mins = SIMD8()
                }
            }
            if !pairs {
                acc.addProduct(int32ToFloat(sum), dd)
                accMin.addProduct(int32ToFloat(mins), dm)
            }
        }
        return acc - accMin
    }

    /// Asks for the part of the next packed Q4_K block that pair j of block p will read next.
    @inline(__always) static func q4KPrefetch(_ p: UnsafeRawPointer, _ j: Int) {
        for k in 0..<5 { forge_prefetch(p + q4KPackedBytes + 320 * j + 64 * k) }
    }

    /// Quant vector v of sub-block pair j of packed block p as low and high nibbles (lane r: row r's 4 values);
    /// with `inPlace` the high ones stay as 16·q, for `q4KPair` to shift back after summing.
    @inline(__always)
    static func q4KNibbles(_ p: UnsafeRawPointer, _ j: Int, _ v: Int, inPlace: Bool) -> (SIMD32<UInt8>, SIMD32<UInt8>) {
        let nibbles = SIMD4<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F)
        let u = p.loadUnaligned(fromByteOffset: 160 + 32 * (8 * j + v), as: SIMD4<UInt64>.self)
        let l = u & nibbles, h = inPlace ? u & ~nibbles : (u &>> 4) & nibbles
        return (unsafeBitCast(l, to: SIMD32<UInt8>.self), unsafeBitCast(h, to: SIMD32<UInt8>.self))
    }

    /// Pair j's integer sums for the 8 rows of packed block p: Σ scale·Σq·x̂ of its two sub-blocks from their byte
    /// dot products `low` and `high`, and Σ min·Σx̂ from the activations' 16-value sums `s16` of the block.
    @inline(__always)
    static func q4KPair(_ p: UnsafeRawPointer, _ j: Int, low: SIMD8<Int32>, high: SIMD8<Int32>, inPlace: Bool,
                        _ s16: UnsafePointer<Int32>) -> (sum: SIMD8<Int32>, mins: SIMD8<Int32>) {
        let high = inPlace ? high &>> 4 : high  // an exact multiple of 16
        let sum = low &* bytes8(p + 32 + 16 * j) &+ high &* bytes8(p + 40 + 16 * j)
        var mins = SIMD8<Int32>()
        for s in (2 * j)..<(2 * j + 2) {
            mins &+= bytes8(p + 96 + 8 * s) &* SIMD8(repeating: s16[2 * s] &+ s16[2 * s + 1])
        }
        return (sum, mins)
    }

    // MARK: - Q6_K, stored layout

    /// Up to four Q6_K rows `stride` bytes apart against `x` (lanes past `rows` are 0). With `batch` (the
    /// products of 8 or more tokens), in the order of llama.cpp's tiled K-quant matmul, which it takes for them
    /// (its AVX2 microkernel, as measured): per block the whole integer sum times d, fused with d_x into one sum.
    @inline(__always)
    public static func q6K(_ row: UnsafeRawPointer, stride: Int, _ x: Q8KActivations, rows: Int = 4, batch: Bool = false) -> SIMD4<Float> {
        var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var total = SIMD4<Float>()
        let xv = UnsafeRawPointer(x.values)
        for b in 0..<(x.count / 256) {
            let xb = xv + 256 * b
            let sums = UnsafeRawPointer(x.sums16 + 16 * b).loadUnaligned(as: SIMD16<Int32>.self)
            let dy = x.scales[b]
            @inline(__always) func one(_ p: UnsafeRawPointer, _ acc: inout SIMD8<Float>, _ total: inout Float) {
                var sumi = SIMD8<Int32>()
                for j in 0..<2 {
                    let q = q6KQuants(p, j)
                    @inline(__always) func chunk(_ t: Int, _ q: SIMD32<UInt8>) {
                        let a = xb.loadUnaligned(fromByteOffset: 128 * j + 32 * t, as: SIMD32<Int8>.self)
                        sumi = forge_madd_i16(sumi, forge_pairs_u8s8(q, a), q6KChunkScales(p, j, t))
                    }
                    chunk(0, q.0); chunk(1, q.1); chunk(2, q.2); chunk(3, q.3)
                }
                // The quants are stored as q + 32: per lane k, take 32·(scale·Σx̂) of groups 2k and 2k+1 back out.
                let scales = p.loadUnaligned(fromByteOffset: 192, as: SIMD16<Int8>.self)
                sumi &-= forge_scale_sums(scales, sums.lowHalf, sums.highHalf) &<< 5
                if batch {
                    let r = Float(sumi.wrappedSum()) * QuantBlocks.half(p, 208)
                    total = total.addingProduct(r, dy)
                } else {
                    acc.addProduct(int32ToFloat(sumi), SIMD8(repeating: dy * QuantBlocks.half(p, 208)))
                }
            }
            let p = row + b * 210
            one(p, &acc.0, &total[0])
            if rows > 1 { one(p + stride, &acc.1, &total[1]) }
            if rows > 2 { one(p + 2 * stride, &acc.2, &total[2]) }
            if rows > 3 { one(p + 3 * stride, &acc.3, &total[3]) }
        }
        return batch ? total : SIMD4(hsum8(acc.0), hsum8(acc.1), hsum8(acc.2), hsum8(acc.3))
    }

    /// Values 128j ..< 128j + 128 of stored Q6_K block p as their 6-bit quants (stored as q + 32: 0...63), in four
    /// vectors of 32 consecutive values.
    @inline(__always)
    static func q6KQuants(_ p: UnsafeRawPointer, _ j: Int) -> (SIMD32<UInt8>, SIMD32<UInt8>, SIMD32<UInt8>, SIMD32<UInt8>) {
        let m4 = SIMD4<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F), m3 = SIMD4<UInt64>(repeating: 0x0303_0303_0303_0303)
        let mC = SIMD4<UInt64>(repeating: 0x0C0C_0C0C_0C0C_0C0C), m30 = SIMD4<UInt64>(repeating: 0x3030_3030_3030_3030)
        let mC0 = SIMD4<UInt64>(repeating: 0xC0C0_C0C0_C0C0_C0C0)
        let ql = p + 64 * j
        let b1 = ql.loadUnaligned(as: SIMD4<UInt64>.self), b2 = ql.loadUnaligned(fromByteOffset: 32, as: SIMD4<UInt64>.self)
        let h = p.loadUnaligned(fromByteOffset: 128 + 32 * j, as: SIMD4<UInt64>.self)
        @inline(__always) func bytes(_ v: SIMD4<UInt64>) -> SIMD32<UInt8> { unsafeBitCast(v, to: SIMD32<UInt8>.self) }
        return (bytes((b1 & m4) | ((h & m3) &<< 4)), bytes((b2 & m4) | ((h & mC) &<< 2)),
                bytes(((b1 &>> 4) & m4) | (h & m30)), bytes(((b2 &>> 4) & m4) | ((h & mC0) &>> 2)))
    }

    /// The scales of vector t of `q6KQuants(p, j)` per int16 lane of its byte pair sums (`forge_pairs_u8s8`): lanes
    /// 0..<8 hold its first 16 values, lanes 8..<16 the next 16. Pair sums of 6-bit quants never saturate.
    @inline(__always)
    static func q6KChunkScales(_ p: UnsafeRawPointer, _ j: Int, _ t: Int) -> SIMD16<Int16> {
        forge_scale_pair(p.loadUnaligned(fromByteOffset: 192, as: SIMD16<Int8>.self), Int32(8 * j + 2 * t))
    }
}

/// Eight unsigned bytes at p widened to int32 lanes (vpmovzxbd).
@inlinable @inline(__always)
func bytes8(_ p: UnsafeRawPointer) -> SIMD8<Int32> {
    let v = p.loadUnaligned(as: SIMD8<UInt8>.self)
    var r = SIMD8<Int32>()
    for i in 0..<8 { r[i] = Int32(v[i]) }
    return r
}
