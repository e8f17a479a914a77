// PackedGEMMWide: PackedGEMM's tiles for 32 rows × 4 tokens with AVX-512 VNNI. Four packed groups of 8 rows are
// multiplied in two 512-bit halves (groups g and g+1 side by side, then g+2 and g+3), so one byte dot product
// with a token's 4 bytes broadcast does 64 products and each broadcast serves 32 rows instead of 8: the 8-row
// tiles are bound by those loads (one per dot product). Every lane does the 8-row tile's arithmetic for its row
// and token, so the floats are PackedGEMM's bit for bit.
import CSIMD
import ForgeCore

enum PackedGEMMWide {
    /// True when the wide tiles are single AVX-512 instructions (otherwise the 8-row tiles are used).
    static let available = forge_has_vnni512() != 0
    /// Rows per wide tile: four packed groups.
    static let rows = 32
    /// Packed groups of 8 rows in one tile (the least chunk a worker claims, so chunks hold whole tiles).
    static let groups = rows / WeightMatrix.packGroup

    /// out[t·ld + r + i] for the 32 rows of the four packed groups at `g`, `g + groupBytes`, ... and tokens
    /// `t0 ..< t0 + n` (n ≤ 4) of `acts`.
    @inline(__always)
    static func tile(_ type: GGMLType, _ g: UnsafeRawPointer, groupBytes: Int, _ acts: UnsafePointer<Q8Activations>,
                     from t0: Int, count n: Int, out: UnsafeMutablePointer<Float>, ld: Int) {
        let a = acts + t0, o = out + t0 * ld
        switch type {
        case .q4_0: q4_0(g, groupBytes, a, n, o, ld)
        case .q4_1: q4_1(g, groupBytes, a, n, o, ld)
        case .q5_0: q5_0(g, groupBytes, a, n, o, ld)
        case .q5_1: q5_1(g, groupBytes, a, n, o, ld)
        case .q8_0: q8_0(g, groupBytes, a, n, o, ld)
        default: preconditionFailure("PackedGEMMWide: no packed kernel for \(type)")
        }
    }

    // One function per type, so that `quad` is specialized for each (its type is a constant there).
    @inline(never) static func q4_0(_ g: UnsafeRawPointer, _ gs: Int, _ a: UnsafePointer<Q8Activations>, _ n: Int,
                                    _ o: UnsafeMutablePointer<Float>, _ ld: Int) { quad(.q4_0, g, gs, a, n, o, ld) }
    @inline(never) static func q4_1(_ g: UnsafeRawPointer, _ gs: Int, _ a: UnsafePointer<Q8Activations>, _ n: Int,
                                    _ o: UnsafeMutablePointer<Float>, _ ld: Int) { quad(.q4_1, g, gs, a, n, o, ld) }
    @inline(never) static func q5_0(_ g: UnsafeRawPointer, _ gs: Int, _ a: UnsafePointer<Q8Activations>, _ n: Int,
                                    _ o: UnsafeMutablePointer<Float>, _ ld: Int) { quad(.q5_0, g, gs, a, n, o, ld) }
    @inline(never) static func q5_1(_ g: UnsafeRawPointer, _ gs: Int, _ a: UnsafePointer<Q8Activations>, _ n: Int,
                                    _ o: UnsafeMutablePointer<Float>, _ ld: Int) { quad(.q5_1, g, gs, a, n, o, ld) }
    @inline(never) static func q8_0(_ g: UnsafeRawPointer, _ gs: Int, _ a: UnsafePointer<Q8Activations>, _ n: Int,
                                    _ o: UnsafeMutablePointer<Float>, _ ld: Int) { quad(.q8_0, g, gs, a, n, o, ld) }

