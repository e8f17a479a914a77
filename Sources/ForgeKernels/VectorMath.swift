// VectorMath: SIMD16 building blocks shared by the kernels (libm's exp/tanh are scalar here).

public typealias F16x = SIMD16<Float>

/// e^x on 16 lanes (Cephes-style range reduction and polynomial, relative error ~2e-7).
/// Transparent: with `@inline(__always)` alone it stayed a call at 30 sites (attention's softmax among them), each
/// passing its 16 floats through four xmm registers.
@_transparent
public func vexp(_ x: F16x) -> F16x {
    var x = x
    let hi = F16x(repeating: 88.3762626647949), lo = F16x(repeating: -87.3365447504)
    let underflow = x .< lo
    x = x.replacing(with: hi, where: x .> hi)
    x = x.replacing(with: lo, where: underflow)
    // n = round(x / ln 2) with the 1.5·2^23 trick; its low bits are the integer itself.
    let magic = F16x(repeating: 12582912.0)
    var t = magic
    t.addProduct(x, F16x(repeating: 1.44269504088896341))
    let n = t - magic
    var r = x
    r.addProduct(n, F16x(repeating: -0.693359375))
    r.addProduct(n, F16x(repeating: 2.12194440e-4))
    var p = F16x(repeating: 1.9875691500e-4)
    p = fma(p, r, 1.3981999507e-3)
    p = fma(p, r, 8.3334519073e-3)
    p = fma(p, r, 4.1665795894e-2)
    p = fma(p, r, 1.6666665459e-1)
    p = fma(p, r, 5.0000001201e-1)
    var e = r + 1
    e.addProduct(p, r * r)
    let ti: SIMD16<Int32> = unsafeBitCast(t, to: SIMD16<Int32>.self)
    let ni = ti &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let scale: F16x = unsafeBitCast((ni &+ 127) &<< 23, to: F16x.self)
    return (e * scale).replacing(with: 0, where: underflow)
}

/// p·r + c, fused.
@inlinable @inline(__always)
func fma(_ p: F16x, _ r: F16x, _ c: Float) -> F16x {
    var out = F16x(repeating: c)
    out.addProduct(p, r)
    return out
}

/// tanh(x) on 16 lanes via e^{2x}; absolute error ~1e-7.
@inlinable @inline(__always)
public func vtanh(_ x: F16x) -> F16x {
    let lim = F16x(repeating: 9)
    var y = x.replacing(with: lim, where: x .> lim)
    y = y.replacing(with: -lim, where: y .< -lim)
    let e = vexp(y + y)
    return (e - 1) / (e + 1)
}

/// erf(x) on 16 lanes (Abramowitz & Stegun 7.1.26; absolute error ≤ 1.5e-7).
@inlinable @inline(__always)
public func verf(_ x: F16x) -> F16x {
    let negative = x .< 0
    let a = x.replacing(with: -x, where: negative)
    let t = 1 / (1 + F16x(repeating: 0.3275911) * a)
    var p = F16x(repeating: 1.061405429)
    p = fma(p, t, -1.453152027)
    p = fma(p, t, 1.421413741)
    p = fma(p, t, -0.284496736)
    p = fma(p, t, 0.254829592)
    let y = 1 - p * t * vexp(-a * a)
    return y.replacing(with: -y, where: negative)
}

/// 1 / (1 + e^{-x}) on 16 lanes.
@inlinable @inline(__always)
public func vsigmoid(_ x: F16x) -> F16x { 1 / (1 + vexp(-x)) }

/// Loads 16 floats from `p + i`.
@inlinable @inline(__always)
public func load16(_ p: UnsafePointer<Float>, _ i: Int) -> F16x {
    UnsafeRawPointer(p + i).loadUnaligned(as: F16x.self)
}

/// Stores 16 floats at `p + i`.
@inlinable @inline(__always)
public func store16(_ v: F16x, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: F16x.self)
}

