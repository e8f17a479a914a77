// QuantDot: dot products of one stored row with Float32 activations, for the weight types without an
// integer kernel (F32, F16, BF16, the K-quants; Q4_0/Q4_1/Q8_0 go through QuantDotQ8).
//
// F32 and F16 rows are read directly; other types are decoded a few blocks at a time into a small
// buffer and dotted, never written out whole.
import ForgeCore

public enum QuantDot {
    /// Σ row[i]·x[i] over `n` values.
    @inline(__always)
    public static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        switch type {
        case .f32: return f32(row.assumingMemoryBound(to: Float.self), x, n)
        case .f16: return f16(row, x, n)
        default: return viaBlocks(type, row, x, n)
        }
    }

    /// Four rows `stride` bytes apart against the same x.
    @inline(__always)
    public static func dot4(_ type: GGMLType, _ row: UnsafeRawPointer, stride: Int, _ x: UnsafePointer<Float>, _ n: Int) -> SIMD4<Float> {
        SIMD4(dot(type, row, x, n), dot(type, row + stride, x, n), dot(type, row + 2 * stride, x, n), dot(type, row + 3 * stride, x, n))
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