    /// Four groups as two register halves (groups 0 and 1 in `a`, 2 and 3 in `b`), one 4-byte column of weights at a
    /// time against the four tokens: per column 4 loads of weights and 4 broadcasts feed 8 byte dot products (the
    /// 8-row tile needs a broadcast per dot product and is bound by those loads). Each integer sum is the 8-row
    /// tile's (exact in any order), converted and fused in the same steps: its floats bit for bit. Fewer than 4
    /// tokens repeat the last one and store only `n`.
    @inline(__always)
    static func quad(_ type: GGMLType, _ g: UnsafeRawPointer, _ gs: Int, _ a: UnsafePointer<Q8Activations>, _ n: Int,
                     _ o: UnsafeMutablePointer<Float>, _ ld: Int) {
        let q8 = type == .q8_0, hasMin = QuantBlocks.hasMin(type), five = type == .q5_0 || type == .q5_1
        let layout = PackedLayout(type: type)
        let gb = layout.bytes, qo = layout.quants, fo = layout.fifthBits
        let x0 = a[0], x1 = a[min(1, n - 1)], x2 = a[min(2, n - 1)], x3 = a[min(3, n - 1)]
        let blocks = x0.count / 32
        var f0a = SIMD16<Float>(), f0b = f0a, f1a = f0a, f1b = f0a, f2a = f0a, f2b = f0a, f3a = f0a, f3b = f0a
        let low = SIMD8<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F), flip = SIMD8<UInt64>(repeating: 0x8080_8080_8080_8080)
        let pf = WeightPrefetch.enabled
        for b in 0..<blocks {
            let p0 = g + b * gb, p1 = p0 + gs, p2 = p1 + gs, p3 = p2 + gs
            if pf { prefetchAhead(p0, gb); prefetchAhead(p1, gb); prefetchAhead(p2, gb); prefetchAhead(p3, gb) }
            let xb0 = UnsafeRawPointer(x0.values) + 32 * b, xb1 = UnsafeRawPointer(x1.values) + 32 * b
            let xb2 = UnsafeRawPointer(x2.values) + 32 * b, xb3 = UnsafeRawPointer(x3.values) + 32 * b
            // Q8_0 starts at −128·Σx̂ (weights moved to unsigned), Q4_0 at −8·Σx̂ (q + 8), Q5_0 at −16·Σx̂ (q + 16).
            @inline(__always) func start(_ x: Q8Activations) -> SIMD16<Int32> {
                SIMD16(repeating: hasMin ? 0 : q8 ? x.minus8Sums[b] &<< 4 : (five ? 2 : 1) &* x.minus8Sums[b])
            }
            var s0a = start(x0), s1a = start(x1), s2a = start(x2), s3a = start(x3)
            var s0b = s0a, s1b = s1a, s2b = s2a, s3b = s3a
            // Every token's dot products of one column of weight bytes (wa: groups 0-1, wb: 2-3) with activation bytes at `at`.
            @inline(__always) func column(_ wa: SIMD8<UInt64>, _ wb: SIMD8<UInt64>, _ at: Int) {
                let ua = unsafeBitCast(wa, to: SIMD64<UInt8>.self), ub = unsafeBitCast(wb, to: SIMD64<UInt8>.self)
                s0a = forge_dot16_u8s8(s0a, ua, xb0 + at); s0b = forge_dot16_u8s8(s0b, ub, xb0 + at)
                s1a = forge_dot16_u8s8(s1a, ua, xb1 + at); s1b = forge_dot16_u8s8(s1b, ub, xb1 + at)
                s2a = forge_dot16_u8s8(s2a, ua, xb2 + at); s2b = forge_dot16_u8s8(s2b, ub, xb2 + at)
                s3a = forge_dot16_u8s8(s3a, ua, xb3 + at); s3b = forge_dot16_u8s8(s3b, ub, xb3 + at)
            }
            if q8 {
                for j in 0..<8 { column(pair(p0, p1, 16 + 32 * j) ^ flip, pair(p2, p3, 16 + 32 * j) ^ flip, 4 * j) }
            } else {
                for j in 0..<4 {
                    let ua = pair(p0, p1, qo + 32 * j), ub = pair(p2, p3, qo + 32 * j)
                    var la = ua & low, lb = ub & low, ha = (ua &>> 4) & low, hb = (ub &>> 4) & low
                    if five {
                        @inline(__always) func bits(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer, _ at: Int) -> SIMD8<UInt64> {
                            unsafeBitCast(forge_bits_to_0x10_x64(p.loadUnaligned(fromByteOffset: at, as: UInt32.self),
                                                                 q.loadUnaligned(fromByteOffset: at, as: UInt32.self)), to: SIMD8<UInt64>.self)
                        }
                        la |= bits(p0, p1, fo + 4 * j); lb |= bits(p2, p3, fo + 4 * j)
                        ha |= bits(p0, p1, fo + 16 + 4 * j); hb |= bits(p2, p3, fo + 16 + 4 * j)
                    }
                    column(la, lb, 4 * j)
                    column(ha, hb, 16 + 4 * j)
                }
            }
            let da = halves16(p0, p1), db = halves16(p2, p3)
            let ma = hasMin ? halves16(p0 + 16, p1 + 16) : SIMD16<Float>(), mb = hasMin ? halves16(p2 + 16, p3 + 16) : SIMD16<Float>()
            @inline(__always) func fuse(_ x: Q8Activations, _ sa: SIMD16<Int32>, _ sb: SIMD16<Int32>,
                                        _ fa: inout SIMD16<Float>, _ fb: inout SIMD16<Float>) {
                let dx = SIMD16<Float>(repeating: x.scales[b])
                fa.addProduct(int32ToFloat16(sa), da * dx)
                fb.addProduct(int32ToFloat16(sb), db * dx)
                if hasMin {
                    let sx = SIMD16<Float>(repeating: x.sums[b])
                    fa.addProduct(ma, sx)
                    fb.addProduct(mb, sx)
                }
            }
            fuse(x0, s0a, s0b, &f0a, &f0b); fuse(x1, s1a, s1b, &f1a, &f1b)
            fuse(x2, s2a, s2b, &f2a, &f2b); fuse(x3, s3a, s3b, &f3a, &f3b)
        }
        @inline(__always) func store(_ t: Int, _ fa: SIMD16<Float>, _ fb: SIMD16<Float>) {
            UnsafeMutableRawPointer(o + t * ld).storeBytes(of: fa, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(o + t * ld + 16).storeBytes(of: fb, as: SIMD16<Float>.self)
        }
        store(0, f0a, f0b)
        if n > 1 { store(1, f1a, f1b) }
        if n > 2 { store(2, f2a, f2b) }
        if n > 3 { store(3, f3a, f3b) }
    }
}

