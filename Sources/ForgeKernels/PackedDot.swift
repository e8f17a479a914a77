// PackedDot: eight packed rows (PackedRows) against one token's 8-bit activations.
//
// The floats are those of QuantDotQ8 (llama.cpp's order): for each row, lane k of a block is the integer
// sum of 4 products, converted and fused into accumulator k with d·d_x, block after block, then the 8
// accumulators are summed in hsum_float_8's order. Here accumulator k holds lane k of all 8 rows, so the
// same operations run on 8 rows per instruction. With VNNI, high nibbles are used in place (16·q, masked
// without a shift) against d·d_x/16: both products are exact, so the fused result is the same float.
import CSIMD
import ForgeCore

public enum PackedDot {
    /// Σ over blocks for the 8 rows of packed group `g` (type Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0).
    @inline(__always)
    public static func dot8(_ type: GGMLType, _ g: UnsafeRawPointer, _ x: Q8Activations) -> SIMD8<Float> {
        switch type {
        case .q4_1: return q4_1(g, x)
        case .q4_0: return q4_0(g, x)
        case .q5_1: return q5_1(g, x)
        case .q5_0: return q5_0(g, x)
        case .q8_0: return q8(g, x)
        default: preconditionFailure("PackedDot: no packed kernel for \(type)")
        }
    }

    // One compiled kernel per type: the shared body inlined with its flags constant.
    static func q4_1(_ g: UnsafeRawPointer, _ x: Q8Activations) -> SIMD8<Float> { q4(g, x, hasMin: true, five: false) }
    static func q5_0(_ g: UnsafeRawPointer, _ x: Q8Activations) -> SIMD8<Float> { q4(g, x, hasMin: false, five: true) }
    static func q5_1(_ g: UnsafeRawPointer, _ x: Q8Activations) -> SIMD8<Float> { q4(g, x, hasMin: true, five: true) }

