// LlamaCppMath: the inference engine's elementwise and norm arithmetic, written so that each result is
// the float llama.cpp's CPU backend computes (its AVX-512 build), operation for operation.
//
// With 8-bit activations and f16 caches, a difference of one unit in the last place anywhere is
// amplified layer after layer (a value rounds to another int8 or f16), so agreement with llama.cpp on a
// GGUF needs the same floats, not merely close ones. Each function names the ggml routine it follows.
// All are plain IEEE operations in a fixed order, so Forge gives the same floats on every CPU.

import ForgeCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum LlamaCppMath {
    /// e^x on 16 lanes as ggml_v_expf (AVX-512): 2^n·p(b) with n = round(x/ln 2), b = x − n·ln 2 in two
    /// fused steps, a degree-5 polynomial in two halves, scaled by 2^n; |n| > 192 gives 0 or ∞.
    @inlinable @inline(__always)
    public static func exp(_ x: F16x) -> F16x {
        let r = F16x(repeating: 0x1.8p23)
        var z = r
        z.addProduct(x, F16x(repeating: 0x1.715476p+0))
        let n = z - r
        var hiPart = x
        hiPart.addProduct(-n, F16x(repeating: 0x1.62e4p-1))
        var b = hiPart
        b.addProduct(-n, F16x(repeating: 0x1.7f7d1cp-20))
        let u = b * b
        var p5 = F16x(repeating: 0x1.573e2ep-5)
        p5.addProduct(F16x(repeating: 0x1.0e4020p-7), b)
        var p3 = F16x(repeating: 0x1.fffdb6p-2)
        p3.addProduct(F16x(repeating: 0x1.555e66p-3), b)
        var p1 = F16x(repeating: 1)
        p1.addProduct(F16x(repeating: 0x1.ffffecp-1), b)
        var inner = p3
        inner.addProduct(p5, u)
        var j = p1
        j.addProduct(inner, u)
        return scaleByPowerOfTwo(j, n)
    }

    /// j·2^n for integral n (vscalefps), exact while the result is a normal float (n is NaN-free here:
    /// it comes from a rounding of x that NaN and ±∞ inputs turn into the clamped ends).
    @inlinable @inline(__always)
    static func scaleByPowerOfTwo(_ j: F16x, _ n: F16x) -> F16x {
        var clamped = n.replacing(with: 200, where: n .> 200)
        clamped.replace(with: -200, where: clamped .< -200)
        let ni = int32(clamped)
        // Two steps keep each factor a normal power of two for |n| up to 252.
        let half = ni &>> 1
        let rest = ni &- half
        let f1 = unsafeBitCast((half &+ 127) &<< 23, to: F16x.self)
        let f2 = unsafeBitCast((rest &+ 127) &<< 23, to: F16x.self)
        var out = j * f1 * f2
        let big = n .> 192, small = n .< -192
        out.replace(with: .infinity, where: big)
        out.replace(with: 0, where: small)
        return out
    }

    @inlinable @inline(__always)
    static func int32(_ v: F16x) -> SIMD16<Int32> {
        var r = SIMD16<Int32>()
        for i in 0..<16 { r[i] = Int32(v[i]) }
        return r
    }

    /// y = silu(gate)·up with silu(x) = x / (1 + e^−x), as ggml_vec_swiglu_f32 (n a multiple of 16 uses
    /// only the vector form; a tail uses libm's expf as ggml's scalar loop does).
    public static func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let chunks = (n + 4095) / 4096
        let body: (Range<Int>) -> Void = { range in
            var i = range.lowerBound * 4096
            let end = min(n, range.upperBound * 4096)
            while i + 16 <= end {
                let g = load16(gate, i)
                store16(g / (1 + exp(0 - g)) * load16(up, i), y, i)
                i += 16
            }
            while i < end { y[i] = gate[i] / (1 + expf(-gate[i])) * up[i]; i += 1 }
        }
        if chunks < 4 { body(0..<chunks) } else { WorkerPool.shared.forEach(chunks, body) }
    }

    /// RMSNorm of `rows` rows as ggml_compute_forward_rms_norm_f32: Σx² summed in Float64 in order,
    /// scale = 1/√(mean + ε) in Float32, then (x·scale)·weight. `inOrder: false` sums the Float64 squares in
    /// 16 lanes (the same mean to Float32 rounding but for rare ties, without a 3-cycle add per value).
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               rows: Int, cols: Int, eps: Float, inOrder: Bool = true) {
        let body: (Range<Int>) -> Void = { range in
            for r in range { rmsNormRow(x + r * cols, weight, y + r * cols, cols, eps, inOrder: inOrder) }
        }
        if rows < 8 { body(0..<rows) } else { WorkerPool.shared.forEach(rows, body) }
    }

    @inline(__always)
    static func rmsNormRow(_ xr: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ yr: UnsafeMutablePointer<Float>, _ cols: Int,
                           _ eps: Float, inOrder: Bool) {
        let sum = inOrder ? sumOfSquaresInOrder(xr, cols) : sumOfSquares(xr, cols)
        let mean = Float(sum / Double(cols))
        let scale = 1 / (mean + eps).squareRoot()
        let sv = F16x(repeating: scale)
        var i = 0
        while i + 16 <= cols { store16(load16(xr, i) * sv * load16(weight, i), yr, i); i += 16 }
        while i < cols { yr[i] = xr[i] * scale * weight[i]; i += 1 }
    }

    /// Σ Float64(x·x) added one value after another (ggml's order).
    @inline(__always)
    static func sumOfSquaresInOrder(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var sum = 0.0
        for i in 0..<n { sum += Double(x[i] * x[i]) }
        return sum
    }

    /// Σ Float64(x·x) in 16 lanes, then across them.
    @inline(__always)
    static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var a = SIMD8<Double>(), b = SIMD8<Double>()
        var i = 0
        while i + 16 <= n {
            let v = load16(x, i), sq = v * v
            a += SIMD8<Double>(sq.lowHalf)
            b += SIMD8<Double>(sq.highHalf)
            i += 16
        }
        var sum = (a + b).sum()
        while i < n { sum += Double(x[i] * x[i]); i += 1 }
        return sum
    }
}