extension PackedGEMMWide {
    /// Q4_K: tokens x[0] and x[1] against the 32 rows of four packed Q4_K groups `gs` bytes apart, into out[t·ld + i];
    /// each token's floats those of `KQuantGEMM.q4K` (so of `QuantDotK.q4KPacked(pairs: true)`), bit for bit. Two
    /// tokens, not four: each keeps a sum and a min term per half, and four would not fit in the 32 registers.
    @inline(never)
    static func q4K(_ g: UnsafeRawPointer, _ gs: Int, _ x: UnsafePointer<Q8KActivations>, _ out: UnsafeMutablePointer<Float>, ld: Int) {
        let x0 = x[0], x1 = x[1]
        var f0a = SIMD16<Float>(), f0b = f0a, f1a = f0a, f1b = f0a, m0a = f0a, m0b = f0a, m1a = f0a, m1b = f0a
        let low = SIMD8<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F), pf = WeightPrefetch.enabled
        @inline(__always) func bytes16(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer) -> SIMD16<Int32> {
            SIMD16(lowHalf: bytes8(p), highHalf: bytes8(q))
        }
        for b in 0..<(x0.count / 256) {
            let p0 = g + b * QuantDotK.q4KPackedBytes, p1 = p0 + gs, p2 = p1 + gs, p3 = p2 + gs
            for j in 0..<4 {
                if pf { QuantDotK.q4KPrefetch(p0, j); QuantDotK.q4KPrefetch(p1, j); QuantDotK.q4KPrefetch(p2, j); QuantDotK.q4KPrefetch(p3, j) }
                let at = 256 * b + 64 * j
                let a0 = UnsafeRawPointer(x0.values) + at, a1 = UnsafeRawPointer(x1.values) + at
                // Low nibbles (sub-block 2j) and high nibbles in place (16·q, sub-block 2j + 1) per token and half.
                var l0a = SIMD16<Int32>(), l0b = l0a, h0a = l0a, h0b = l0a, l1a = l0a, l1b = l0a, h1a = l0a, h1b = l0a
                for v in 0..<8 {
                    let ua = pair(p0, p1, 160 + 32 * (8 * j + v)), ub = pair(p2, p3, 160 + 32 * (8 * j + v))
                    let la = unsafeBitCast(ua & low, to: SIMD64<UInt8>.self), lb = unsafeBitCast(ub & low, to: SIMD64<UInt8>.self)
                    let ha = unsafeBitCast(ua & ~low, to: SIMD64<UInt8>.self), hb = unsafeBitCast(ub & ~low, to: SIMD64<UInt8>.self)
                    l0a = forge_dot16_u8s8(l0a, la, a0 + 4 * v); l0b = forge_dot16_u8s8(l0b, lb, a0 + 4 * v)
                    h0a = forge_dot16_u8s8(h0a, ha, a0 + 32 + 4 * v); h0b = forge_dot16_u8s8(h0b, hb, a0 + 32 + 4 * v)
                    l1a = forge_dot16_u8s8(l1a, la, a1 + 4 * v); l1b = forge_dot16_u8s8(l1b, lb, a1 + 4 * v)
                    h1a = forge_dot16_u8s8(h1a, ha, a1 + 32 + 4 * v); h1b = forge_dot16_u8s8(h1b, hb, a1 + 32 + 4 * v)
                }
                // QuantDotK.q4KPair and KQuantGEMM's fuse, 16 rows per half.
                let sla = bytes16(p0 + 32 + 16 * j, p1 + 32 + 16 * j), slb = bytes16(p2 + 32 + 16 * j, p3 + 32 + 16 * j)
                let sha = bytes16(p0 + 40 + 16 * j, p1 + 40 + 16 * j), shb = bytes16(p2 + 40 + 16 * j, p3 + 40 + 16 * j)
                @inline(__always) func fuse(_ x: Q8KActivations, _ la: SIMD16<Int32>, _ ha: SIMD16<Int32>, _ lb: SIMD16<Int32>,
                                            _ hb: SIMD16<Int32>, _ fa: inout SIMD16<Float>, _ fb: inout SIMD16<Float>,
                                            _ ma: inout SIMD16<Float>, _ mb: inout SIMD16<Float>) {
                    let s16 = x.sums16 + 16 * b
                    var minsA = SIMD16<Int32>(), minsB = SIMD16<Int32>()
                    for s in (2 * j)..<(2 * j + 2) {
                        let xs = SIMD16<Int32>(repeating: s16[2 * s] &+ s16[2 * s + 1])
                        minsA &+= bytes16(p0 + 96 + 8 * s, p1 + 96 + 8 * s) &* xs
                        minsB &+= bytes16(p2 + 96 + 8 * s, p3 + 96 + 8 * s) &* xs
                    }
                    let dx = SIMD16<Float>(repeating: x.scales[b])
                    fa.addProduct(int32ToFloat16(la &* sla &+ (ha &>> 4) &* sha), halves16(p0, p1) * dx)
                    ma.addProduct(int32ToFloat16(minsA), halves16(p0 + 16, p1 + 16) * dx)
                    fb.addProduct(int32ToFloat16(lb &* slb &+ (hb &>> 4) &* shb), halves16(p2, p3) * dx)
                    mb.addProduct(int32ToFloat16(minsB), halves16(p2 + 16, p3 + 16) * dx)
                }
                fuse(x0, l0a, h0a, l0b, h0b, &f0a, &f0b, &m0a, &m0b)
                fuse(x1, l1a, h1a, l1b, h1b, &f1a, &f1b, &m1a, &m1b)
            }
        }
        UnsafeMutableRawPointer(out).storeBytes(of: f0a - m0a, as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(out + 16).storeBytes(of: f0b - m0b, as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(out + ld).storeBytes(of: f1a - m1a, as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(out + ld + 16).storeBytes(of: f1b - m1b, as: SIMD16<Float>.self)
    }
}

/// The 32 bytes at p + at and the 32 at q + at in one 512-bit value (two groups' vectors side by side).
@inline(__always)
func pair(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer, _ at: Int) -> SIMD8<UInt64> {
    SIMD8<UInt64>(lowHalf: p.loadUnaligned(fromByteOffset: at, as: SIMD4<UInt64>.self),
                  highHalf: q.loadUnaligned(fromByteOffset: at, as: SIMD4<UInt64>.self))
}

/// The 8 f16 scales at p and the 8 at q as 16 floats.
@inline(__always)
func halves16(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer) -> SIMD16<Float> {
    SIMD16(lowHalf: halves8(p), highHalf: halves8(q))
}

/// Converts 16 int32 lanes to floats (vcvtdq2ps zmm).
@inline(__always)
func int32ToFloat16(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}
