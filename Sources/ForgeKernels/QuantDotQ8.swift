// QuantDotQ8: dot products of stored Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 rows with 8-bit activations (Q8Activations),
// in integers per block and in Float32 across blocks, as llama.cpp's vec_dot_q4_1_q8_1 and friends do.
//
// A block of 32 weights and 32 activations is one byte dot product (CSIMD: vpdpbusd with AVX-512
// VNNI, vpmaddubsw/vpmaddwd with AVX2) into 8 int32 lanes, converted once and scaled by d_w·d_x.
// Q4_1/Q5_1 add m·s (s: the activations' scaled block sum); Q4_0/Q5_0 subtract 8·Σq/16·Σq in integers.
import CSIMD
import ForgeCore

public enum QuantDotQ8 {
    /// True for weight types with an integer kernel; other types keep Float32 activations.
    public static func supports(_ type: GGMLType) -> Bool { [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0].contains(type) }

    /// Σ row[i]·x̂[i] over `x.count` values, x̂ the quantized activations.
    @inline(__always)
    public static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, _ x: Q8Activations) -> Float {
        dot4(type, row, stride: 0, x, rows: 1)[0]
    }

    /// Up to four rows `stride` bytes apart against the same activations (lanes past `rows` are 0).
    @inline(__always)
    public static func dot4(_ type: GGMLType, _ row: UnsafeRawPointer, stride: Int, _ x: Q8Activations, rows: Int = 4) -> SIMD4<Float> {
        switch type {
        case .q4_1: return q4_1(row, stride, x, rows)
        case .q4_0: return q4_0(row, stride, x, rows)
        case .q5_1: return q5_1(row, stride, x, rows)
        case .q5_0: return q5_0(row, stride, x, rows)
        case .q8_0: return q8(row, stride, x, rows)
        default: preconditionFailure("QuantDotQ8: no integer kernel for \(type)")
        }
    }

    // One compiled kernel per type: the shared body inlined with its flags constant.
    static func q4_0(_ r: UnsafeRawPointer, _ s: Int, _ x: Q8Activations, _ n: Int) -> SIMD4<Float> { q4(r, s, x, n, hasMin: false, five: false) }
    static func q4_1(_ r: UnsafeRawPointer, _ s: Int, _ x: Q8Activations, _ n: Int) -> SIMD4<Float> { q4(r, s, x, n, hasMin: true, five: false) }
    static func q5_0(_ r: UnsafeRawPointer, _ s: Int, _ x: Q8Activations, _ n: Int) -> SIMD4<Float> { q4(r, s, x, n, hasMin: false, five: true) }
    static func q5_1(_ r: UnsafeRawPointer, _ s: Int, _ x: Q8Activations, _ n: Int) -> SIMD4<Float> { q4(r, s, x, n, hasMin: true, five: true) }

    /// Q4_0/Q4_1/Q5_0/Q5_1 as llama.cpp's AVX2 vec_dot_q{4,5}_{0,1}_q8_{0,1}: per block, 8 int32 lanes (each the
    /// sum of 4 consecutive products) scaled by d_w·d_x and fused into 8 Float32 accumulators, block after block,
    /// then summed in hsum_float_8's order, plus Σ m·s with a minimum. The same order gives the same floats.
    @inline(__always) static func q4(_ row: UnsafeRawPointer, _ stride: Int, _ x: Q8Activations, _ rows: Int,
                                     hasMin: Bool, five: Bool) -> SIMD4<Float> {
        let bb = (hasMin ? 20 : 18) + (five ? 4 : 0), qo = (hasMin ? 4 : 2) + (five ? 4 : 0)
        var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var o0: Float = 0, o1: Float = 0, o2: Float = 0, o3: Float = 0
        let xv = UnsafeRawPointer(x.values), pf = WeightPrefetch.enabled
        for b in 0..<(x.count / 32) {
            let a = xv.loadUnaligned(fromByteOffset: 32 * b, as: SIMD32<Int8>.self)
            let dx = x.scales[b], side = x.sums[b]
            // Q4_0 and Q5_0 store q + 8 and q + 16: their sums start at −8·Σx̂ or −16·Σx̂ per lane.
            let start = hasMin ? SIMD8<Int32>() : five ? x.minus8LaneSums[b] &* 2 : x.minus8LaneSums[b]
            @inline(__always) func one(_ p: UnsafeRawPointer, _ acc: inout SIMD8<Float>, _ o: inout Float) {
                let q = five ? orBytes(nibbles(p + qo), forge_bits_to_0x10(p.loadUnaligned(fromByteOffset: qo - 4, as: UInt32.self)))
                             : nibbles(p + qo)
                let s = forge_dot_u8s8(start, q, a)
                if hasMin {
                    // d and m side by side: one load, one conversion.
                    let dm = halves2(p)
                    acc.addProduct(int32ToFloat(s), SIMD8(repeating: dm[0] * dx))
                    o.addProduct(dm[1], side)
                } else {
                    acc.addProduct(int32ToFloat(s), SIMD8(repeating: QuantBlocks.half(p, 0) * dx))
                }
            }
            let p = row + b * bb
            if rows == 4 && pf {
                let ahead = p + 8 * stride
                forge_prefetch(ahead); forge_prefetch(ahead + stride); forge_prefetch(ahead + 2 * stride); forge_prefetch(ahead + 3 * stride)
            }
            one(p, &acc.0, &o0)
            if rows > 1 { one(p + stride, &acc.1, &o1) }
            if rows > 2 { one(p + 2 * stride, &acc.2, &o2) }
            if rows > 3 { one(p + 3 * stride, &acc.3, &o3) }
        }
        return SIMD4(hsum8(acc.0) + o0, hsum8(acc.1) + o1, hsum8(acc.2) + o2, hsum8(acc.3) + o3)
    }

    static func q8(_ row: UnsafeRawPointer, _ stride: Int, _ x: Q8Activations, _ rows: Int) -> SIMD4<Float> {
        var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        let xv = UnsafeRawPointer(x.values), pf = WeightPrefetch.enabled
        for b in 0..<(x.count / 32) {
            let a = xv.loadUnaligned(fromByteOffset: 32 * b, as: SIMD32<Int8>.self)
            let dx = x.scales[b]
            let bias = x.minus8LaneSums[b] &<< 4  // −128 × the lane sums of a
            @inline(__always) func one(_ p: UnsafeRawPointer, _ acc: inout SIMD8<Float>) {
                let w = p.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self)
                let s = forge_dot_s8s8_biased(SIMD8<Int32>(), w, a, bias)
                acc.addProduct(int32ToFloat(s), SIMD8(repeating: QuantBlocks.half(p, 0) * dx))
            }
            let p = row + b * 34
            if rows == 4 && pf {
                let ahead = p + 8 * stride
                forge_prefetch(ahead); forge_prefetch(ahead + stride); forge_prefetch(ahead + 2 * stride); forge_prefetch(ahead + 3 * stride)
            }
            one(p, &acc.0)
            if rows > 1 { one(p + stride, &acc.1) }
            if rows > 2 { one(p + 2 * stride, &acc.2) }
            if rows > 3 { one(p + 3 * stride, &acc.3) }
        }
        return SIMD4(hsum8(acc.0), hsum8(acc.1), hsum8(acc.2), hsum8(acc.3))
    }
}