/// Loads 16 halves from `p + i`, widened to floats (vcvtph2ps).
@inlinable @inline(__always)
public func loadHalf16(_ p: UnsafePointer<Float16>, _ i: Int) -> F16x {
    halfToFloat(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float16>.self))
}

/// Stores 16 floats rounded to halves at `p + i` (vcvtps2ph, round to nearest even).
@inlinable @inline(__always)
public func storeHalf16(_ v: F16x, _ p: UnsafeMutablePointer<Float16>, _ i: Int) {
    var h = SIMD16<Float16>()
    for j in 0..<16 { h[j] = Float16(v[j]) }
    UnsafeMutableRawPointer(p + i).storeBytes(of: h, as: SIMD16<Float16>.self)
}

/// Each lane rounded to the nearest half and back (vcvtps2ph + vcvtph2ps in registers): an f16 value held in Float32.
@inlinable @inline(__always)
public func roundToHalf(_ v: F16x) -> F16x {
    var h = SIMD16<Float16>()
    for j in 0..<16 { h[j] = Float16(v[j]) }
    return halfToFloat(h)
}

/// Loads `n` < 16 floats from `p + i`, zero-filling the rest.
@inlinable @inline(__always)
public func loadPartial(_ p: UnsafePointer<Float>, _ i: Int, _ n: Int) -> F16x {
    var v = F16x()
    for j in 0..<n { v[j] = p[i + j] }
    return v
}

/// Stores the first `n` < 16 lanes at `p + i`.
@inlinable @inline(__always)
public func storePartial(_ v: F16x, _ p: UnsafeMutablePointer<Float>, _ i: Int, _ n: Int) {
    for j in 0..<n { p[i + j] = v[j] }
}

/// Loads `n` ≤ 16 floats (a full vector when n is 16).
@inlinable @inline(__always)
public func loadN(_ p: UnsafePointer<Float>, _ i: Int, _ n: Int) -> F16x {
    n == 16 ? load16(p, i) : loadPartial(p, i, n)
}

/// Stores the first `n` ≤ 16 lanes.
@inlinable @inline(__always)
public func storeN(_ v: F16x, _ p: UnsafeMutablePointer<Float>, _ i: Int, _ n: Int) {
    if n == 16 { store16(v, p, i) } else { storePartial(v, p, i, n) }
}

/// Horizontal sum of 16 lanes.
@inlinable @inline(__always)
public func hsum(_ v: F16x) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Horizontal max of 16 lanes.
@inlinable @inline(__always)
public func hmax(_ v: F16x) -> Float {
    var a = v.lowHalf
    a = a.replacing(with: v.highHalf, where: a .< v.highHalf)
    var b = a.lowHalf
    b = b.replacing(with: a.highHalf, where: b .< a.highHalf)
    var c = b.lowHalf
    c = c.replacing(with: b.highHalf, where: c .< b.highHalf)
    return max(c[0], c[1])
}

/// Applies `f` to every element of `x` (n floats) into `y`, 16 lanes at a time.
@inlinable @inline(__always)
public func map16(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ f: (F16x) -> F16x) {
    var i = 0
    while i + 16 <= n { store16(f(load16(x, i)), y, i); i += 16 }
    if i < n { storePartial(f(loadPartial(x, i, n - i)), y, i, n - i) }
}

/// Sum of squares of `n` floats, accumulated in Float64 across 16-lane Float32 blocks of 4096.
public func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
        let end = min(n, start + 4096)
        var acc0 = F16x(), acc1 = F16x()
        var i = start
        while i + 32 <= end {
            let a = load16(p, i), b = load16(p, i + 16)
            acc0.addProduct(a, a); acc1.addProduct(b, b)
            i += 32
        }
        while i + 16 <= end { let a = load16(p, i); acc0.addProduct(a, a); i += 16 }
        var s = Double(hsum(acc0 + acc1))
        while i < end { s += Double(p[i]) * Double(p[i]); i += 1 }
        total += s
        start = end
    }
    return total
}
