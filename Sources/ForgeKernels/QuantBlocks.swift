// QuantBlocks: GGML block formats, decoded to Float32.
//
// Layouts follow the GGUF/ggml specification: Q8_0 {f16 d; i8 q[32]}, Q4_0 {f16 d; u8 q[16]} with
// x = (nibble − 8)·d, Q4_1 {f16 d; f16 m; u8 q[16]} with x = nibble·d + m (element j in the low nibble
// of byte j, element j+16 in its high nibble), Q5_0 {f16 d; u32 qh; u8 q[16]} with x = (q − 16)·d and
// Q5_1 {f16 d; f16 m; u32 qh; u8 q[16]} with x = q·d + m (q = nibble + 16·bit j of qh), and the
// 256-element K-quants Q4_K, Q5_K and Q6_K.
import CSIMD
import ForgeCore

/// Decodes GGML tensor rows to Float32.
public enum QuantBlocks {
    /// True for the types Forge can decode and multiply.
    public static func isSupported(_ type: GGMLType) -> Bool {
        switch type {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K: return true
        default: return false
        }
    }

    /// Writes the `n` values stored at `src` (whole blocks of `type`) to `dst`.
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
        let (be, bb) = type.block
        precondition(n % be == 0, "dequantize: \(n) values is not a whole number of \(type) blocks")
        let blocks = n / be
        switch type {
        case .f32: dst.update(from: src.assumingMemoryBound(to: Float.self), count: n)
        case .f16:
            for i in 0..<n { dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .q8_0:
            for b in 0..<blocks { q8_0Block(src + b * bb, dst + b * 32) }
        case .q4_0:
            for b in 0..<blocks { q4Block(src + b * bb, dst + b * 32, hasMin: false) }
        case .q4_1:
            for b in 0..<blocks { q4Block(src + b * bb, dst + b * 32, hasMin: true) }
        case .q5_0:
            for b in 0..<blocks { q5Block(src + b * bb, dst + b * 32, hasMin: false) }
        case .q5_1:
            for b in 0..<blocks { q5Block(src + b * bb, dst + b * 32, hasMin: true) }
        case .q4_K:
            for b in 0..<blocks { q4KBlock(src + b * bb, dst + b * 256) }
        case .q5_K:
            for b in 0..<blocks { q5KBlock(src + b * bb, dst + b * 256) }
        case .q6_K:
            for b in 0..<blocks { q6KBlock(src + b * bb, dst + b * 256) }
        default:
            preconditionFailure("dequantize: \(type) is not supported")
        }
    }

    /// True for the types whose blocks add a minimum m (Q4_1, Q5_1).
    public static func hasMin(_ type: GGMLType) -> Bool { type == .q4_1 || type == .q5_1 }

    /// Q4_1/Q5_1 rows split as the integer kernels multiply them: `scaled` gets d·q (n values), `mins` each
    /// block's m (n/32 values), so that a product is Σ d·q·x̂ + Σ m·s with s the activations' block sums.
    public static func splitWithMins(_ type: GGMLType, _ src: UnsafeRawPointer, scaled: UnsafeMutablePointer<Float>,
                                     mins: UnsafeMutablePointer<Float>, count n: Int) {
        precondition(hasMin(type) && n % 32 == 0, "splitWithMins: \(n) values of \(type)")
        let bb = type.block.bytes
        for b in 0..<(n / 32) {
            let p = src + bb * b
            let d = F16x(repeating: half(p, 0))
            let (lo, hi) = type == .q4_1 ? q4Values(p + 4) : q5Values(p + 4)
            store16(uint8ToFloat(lo) * d, scaled, 32 * b)
            store16(uint8ToFloat(hi) * d, scaled, 32 * b + 16)
            mins[b] = half(p, 2)
        }
    }

    /// A Q4 block's 32 unsigned quants from its 16 bytes at p: elements 0..<16 and 16..<32.
    @inline(__always) static func q4Values(_ p: UnsafeRawPointer) -> (SIMD16<UInt8>, SIMD16<UInt8>) {
        let q = p.loadUnaligned(as: SIMD16<UInt8>.self)
        return (q & 0xF, q &>> 4)
    }

    /// A Q5 block's 32 unsigned quants (0...31) from its fifth bits (u32 at p) and nibbles (16 bytes at p + 4).
    @inline(__always) static func q5Values(_ p: UnsafeRawPointer) -> (SIMD16<UInt8>, SIMD16<UInt8>) {
        let high = unsafeBitCast(forge_bits_to_0x10(p.loadUnaligned(as: UInt32.self)), to: SIMD32<UInt8>.self)
        let (lo, hi) = q4Values(p + 4)
        return (lo | high.lowHalf, hi | high.highHalf)
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always) static func q8_0Block(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = F16x(repeating: half(p, 0))
        store16(int8ToFloat(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * d, y, 0)
        store16(int8ToFloat(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)) * d, y, 16)
    }