/// The 32 nibbles of a Q4 block in element order (low nibbles, then high), as bytes: the 16 bytes in
/// both halves (vbroadcasti128), the upper half shifted right by 4 (vpsrlvq), masked (vpand).
@inlinable @inline(__always)
func nibbles(_ p: UnsafeRawPointer) -> SIMD32<UInt8> {
    let q = p.loadUnaligned(as: SIMD2<UInt64>.self)
    let both = SIMD4<UInt64>(lowHalf: q, highHalf: q) &>> SIMD4<UInt64>(0, 0, 4, 4)
    return unsafeBitCast(both & SIMD4<UInt64>(repeating: 0x0F0F_0F0F_0F0F_0F0F), to: SIMD32<UInt8>.self)
}

/// a | b on 32 bytes (through 64-bit lanes: byte-lane operators on SIMD32 are not vectorized).
@inlinable @inline(__always)
func orBytes(_ a: SIMD32<UInt8>, _ b: SIMD32<UInt8>) -> SIMD32<UInt8> {
    unsafeBitCast(unsafeBitCast(a, to: SIMD4<UInt64>.self) | unsafeBitCast(b, to: SIMD4<UInt64>.self), to: SIMD32<UInt8>.self)
}

/// The two f16 values at p as floats (one vmovd and one vcvtph2ps).
@inlinable @inline(__always)
func halves2(_ p: UnsafeRawPointer) -> SIMD2<Float> {
    let h = unsafeBitCast(p.loadUnaligned(as: UInt32.self), to: SIMD2<Float16>.self)
    var r = SIMD2<Float>()
    for i in 0..<2 { r[i] = Float(h[i]) }
    return r
}

/// Converts 8 int32 lanes to floats (vcvtdq2ps).
@inlinable @inline(__always)
func int32ToFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var r = SIMD8<Float>()
    for i in 0..<8 { r[i] = Float(v[i]) }
    return r
}

/// Horizontal sum of 8 lanes, in llama.cpp's hsum_float_8 order (halves, then pairs).
@inlinable @inline(__always)
func hsum8(_ v: SIMD8<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    return b[0] + b[1]
}