extension LlamaCppMath {
    /// ggml's GELU table (GGML_GELU_FP16): for every f16 value x, f16(0.5·x·(1 + tanhf(√(2/π)·x·(1 + 0.044715·x²))))
    /// computed in Float32 with libm's tanhf, the inner 1 + a·x·x fused as the C compiler fuses it.
    static let geluTable: [Float16] = (0..<65536).map { i in
        let x = Float(Float16(bitPattern: UInt16(i)))
        let a = Float(0.044715) * x
        let poly = Float(1).addingProduct(a, x)  // fma(a·x, x, 1)
        return Float16(0.5 * x * (1 + tanhf(Float(0.79788456080286535587989211986876) * x * poly)))
    }

    /// y = gelu(gate)·up as ggml_vec_geglu_f32 with its f16 GELU table: gate ≤ −10 gives 0, gate ≥ 10 gives
    /// gate·up, otherwise table[f16(gate)]·up.
    public static func geglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        geluTable.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            let chunks = (n + 4095) / 4096
            let body: (Range<Int>) -> Void = { range in
                for i in (range.lowerBound * 4096)..<min(n, range.upperBound * 4096) {
                    let x = gate[i]
                    if x <= -10 { y[i] = 0 } else if x >= 10 { y[i] = x * up[i] } else {
                        y[i] = Float(t[Int(Float16(x).bitPattern)]) * up[i]
                    }
                }
            }
            if chunks < 4 { body(0..<chunks) } else { WorkerPool.shared.forEach(chunks, body) }
        }
    }
}
