// PackedGEMM: long batches (a sequence's 64+ tokens) through the packed layout in integers: tiles of 8 rows × 4
// tokens. The unpacked weights of a block stay in registers for the 4 tokens; for each (row, token) the block's 32
// products are summed in integers (one byte dot product per 4-byte lane position), converted once and fused with
// d_w·d_x into the accumulator, block after block (Q4_1/Q5_1 add m_w·s_x per block) — the order of llama.cpp's
// repacked Q4_0 gemm, for every 32-value type. Compared with decoding strips to Float32 for SGEMM, nothing is
// decoded or packed again, and one instruction does 32 multiply-adds instead of 16. The floats differ from the
// short path's (llama.cpp's vec_dot order) only in the order of additions, as the SGEMM path's did.
import CSIMD
import ForgeCore

public enum PackedGEMM {
    /// Tokens per tile.
    public static let tile = 4

    /// out[t·ld + r + i] for the 8 rows of packed group `g` and tokens `t0 ..< t0 + n` (n ≤ 4) of `acts`.
    @inline(__always)
    public static func tile(_ type: GGMLType, _ g: UnsafeRawPointer, _ acts: UnsafePointer<Q8Activations>, from t0: Int, count n: Int,
                            out: UnsafeMutablePointer<Float>, ld: Int) {
        switch type {
        case .q4_0: q4_0(g, acts + t0, n, out + t0 * ld, ld)
        case .q4_1: q4_1(g, acts + t0, n, out + t0 * ld, ld)
        case .q5_0: q5_0(g, acts + t0, n, out + t0 * ld, ld)
        case .q5_1: q5_1(g, acts + t0, n, out + t0 * ld, ld)
        case .q8_0: q8(g, acts + t0, n, out + t0 * ld, ld)
        default: preconditionFailure("PackedGEMM: no packed kernel for \(type)")
        }
    }

    /// out[t·ld + i] for the 8 rows of packed group `g` and every token t < `tokens`, four tokens per tile.
    @inline(__always)
    public static func tiles(_ type: GGMLType, _ g: UnsafeRawPointer, _ acts: UnsafePointer<Q8Activations>, tokens: Int,
                             out: UnsafeMutablePointer<Float>, ld: Int) {
        var t0 = 0
        while t0 < tokens {
            let k = min(tile, tokens - t0)
            self.tile(type, g, acts, from: t0, count: k, out: out, ld: ld)
            t0 += k
        }
    }

    /// `tiles` for `groups` consecutive packed groups from `g` (`groupBytes` apart; their rows follow in `out`): one
    /// dispatch for a worker's run of a product instead of one per group. The same floats as `tiles` group by group.
    public static func rows(_ type: GGMLType, _ g: UnsafeRawPointer, groups: Int, groupBytes: Int, _ acts: UnsafePointer<Q8Activations>,
                            tokens: Int, out: UnsafeMutablePointer<Float>, ld: Int) {
        @inline(__always)
        func each(_ kernel: (UnsafeRawPointer, UnsafePointer<Q8Activations>, Int, UnsafeMutablePointer<Float>, Int) -> Void) {
            for i in 0..<groups {  // every token through a group while its weights are in L1
                var t0 = 0
                while t0 < tokens {
                    let k = min(tile, tokens - t0)
                    kernel(g + i * groupBytes, acts + t0, k, out + t0 * ld + 8 * i, ld)
                    t0 += k
                }
            }
        }
        switch type {
        case .q4_0: each(q4_0)
        case .q4_1: each(q4_1)
        case .q5_0: each(q5_0)
        case .q5_1: each(q5_1)
        case .q8_0: each(q8)
        default: preconditionFailure("PackedGEMM: no packed kernel for \(type)")
        }
    }

    static func q4_0(_ g: UnsafeRawPointer, _ a: UnsafePointer<Q8Activations>, _ n: Int, _ o: UnsafeMutablePointer<Float>, _ ld: Int) {
        q4(g, a, n, o, ld, hasMin: false, five: false)
    }
    static func q4_1(_ g: UnsafeRawPointer, _ a: UnsafePointer<Q8Activations>, _ n: Int, _ o: UnsafeMutablePointer<Float>, _ ld: Int) {
        q4(g, a, n, o, ld, hasMin: true, five: false)
    }
    static func q5_0(_ g: UnsafeRawPointer, _ a: UnsafePointer<Q8Activations>, _ n: Int, _ o: UnsafeMutablePointer<Float>, _ ld: Int) {
        q4(g, a, n, o, ld, hasMin: false, five: true)
    }
    static func q5_1(_ g: UnsafeRawPointer, _ a: UnsafePointer<Q8Activations>, _ n: Int, _ o: UnsafeMutablePointer<Float>, _ ld: Int) {
        q4(g, a, n, o, ld, hasMin: true, five: true)
    }