    @inline(__always) static func q4Block(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, hasMin: Bool) {
        let d = F16x(repeating: half(p, 0))
        let m = F16x(repeating: hasMin ? half(p, 2) : -8 * half(p, 0))
        let q = p.loadUnaligned(fromByteOffset: hasMin ? 4 : 2, as: SIMD16<UInt8>.self)
        var lo = m, hi = m
        lo.addProduct(uint8ToFloat(q & 0xF), d)
        hi.addProduct(uint8ToFloat(q &>> 4), d)
        store16(lo, y, 0)
        store16(hi, y, 16)
    }

    @inline(__always) static func q5Block(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, hasMin: Bool) {
        let d = F16x(repeating: half(p, 0))
        let (lo, hi) = q5Values(p + (hasMin ? 4 : 2))
        if hasMin {
            let m = F16x(repeating: half(p, 2))
            var a = m, b = m
            a.addProduct(uint8ToFloat(lo), d)
            b.addProduct(uint8ToFloat(hi), d)
            store16(a, y, 0)
            store16(b, y, 16)
        } else {
            store16((uint8ToFloat(lo) - 16) * d, y, 0)
            store16((uint8ToFloat(hi) - 16) * d, y, 16)
        }
    }

    /// The 6-bit scale and min of sub-block j (0..<8) of a Q4_K/Q5_K block's 12 scale bytes.
    @inline(__always) static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (Float, Float) {
        @inline(__always) func b(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (Float(b(j) & 63), Float(b(j + 4) & 63)) }
        return (Float((b(j + 4) & 0xF) | ((b(j - 4) >> 6) << 4)), Float((b(j + 4) >> 4) | ((b(j) >> 6) << 4)))
    }

    @inline(__always) static func q4KBlock(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p + 4, qs = p + 16
        for g in 0..<4 {
            let (s1, m1) = scaleMinK4(2 * g, scales), (s2, m2) = scaleMinK4(2 * g + 1, scales)
            let d1 = F16x(repeating: d * s1), n1 = F16x(repeating: -dmin * m1)
            let d2 = F16x(repeating: d * s2), n2 = F16x(repeating: -dmin * m2)
            for h in 0..<2 {
                let q = qs.loadUnaligned(fromByteOffset: 32 * g + 16 * h, as: SIMD16<UInt8>.self)
                var lo = n1, hi = n2
                lo.addProduct(uint8ToFloat(q & 0xF), d1)
                hi.addProduct(uint8ToFloat(q &>> 4), d2)
                store16(lo, y, 64 * g + 16 * h)
                store16(hi, y, 64 * g + 32 + 16 * h)
            }
        }
    }

    /// Q5_K {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: Q4_K's layout plus a fifth bit per value.
    @inline(__always) static func q5KBlock(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p + 4, qh = p + 16, ql = p + 48
        for g in 0..<4 {
            let (s1, m1) = scaleMinK4(2 * g, scales), (s2, m2) = scaleMinK4(2 * g + 1, scales)
            let d1 = d * s1, n1 = dmin * m1, d2 = d * s2, n2 = dmin * m2
            let u1 = UInt8(1) << (2 * g), u2 = UInt8(2) << (2 * g)
            for l in 0..<32 {
                let q = ql.load(fromByteOffset: 32 * g + l, as: UInt8.self), h = qh.load(fromByteOffset: l, as: UInt8.self)
                y[64 * g + l] = d1 * Float((q & 0xF) + (h & u1 != 0 ? 16 : 0)) - n1
                y[64 * g + 32 + l] = d2 * Float((q >> 4) + (h & u2 != 0 ? 16 : 0)) - n2
            }
        }
    }

    @inline(__always) static func q6KBlock(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for n in 0..<2 {
            let ql = p + 64 * n, qh = p + 128 + 32 * n, sc = p + 192 + 8 * n, out = y + 128 * n
            for l in 0..<32 {
                let si = l / 16
                let a = ql.load(fromByteOffset: l, as: UInt8.self), b = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                let h = qh.load(fromByteOffset: l, as: UInt8.self)
                let q1 = Int(a & 0xF | (h & 3) << 4) - 32, q2 = Int(b & 0xF | ((h >> 2) & 3) << 4) - 32
                let q3 = Int(a >> 4 | ((h >> 4) & 3) << 4) - 32, q4 = Int(b >> 4 | ((h >> 6) & 3) << 4) - 32
                @inline(__always) func s(_ i: Int) -> Float { d * Float(sc.load(fromByteOffset: si + i, as: Int8.self)) }
                out[l] = s(0) * Float(q1)
                out[l + 32] = s(2) * Float(q2)
                out[l + 64] = s(4) * Float(q3)
                out[l + 96] = s(6) * Float(q4)
            }
        }
    }
}

/// Widens 16 unsigned bytes to floats (one vpmovzxbd + vcvtdq2ps with a target CPU).
@inlinable @inline(__always)
public func uint8ToFloat(_ v: SIMD16<UInt8>) -> F16x {
    var r = F16x()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

/// Widens 16 signed bytes to floats.
@inlinable @inline(__always)
public func int8ToFloat(_ v: SIMD16<Int8>) -> F16x {
    var r = F16x()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}
