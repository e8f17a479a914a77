// QuantDot: dot products of one stored row (any supported GGML type) with Float32 activations.
//
// Weights are decoded block by block in registers and never written out. Activations stay Float32
// (llama.cpp rounds them to 8 bits first; here Float32 is both more exact and measured faster).
// Q4_0/Q4_1 fold their offset through per-block sums of x, computed once per activation vector.
import ForgeCore

public enum QuantDot {
    /// Sums of x over each 32-element block (`n / 32` values), the side input of `dot` for Q4_0/Q4_1.
    public static func blockSums(_ x: UnsafePointer<Float>, _ n: Int, into sums: UnsafeMutablePointer<Float>) {
        for b in 0..<(n / 32) { sums[b] = hsum(load16(x, 32 * b) + load16(x, 32 * b + 16)) }
    }

    /// Σ row[i]·x[i] over `n` values; `sums` are `blockSums(x)` (needed for Q4_0 and Q4_1 only).
    @inline(__always)
    public static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int,
                           sums: UnsafePointer<Float>?) -> Float {
        switch type {
        case .q4_1: return q4(row, x, n, sums!, hasMin: true)
        case .q4_0: return q4(row, x, n, sums!, hasMin: false)
        case .q8_0: return q8_0(row, x, n)
        case .f32: return f32(row.assumingMemoryBound(to: Float.self), x, n)
        case .f16: return f16(row, x, n)
        default: return viaBlocks(type, row, x, n)
        }
    }

    /// Four rows `stride` bytes apart against the same x: shares the activation loads and hides the
    /// per-row reduction (one token's matrix-vector product is mostly rows of a few hundred values).
    @inline(__always)
    public static func dot4(_ type: GGMLType, _ row: UnsafeRawPointer, stride: Int, _ x: UnsafePointer<Float>, _ n: Int,
                            sums: UnsafePointer<Float>?) -> SIMD4<Float> {
        switch type {
        case .q4_1: return q4x4(row, stride, x, n, sums!, hasMin: true)
        case .q4_0: return q4x4(row, stride, x, n, sums!, hasMin: false)
        case .q8_0: return q8_0x4(row, stride, x, n)
        default:
            return SIMD4(dot(type, row, x, n, sums: sums), dot(type, row + stride, x, n, sums: sums),
                         dot(type, row + 2 * stride, x, n, sums: sums), dot(type, row + 3 * stride, x, n, sums: sums))
        }
    }

    @inline(__always) static func q4x4(_ row: UnsafeRawPointer, _ stride: Int, _ x: UnsafePointer<Float>, _ n: Int,
                                       _ sums: UnsafePointer<Float>, hasMin: Bool) -> SIMD4<Float> {
        let bb = hasMin ? 20 : 18, qo = hasMin ? 4 : 2
        var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
        var off = SIMD4<Float>()
        for b in 0..<(n / 32) {
            let x0 = load16(x, 32 * b), x1 = load16(x, 32 * b + 16)
            @inline(__always) func one(_ p: UnsafeRawPointer, _ acc: inout F16x) -> (Float, Float) {
                let d = QuantBlocks.half(p, 0)
                let q = p.loadUnaligned(fromByteOffset: qo, as: SIMD16<UInt8>.self)
                var s = uint8ToFloat(q & 0xF) * x0
                s.addProduct(uint8ToFloat(q &>> 4), x1)
                acc.addProduct(s, F16x(repeating: d))
                return (d, hasMin ? QuantBlocks.half(p, 2) : -8 * d)
            }
            let p = row + b * bb
            let m0 = one(p, &a0).1, m1 = one(p + stride, &a1).1, m2 = one(p + 2 * stride, &a2).1, m3 = one(p + 3 * stride, &a3).1
            off.addProduct(SIMD4(m0, m1, m2, m3), SIMD4(repeating: sums[b]))
        }
        return SIMD4(hsum(a0), hsum(a1), hsum(a2), hsum(a3)) + off
    }

    @inline(__always) static func q8_0x4(_ row: UnsafeRawPointer, _ stride: Int, _ x: UnsafePointer<Float>, _ n: Int) -> SIMD4<Float> {
        var a0 = F16x(), a1 = F16x(), a2 = F16x(), a3 = F16x()
        for b in 0..<(n / 32) {
            let x0 = load16(x, 32 * b), x1 = load16(x, 32 * b + 16)
            @inline(__always) func one(_ p: UnsafeRawPointer, _ acc: inout F16x) {
                var s = int8ToFloat(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * x0
                s.addProduct(int8ToFloat(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)), x1)
                acc.addProduct(s, F16x(repeating: QuantBlocks.half(p, 0)))
            }
            let p = row + b * 34
            one(p, &a0); one(p + stride, &a1); one(p + 2 * stride, &a2); one(p + 3 * stride, &a3)
        }
        return SIMD4(hsum(a0), hsum(a1), hsum(a2), hsum(a3))
    }

    @inline(__always) static func q4(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int,
                                     _ sums: UnsafePointer<Float>, hasMin: Bool) -> Float {
        let bb = hasMin ? 20 : 18, qo = hasMin ? 4 : 2
        // Two independent chains (even and odd blocks) so the loop is not bound by FMA latency.
        var acc0 = F16x(), acc1 = F16x()
        var off0: Float = 0, off1: Float = 0
        let blocks = n / 32
        var b = 0
        @inline(__always) func block(_ b: Int, _ acc: inout F16x, _ off: inout Float) {
            let p = row + b * bb
            let d = QuantBlocks.half(p, 0)
            let q = p.loadUnaligned(fromByteOffset: qo, as: SIMD16<UInt8>.self)
            var s = uint8ToFloat(q & 0xF) * load16(x, 32 * b)
            s.addProduct(uint8ToFloat(q &>> 4), load16(x, 32 * b + 16))
            acc.addProduct(s, F16x(repeating: d))
            off.addProduct(hasMin ? QuantBlocks.half(p, 2) : -8 * d, sums[b])
        }
        while b + 2 <= blocks {
            block(b, &acc0, &off0)
            block(b + 1, &acc1, &off1)
            b += 2
        }
        if b < blocks { block(b, &acc0, &off0) }
        return hsum(acc0 + acc1) + (off0 + off1)
    }

    @inline(__always) static func q8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = F16x(), acc1 = F16x()
        for b in 0..<(n / 32) {
            let p = row + b * 34
            var s = int8ToFloat(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * load16(x, 32 * b)
            s.addProduct(int8ToFloat(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)), load16(x, 32 * b + 16))
            let d = F16x(repeating: QuantBlocks.half(p, 0))
            if b & 1 == 0 { acc0.addProduct(s, d) } else { acc1.addProduct(s, d) }
        }
        return hsum(acc0 + acc1)
    }

    /// Σ a[i]·b[i] in Float32 with four vector accumulators.
    @inline(__always) public static func f32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = F16x(), s1 = F16x(), s2 = F16x(), s3 = F16x()
        var i = 0
        while i + 64 <= n {
            s0.addProduct(load16(a, i), load16(b, i))
            s1.addProduct(load16(a, i + 16), load16(b, i + 16))
            s2.addProduct(load16(a, i + 32), load16(b, i + 32))
            s3.addProduct(load16(a, i + 48), load16(b, i + 48))
            i += 64
        }
        while i + 16 <= n { s0.addProduct(load16(a, i), load16(b, i)); i += 16 }
        var tail: Float = 0
        while i < n { tail += a[i] * b[i]; i += 1 }
        return hsum((s0 + s1) + (s2 + s3)) + tail
    }

    @inline(__always) static func f16(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = F16x(), s1 = F16x()
        var i = 0
        while i + 32 <= n {
            s0.addProduct(halfToFloat(row.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self)), load16(x, i))
            s1.addProduct(halfToFloat(row.loadUnaligned(fromByteOffset: 2 * i + 32, as: SIMD16<Float16>.self)), load16(x, i + 16))
            i += 32
        }
        var tail: Float = 0
        while i < n { tail += Float(row.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) * x[i]; i += 1 }
        return hsum(s0 + s1) + tail
    }

    /// Other types: decode one block at a time into a small buffer, then a Float32 dot.
    static func viaBlocks(_ type: GGMLType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        let (be, bb) = type.block
        let chunk = max(be, 256 / be * be)
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { buf in
            let tmp = buf.baseAddress!
            var total: Float = 0
            var i = 0
            while i < n {
                let m = min(chunk, n - i)
                QuantBlocks.dequantize(type, row + i / be * bb, tmp, count: m)
                total += f32(tmp, x + i, m)
                i += m
            }
            return total
        }
    }
}

/// Widens 16 halves to floats (vcvtph2ps with a target CPU).
@inlinable @inline(__always)
public func halfToFloat(_ v: SIMD16<Float16>) -> F16x {
    var r = F16x()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}