    /// The 4- and 5-bit types: low and high nibbles (with the fifth bits or-ed in as 0x10) against the token's bytes.
    @inline(__always)
    static func q4(_ g: UnsafeRawPointer, _ a: UnsafePointer<Q8Activations>, _ n: Int, _ o: UnsafeMutablePointer<Float>, _ ld: Int,
                   hasMin: Bool, five: Bool) {
        let layout = PackedLayout(type: five ? (hasMin ? .q5_1 : .q5_0) : (hasMin ? .q4_1 : .q4_0))
        let gb = layout.bytes, qo = layout.quants, fo = layout.fifthBits
        let inPlace = forge_has_vnni() != 0 && !five  // high nibbles as 16·q, summed apart and shifted back
        let blocks = a[0].count / 32
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        let nibbles = SIMD4<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F), pf = WeightPrefetch.enabled
        for b in 0..<blocks {
            let p = g + b * gb
            if pf { prefetchAhead(p, gb) }
            @inline(__always) func weights(_ j: Int) -> (SIMD32<UInt8>, SIMD32<UInt8>) {
                let u = p.loadUnaligned(fromByteOffset: qo + 32 * j, as: SIMD4<UInt64>.self)
                var lo = u & nibbles, hi = inPlace ? u & ~nibbles : (u &>> 4) & nibbles
                if five {
                    lo |= unsafeBitCast(forge_bits_to_0x10(p.loadUnaligned(fromByteOffset: fo + 4 * j, as: UInt32.self)), to: SIMD4<UInt64>.self)
                    hi |= unsafeBitCast(forge_bits_to_0x10(p.loadUnaligned(fromByteOffset: fo + 16 + 4 * j, as: UInt32.self)),
                                        to: SIMD4<UInt64>.self)
                }
                return (unsafeBitCast(lo, to: SIMD32<UInt8>.self), unsafeBitCast(hi, to: SIMD32<UInt8>.self))
            }
            let (l0, h0) = weights(0), (l1, h1) = weights(1), (l2, h2) = weights(2), (l3, h3) = weights(3)
            let dw = halves8(p), mw = hasMin ? halves8(p + 16) : SIMD8<Float>()
            @inline(__always) func token(_ t: Int, _ acc: inout SIMD8<Float>) {
                let x = a[t], xb = UnsafeRawPointer(x.values) + 32 * b
                // Q4_0 and Q5_0 store q + 8 and q + 16: the block's sum starts at −8·Σx̂ or −16·Σx̂.
                let start: Int32 = hasMin ? 0 : (five ? 2 : 1) &* x.minus8Sums[b]
                if forge_has_vnni() == 0 {
                    // AVX2: the int16 pair sums of a half block (≤ 4·2·31·128), or of a whole 4-bit block (≤ 8·2·15·128),
                    // add up in int16 and are widened once (vpmaddwd) instead of once per vector: the same integers.
                    var lo16 = forge_pairs_u8s8(l0, broadcastLane(xb, 0)) &+ forge_pairs_u8s8(l1, broadcastLane(xb, 1))
                    lo16 &+= forge_pairs_u8s8(l2, broadcastLane(xb, 2)) &+ forge_pairs_u8s8(l3, broadcastLane(xb, 3))
                    var hi16 = forge_pairs_u8s8(h0, broadcastLane(xb, 4)) &+ forge_pairs_u8s8(h1, broadcastLane(xb, 5))
                    hi16 &+= forge_pairs_u8s8(h2, broadcastLane(xb, 6)) &+ forge_pairs_u8s8(h3, broadcastLane(xb, 7))
                    let one = SIMD16<Int16>(repeating: 1)
                    let sum = five ? forge_madd_i16(forge_madd_i16(SIMD8(), lo16, one), hi16, one) : forge_madd_i16(SIMD8(), lo16 &+ hi16, one)
                    acc.addProduct(int32ToFloat(SIMD8(repeating: start) &+ sum), dw * SIMD8(repeating: x.scales[b]))
                    if hasMin { acc.addProduct(mw, SIMD8(repeating: x.sums[b])) }
                    return
                }
                var lo = forge_dot_u8s8(SIMD8<Int32>(repeating: start), l0, broadcastLane(xb, 0))
                var hi = forge_dot_u8s8(SIMD8<Int32>(), h0, broadcastLane(xb, 4))
                lo = forge_dot_u8s8(lo, l1, broadcastLane(xb, 1))
                hi = forge_dot_u8s8(hi, h1, broadcastLane(xb, 5))
                lo = forge_dot_u8s8(lo, l2, broadcastLane(xb, 2))
                hi = forge_dot_u8s8(hi, h2, broadcastLane(xb, 6))
                lo = forge_dot_u8s8(lo, l3, broadcastLane(xb, 3))
                hi = forge_dot_u8s8(hi, h3, broadcastLane(xb, 7))
                acc.addProduct(int32ToFloat(lo &+ (inPlace ? hi &>> 4 : hi)), dw * SIMD8(repeating: x.scales[b]))
                if hasMin { acc.addProduct(mw, SIMD8(repeating: x.sums[b])) }
            }
            token(0, &acc0)
            if n > 1 { token(1, &acc1) }
            if n > 2 { token(2, &acc2) }
            if n > 3 { token(3, &acc3) }
        }
        store(o, ld, n, acc0, acc1, acc2, acc3)
    }

    /// Q8_0: with VNNI the signed weights move to unsigned once per block (w + 128, one xor) and each token's sum
    /// starts at −128·Σx̂, which takes the extra 128·Σx̂ back out exactly; without VNNI, AVX2's sign trick per product.
    static func q8(_ g: UnsafeRawPointer, _ a: UnsafePointer<Q8Activations>, _ n: Int, _ o: UnsafeMutablePointer<Float>, _ ld: Int) {
        let blocks = a[0].count / 32
        let vnni = forge_has_vnni() != 0
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        let flip = SIMD4<UInt64>(repeating: 0x8080_8080_8080_8080), pf = WeightPrefetch.enabled
        for b in 0..<blocks {
            let p = g + b * 272
            if pf { for k in 0..<5 { forge_prefetch(p + 2 * 272 + 64 * k) } }
            @inline(__always) func w(_ j: Int) -> SIMD4<UInt64> {
                let v = p.loadUnaligned(fromByteOffset: 16 + 32 * j, as: SIMD4<UInt64>.self)
                return vnni ? v ^ flip : v
            }
            let w0 = w(0), w1 = w(1), w2 = w(2), w3 = w(3), w4 = w(4), w5 = w(5), w6 = w(6), w7 = w(7)
            let dw = halves8(p)
            @inline(__always) func token(_ t: Int, _ acc: inout SIMD8<Float>) {
                let x = a[t], xb = UnsafeRawPointer(x.values) + 32 * b
                @inline(__always) func dot(_ s: SIMD8<Int32>, _ w: SIMD4<UInt64>, _ j: Int) -> SIMD8<Int32> {
                    vnni ? forge_dot_u8s8(s, unsafeBitCast(w, to: SIMD32<UInt8>.self), broadcastLane(xb, j))
                        : forge_dot_s8s8(s, unsafeBitCast(w, to: SIMD32<Int8>.self), broadcastLane(xb, j))
                }
                // Two chains of four dependent byte dots (as fast as one chain of eight on Ice Lake, measured).
                var s = SIMD8<Int32>(repeating: vnni ? x.minus8Sums[b] &<< 4 : 0), u = SIMD8<Int32>()  // −128·Σx̂ = 16 × (−8·Σx̂)
                s = dot(s, w0, 0); u = dot(u, w1, 1); s = dot(s, w2, 2); u = dot(u, w3, 3)
                s = dot(s, w4, 4); u = dot(u, w5, 5); s = dot(s, w6, 6); u = dot(u, w7, 7)
                acc.addProduct(int32ToFloat(s &+ u), dw * SIMD8(repeating: x.scales[b]))
            }
            token(0, &acc0)
            if n > 1 { token(1, &acc1) }
            if n > 2 { token(2, &acc2) }
            if n > 3 { token(3, &acc3) }
        }
        store(o, ld, n, acc0, acc1, acc2, acc3)
    }

    @inline(__always)
    static func store(_ o: UnsafeMutablePointer<Float>, _ ld: Int, _ n: Int,
                      _ a0: SIMD8<Float>, _ a1: SIMD8<Float>, _ a2: SIMD8<Float>, _ a3: SIMD8<Float>) {
        UnsafeMutableRawPointer(o).storeBytes(of: a0, as: SIMD8<Float>.self)
        if n > 1 { UnsafeMutableRawPointer(o + ld).storeBytes(of: a1, as: SIMD8<Float>.self) }
        if n > 2 { UnsafeMutableRawPointer(o + 2 * ld).storeBytes(of: a2, as: SIMD8<Float>.self) }
        if n > 3 { UnsafeMutableRawPointer(o + 3 * ld).storeBytes(of: a3, as: SIMD8<Float>.self) }
    }
}