    /// Q4_1 and, with `five`, Q5_0/Q5_1 (fifth bits or-ed in as 0x10; their high nibbles are shifted), in the
    /// order of llama.cpp's vec_dot kernels (those types are not repacked there).
    @inline(__always) static func q4(_ g: UnsafeRawPointer, _ x: Q8Activations, hasMin: Bool, five: Bool) -> SIMD8<Float> {
        let layout = PackedLayout(type: five ? (hasMin ? .q5_1 : .q5_0) : (hasMin ? .q4_1 : .q4_0))
        let gb = layout.bytes, qo = layout.quants, fo = layout.fifthBits
        // High nibbles in place (16·q) need VNNI: u8 operands up to 240 would saturate AVX2's 16-bit pair sums.
        let inPlace = forge_has_vnni() != 0 && !five
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
        var o = SIMD8<Float>()
        let xv = UnsafeRawPointer(x.values), pf = WeightPrefetch.enabled
        for b in 0..<(x.count / 32) {
            let p = g + b * gb, xb = xv + 32 * b
            if pf { prefetchAhead(p, gb) }
            let ddx = halves8(p) * SIMD8(repeating: x.scales[b])
            let ddxHigh = inPlace ? ddx * 0.0625 : ddx
            if hasMin { o.addProduct(halves8(p + 16), SIMD8(repeating: x.sums[b])) }
            // Q4_0 and Q5_0 store q + 8 and q + 16: their sums start at −8·Σx̂ or −16·Σx̂ per lane.
            let m8 = hasMin ? SIMD8<Int32>() : five ? x.minus8LaneSums[b] &* 2 : x.minus8LaneSums[b]
            @inline(__always) func lane(_ j: Int, _ low: inout SIMD8<Float>, _ high: inout SIMD8<Float>) {
                // Masks on 64-bit lanes: byte-lane operators on SIMD32 are not vectorized.
                let u = p.loadUnaligned(fromByteOffset: qo + 32 * j, as: SIMD4<UInt64>.self)
                let nibbles = SIMD4<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F)
                var l = u & nibbles, h = inPlace ? u & ~nibbles : (u &>> 4) & nibbles
                if five {
                    l |= unsafeBitCast(forge_bits_to_0x10(p.loadUnaligned(fromByteOffset: fo + 4 * j, as: UInt32.self)), to: SIMD4<UInt64>.self)
                    h |= unsafeBitCast(forge_bits_to_0x10(p.loadUnaligned(fromByteOffset: fo + 16 + 4 * j, as: UInt32.self)),
                                       to: SIMD4<UInt64>.self)
                }
                let startLow = SIMD8<Int32>(repeating: m8[j])
                let startHigh = SIMD8<Int32>(repeating: inPlace ? m8[j + 4] &<< 4 : m8[j + 4])
                let sl = forge_dot_u8s8(startLow, unsafeBitCast(l, to: SIMD32<UInt8>.self), broadcastLane(xb, j))
                let sh = forge_dot_u8s8(startHigh, unsafeBitCast(h, to: SIMD32<UInt8>.self), broadcastLane(xb, j + 4))
                low.addProduct(int32ToFloat(sl), ddx)
                high.addProduct(int32ToFloat(sh), ddxHigh)
            }
            lane(0, &a0, &a4)
            lane(1, &a1, &a5)
            lane(2, &a2, &a6)
            lane(3, &a3, &a7)
        }
        let s = ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
        return hasMin ? s + o : s
    }

    /// Q4_0 in the order of llama.cpp's x86 kernels for its repacked Q4_0 (gemv/gemm_q4_0_8x8_q8_0, used when
    /// the rows are a multiple of 8): per row, the whole block's integer sum, converted and fused with d·d_x
    /// into one accumulator, block after block.
    static func q4_0(_ g: UnsafeRawPointer, _ x: Q8Activations) -> SIMD8<Float> {
        let layout = PackedLayout(type: .q4_0)
        let gb = layout.bytes, qo = layout.quants
        let inPlace = forge_has_vnni() != 0
        var acc = SIMD8<Float>()
        let xv = UnsafeRawPointer(x.values), pf = WeightPrefetch.enabled
        for b in 0..<(x.count / 32) {
            let p = g + b * gb, xb = xv + 32 * b
            if pf { prefetchAhead(p, gb) }
            // The stored nibbles are q + 8: the sum starts at −8·Σx̂ over the block.
            let start = SIMD8<Int32>(repeating: x.minus8Sums[b])
            let sum: SIMD8<Int32>
            let nibbles = SIMD4<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F)
            if inPlace {
                var low = start, high = SIMD8<Int32>()
                for j in 0..<4 {
                    let u = p.loadUnaligned(fromByteOffset: qo + 32 * j, as: SIMD4<UInt64>.self)
                    low = forge_dot_u8s8(low, unsafeBitCast(u & nibbles, to: SIMD32<UInt8>.self), broadcastLane(xb, j))
                    high = forge_dot_u8s8(high, unsafeBitCast(u & ~nibbles, to: SIMD32<UInt8>.self), broadcastLane(xb, j + 4))
                }
                // In place, the high nibbles summed 16·q: an exact multiple of 16.
                sum = low &+ (high &>> 4)
            } else {
                // Without VNNI: a row's pair sums of nibbles with int8 (8 per int16 lane, ≤ 8·2·15·128) add up in
                // int16, widened once (vpmaddwd) instead of once per vector.
                var pairs = SIMD16<Int16>()
                for j in 0..<4 {
                    let u = p.loadUnaligned(fromByteOffset: qo + 32 * j, as: SIMD4<UInt64>.self)
                    pairs &+= forge_pairs_u8s8(unsafeBitCast(u & nibbles, to: SIMD32<UInt8>.self), broadcastLane(xb, j))
                    pairs &+= forge_pairs_u8s8(unsafeBitCast((u &>> 4) & nibbles, to: SIMD32<UInt8>.self), broadcastLane(xb, j + 4))
                }
                sum = forge_madd_i16(start, pairs, SIMD16(repeating: 1))
            }
            acc.addProduct(int32ToFloat(sum), halves8(p) * SIMD8(repeating: x.scales[b]))
        }
        return acc
    }

    static func q8(_ g: UnsafeRawPointer, _ x: Q8Activations) -> SIMD8<Float> {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
        let xv = UnsafeRawPointer(x.values), pf = WeightPrefetch.enabled
        for b in 0..<(x.count / 32) {
            let p = g + b * 272, xb = xv + 32 * b
            if pf { for k in 0..<5 { forge_prefetch(p + 2 * 272 + 64 * k) } }
            let ddx = halves8(p) * SIMD8(repeating: x.scales[b])
            let bias = x.minus8LaneSums[b] &<< 4  // −128 × each lane's activation sum
            @inline(__always) func lane(_ j: Int, _ acc: inout SIMD8<Float>) {
                let w = p.loadUnaligned(fromByteOffset: 16 + 32 * j, as: SIMD32<Int8>.self)
                let s = forge_dot_s8s8_biased(SIMD8<Int32>(), w, broadcastLane(xb, j), SIMD8(repeating: bias[j]))
                acc.addProduct(int32ToFloat(s), ddx)
            }
            lane(0, &a0); lane(1, &a1); lane(2, &a2); lane(3, &a3)
            lane(4, &a4); lane(5, &a5); lane(6, &a6); lane(7, &a7)
        }
        return ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
    }
}

/// Asks for the packed block four blocks after p (blocks of `gb` ≤ 192 bytes: three cache lines).
@inlinable @inline(__always)
func prefetchAhead(_ p: UnsafeRawPointer, _ gb: Int) {
    forge_prefetch(p + 4 * gb)
    forge_prefetch(p + 4 * gb + 64)
    forge_prefetch(p + 4 * gb + 128)
}

/// Activation bytes 4j..4j+3 of a block in every 4-byte lane (vpbroadcastd).
@inlinable @inline(__always)
func broadcastLane(_ xb: UnsafeRawPointer, _ j: Int) -> SIMD32<Int8> {
    unsafeBitCast(SIMD8<Int32>(repeating: xb.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)), to: SIMD32<Int8>.self)
}

/// Eight f16 values at p as floats (vcvtph2ps).
@inlinable @inline(__always)
func halves8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
    let h = p.loadUnaligned(as: SIMD8<Float16>.self)
    var r = SIMD8<Float>()
    for i in 0..<8 { r[i] = Float(h[i]) }
    return r
}
