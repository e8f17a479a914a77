// GGMLQuantizeVector: the 32-value block encoders (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) and the F16/BF16 row conversions
// on SIMD16 vectors. Every value goes through the same Float32 operations as the scalar reference (one multiply, one
// add, a truncating or rounding conversion), so the bytes are the same; the block maxima and minima come from vector
// reductions, which are exact, with the scalar rule kept where a signed zero could decide the stored sign.
import ForgeCore

extension GGMLQuantize {
    typealias V16 = SIMD16<Float>

    @inline(__always) static func load16(_ p: UnsafePointer<Float>) -> V16 { UnsafeRawPointer(p).loadUnaligned(as: V16.self) }
    @inline(__always) static func abs16(_ v: V16) -> V16 { unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7fff_ffff, to: V16.self) }
    /// C's float → int cast per lane (truncation toward zero).
    @inline(__always) static func truncate16(_ v: V16) -> SIMD16<Int32> {
        var r = SIMD16<Int32>()
        for i in 0..<16 { r[i] = Int32(v[i]) }
        return r
    }
    /// C's roundf per lane (half away from zero).
    @inline(__always) static func round16(_ v: V16) -> SIMD16<Int32> {
        var r = SIMD16<Int32>()
        for i in 0..<16 { r[i] = Int32(v[i].rounded()) }
        return r
    }
    @inline(__always) static func bytes16(_ v: SIMD16<Int32>) -> SIMD16<UInt8> {
        var r = SIMD16<UInt8>()
        for i in 0..<16 { r[i] = UInt8(truncatingIfNeeded: v[i]) }
        return r
    }
    @inline(__always) static func minLanes(_ v: SIMD16<Int32>, _ m: Int32) -> SIMD16<Int32> {
        v.replacing(with: SIMD16<Int32>(repeating: m), where: v .> SIMD16<Int32>(repeating: m))
    }
    /// Largest |x| of the block.
    @inline(__always) static func absMax32(_ a: V16, _ b: V16) -> Float {
        let m = abs16(a).replacing(with: abs16(b), where: abs16(a) .< abs16(b))
        return hmax(m)
    }
    /// The scalar rule's signed maximum: the first value of largest magnitude (+0 when all are zero).
    @inline(__always) static func signedMax32(_ x: UnsafePointer<Float>, _ a: V16, _ b: V16) -> Float {
        let amax = absMax32(a, b)
        if amax == 0 { return 0 }
        for j in 0..<32 where abs(x[j]) == amax { return x[j] }
        return 0
    }
    /// The block's (min, max) as the scalar loop finds them (signed zeros included).
    @inline(__always) static func minMax32(_ x: UnsafePointer<Float>, _ a: V16, _ b: V16) -> (Float, Float) {
        let lo = hmin(a.replacing(with: b, where: b .< a)), hi = hmax(a.replacing(with: b, where: b .> a))
        if lo == 0 || hi == 0 { return minMax(x) }
        return (lo, hi)
    }
    /// The fifth bits of 16 levels, as qh bits `shift`..<`shift`+16.
    @inline(__always) static func highBits(_ v: SIMD16<Int32>, shift: Int) -> UInt32 {
        let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let bits = ((unsafeBitCast(v, to: SIMD16<UInt32>.self) &>> 4) & 1) &<< lanes
        // Disjoint bits: the halving sum is their OR.
        let s8 = bits.lowHalf | bits.highHalf, s4 = s8.lowHalf | s8.highHalf, s2 = s4.lowHalf | s4.highHalf
        return (s2[0] | s2[1]) << shift
    }
    @inline(__always) static func hmax(_ v: V16) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.lowHalf .< v.highHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.lowHalf .< a.highHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.lowHalf .< b.highHalf)
        return Swift.max(c[0], c[1])
    }
    @inline(__always) static func hmin(_ v: V16) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.lowHalf .> v.highHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.lowHalf .> a.highHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.lowHalf .> b.highHalf)
        return Swift.min(c[0], c[1])
    }

    static func q8_0v(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let a = load16(x), b = load16(x + 16)
        let d = absMax32(a, b) / 127
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d)
        let iv = V16(repeating: id)
        y.storeBytes(of: bytes16(round16(a * iv)), toByteOffset: 2, as: SIMD16<UInt8>.self)
        y.storeBytes(of: bytes16(round16(b * iv)), toByteOffset: 18, as: SIMD16<UInt8>.self)
    }

    static func q4_0v(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let a = load16(x), b = load16(x + 16)
        let d = signedMax32(x, a, b) / -8
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d)
        let iv = V16(repeating: id), half = V16(repeating: 8.5)
        let lo = minLanes(truncate16(a * iv + half), 15), hi = minLanes(truncate16(b * iv + half), 15)
        y.storeBytes(of: bytes16(lo | (hi &<< 4)), toByteOffset: 2, as: SIMD16<UInt8>.self)
    }

    static func q4_1v(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let a = load16(x), b = load16(x + 16)
        let (lo, hi) = minMax32(x, a, b)
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d); putHalf(y, 2, lo)
        let iv = V16(repeating: id), m = V16(repeating: lo), half = V16(repeating: 0.5)
        let qa = minLanes(truncate16((a - m) * iv + half), 15), qb = minLanes(truncate16((b - m) * iv + half), 15)
        y.storeBytes(of: bytes16(qa | (qb &<< 4)), toByteOffset: 4, as: SIMD16<UInt8>.self)
    }

    static func q5_0v(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let a = load16(x), b = load16(x + 16)
        let d = signedMax32(x, a, b) / -16
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d)
        let iv = V16(repeating: id), half = V16(repeating: 16.5)
        let qa = minLanes(truncate16(a * iv + half), 31), qb = minLanes(truncate16(b * iv + half), 31)
        let low = SIMD16<Int32>(repeating: 0xF)
        y.storeBytes(of: bytes16((qa & low) | ((qb & low) &<< 4)), toByteOffset: 6, as: SIMD16<UInt8>.self)
        y.storeBytes(of: (highBits(qa, shift: 0) | highBits(qb, shift: 16)).littleEndian, toByteOffset: 2, as: UInt32.self)
    }

    static func q5_1v(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let a = load16(x), b = load16(x + 16)
        let (lo, hi) = minMax32(x, a, b)
        let d = (hi - lo) / 31
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d); putHalf(y, 2, lo)
        let iv = V16(repeating: id), m = V16(repeating: lo), half = V16(repeating: 0.5)
        // (uint8_t) cast without a clamp, as the reference: levels are taken modulo 256.
        let byte = SIMD16<Int32>(repeating: 0xFF), low = SIMD16<Int32>(repeating: 0xF)
        let qa = truncate16((a - m) * iv + half) & byte, qb = truncate16((b - m) * iv + half) & byte
        y.storeBytes(of: bytes16((qa & low) | ((qb & low) &<< 4)), toByteOffset: 8, as: SIMD16<UInt8>.self)
        y.storeBytes(of: (highBits(qa, shift: 0) | highBits(qb, shift: 16)).littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    /// A row to IEEE half, round to nearest even.
    static func f16Row(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let v = load16(x + i)
            var h = SIMD16<Float16>()
            for j in 0..<16 { h[j] = Float16(v[j]) }
            y.storeBytes(of: h, toByteOffset: 2 * i, as: SIMD16<Float16>.self)
            i += 16
        }
        while i < n { y.storeBytes(of: Float16(x[i]).bitPattern, toByteOffset: 2 * i, as: UInt16.self); i += 1 }
    }

    /// A row to bfloat16 as ggml rounds it (nearest even; NaN kept quiet).
    static func bf16Row(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let u = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<UInt32>.self)
            let rounded = (u &+ (0x7fff &+ ((u &>> 16) & 1))) &>> 16
            let r = rounded.replacing(with: (u &>> 16) | 64, where: (u & 0x7fff_ffff) .> 0x7f80_0000)
            var h = SIMD16<UInt16>()
            for j in 0..<16 { h[j] = UInt16(truncatingIfNeeded: r[j]) }
            y.storeBytes(of: h, toByteOffset: 2 * i, as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < n { y.storeBytes(of: bf16Bits(x[i]), toByteOffset: 2 * i, as: UInt16.self); i += 1 }
    }
}
