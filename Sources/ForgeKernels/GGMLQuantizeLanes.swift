// GGMLQuantizeLanes: the K-quant scale searches of GGMLQuantize run on all sub-blocks of a super-block at once,
// one sub-block per SIMD lane. Each lane does exactly the scalar reference's operations in the same order (its
// sums stay sequential over the sub-block's values), so the results are bit-identical to `makeQKX2` / `makeQX`
// (and to llama.cpp); the lanes only remove the scalar loop over sub-blocks. Levels are kept as floats: for
// |f| ≤ 2^22, (f + 1.5·2^23) − 1.5·2^23 is exactly Float(nearest_int(f)), and clamping in floats is the same as in
// integers, which avoids the int↔float vector conversions Swift compiles to scalar code.
import ForgeCore

extension GGMLQuantize {
    typealias F8 = SIMD8<Float>
    typealias I8 = SIMD8<Int32>
    typealias F16L = SIMD16<Float>
    typealias I16L = SIMD16<Int32>

    /// `b` where `m`, else `a` (a compare feeding `replacing` becomes one masked blend).
    @inline(__always) static func pick(_ a: F8, _ b: F8, _ m: SIMDMask<I8>) -> F8 { a.replacing(with: b, where: m) }
    @inline(__always) static func pick(_ a: F16L, _ b: F16L, _ m: SIMDMask<I16L>) -> F16L { a.replacing(with: b, where: m) }

    /// Float(nearest_int(f)) per lane.
    @inline(__always) static func roundedF8(_ f: F8) -> F8 { (f + F8(repeating: 12582912)) - F8(repeating: 12582912) }
    @inline(__always) static func roundedF16(_ f: F16L) -> F16L { (f + F16L(repeating: 12582912)) - F16L(repeating: 12582912) }
    @inline(__always) static func clampF(_ v: F8, _ lo: F8, _ hi: F8) -> F8 { let a = pick(v, hi, v .> hi); return pick(a, lo, a .< lo) }
    @inline(__always) static func clampF(_ v: F16L, _ lo: F16L, _ hi: F16L) -> F16L { let a = pick(v, hi, v .> hi); return pick(a, lo, a .< lo) }

    /// `makeQKX2` for the eight 32-value sub-blocks of `x` (weights `w` laid out the same): lane j is sub-block j.
    /// Levels go to `levels` in the natural layout (sub-block j at 32·j).
    static func makeQKX2x8(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, nmax: Int32, rmin: Float, rdelta: Float,
                           nstep: Int, levels out: UnsafeMutablePointer<UInt8>) -> (scale: F8, min: F8) {
        withUnsafeTemporaryAllocation(of: F8.self, capacity: 128) { buf in
            let xt = buf.baseAddress!, wt = xt + 32, L = xt + 64, aux = xt + 96
            for i in 0..<32 {
                var a = F8(), b = F8()
                for j in 0..<8 { a[j] = x[32 * j + i]; b[j] = w[32 * j + i] }
                xt[i] = a; wt[i] = b
            }
            let zero = F8(), top = F8(repeating: Float(nmax)), big8 = F8(repeating: 12582912)
            var lo = xt[0], hi = xt[0]
            var sumW = wt[0]
            var sumX = sumW * xt[0]
            for i in 1..<32 {
                let xi = xt[i]
                lo = pick(lo, xi, xi .< lo)
                hi = pick(hi, xi, xi .> hi)
                let wi = wt[i]
                sumW += wi
                sumX += wi * xi
            }
            lo = pick(lo, zero, lo .> 0)
            let flat = hi .== lo
            let lo0 = lo
            let fmax = Float(nmax)
            var iscale = fmax / (hi - lo)
            var scale = 1 / iscale
            var best = F8()
            for i in 0..<32 {
                let r = (iscale * (xt[i] - lo) + big8) - big8, c = r.replacing(with: top, where: r .> top)
                        let l = c.replacing(with: zero, where: c .< zero)
                L[i] = l
                let diff = scale * l + lo - xt[i]
                best += wt[i] * (diff * diff)
            }
            if nstep >= 1 {
                for s in 0...nstep {
                    iscale = (rmin + rdelta * Float(s) + fmax) / (hi - lo)
                    var sumL = F8(), sumL2 = F8(), sumXL = F8()
                    for i in 0..<32 {
                        let r = (iscale * (xt[i] - lo) + big8) - big8, c = r.replacing(with: top, where: r .> top)
                        let l = c.replacing(with: zero, where: c .< zero)
                        aux[i] = l
                        let wi = wt[i]
                        sumL += wi * l
                        sumL2 += wi * l * l
                        sumXL += wi * l * xt[i]
                    }
                    let D = sumW * sumL2 - sumL * sumL
                    let ok = D .> 0
                    var thisScale = (sumW * sumXL - sumX * sumL) / D
                    var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                    let positive = thisMin .> 0
                    thisMin = pick(thisMin, zero, positive)
                    thisScale = pick(thisScale, sumXL / sumL2, positive)
                    var err = F8()
                    for i in 0..<32 {
                        let diff = thisScale * aux[i] + thisMin - xt[i]
                        err += wt[i] * (diff * diff)
                    }
                    let better = ok .& (err .< best) .& .!flat
                    for i in 0..<32 { L[i] = pick(L[i], aux[i], better) }
                    best = pick(best, err, better)
                    scale = pick(scale, thisScale, better)
                    lo = pick(lo, thisMin, better)
                }
            }
            scale = pick(scale, zero, flat)
            lo = pick(lo, lo0, flat)
            for i in 0..<32 {
                let l = pick(L[i], zero, flat)
                for j in 0..<8 { out[32 * j + i] = UInt8(l[j]) }
            }
            // −lo with the sign bit flipped, as scalar negation does (−0 included).
            return (scale, unsafeBitCast(unsafeBitCast(lo, to: SIMD8<UInt32>.self) ^ 0x8000_0000, to: F8.self))
        }
    }

    /// `makeQX` (rmse_type 1, no weights) for the sixteen 16-value sub-blocks of a Q6_K super-block: lane j is
    /// sub-block j. Levels (signed level + nmax) go to `levels` in the natural layout.
    static func makeQXx16(_ x: UnsafePointer<Float>, nmax: Int32, levels out: UnsafeMutablePointer<Int8>) -> F16L {
        withUnsafeTemporaryAllocation(of: F16L.self, capacity: 48) { buf in
            let xt = buf.baseAddress!, L = xt + 16, aux = xt + 32
            for i in 0..<16 {
                var a = F16L()
                for j in 0..<16 { a[j] = x[16 * j + i] }
                xt[i] = a
            }
            let zeroV = F16L(), loL = F16L(repeating: -Float(nmax)), hiL = F16L(repeating: Float(nmax - 1)), big16 = F16L(repeating: 12582912)
            var maxv = F16L(), amax = F16L()
            for i in 0..<16 {
                let ax = unsafeBitCast(unsafeBitCast(xt[i], to: SIMD16<UInt32>.self) & 0x7fff_ffff, to: F16L.self)
                let gt = ax .> amax
                amax = pick(amax, ax, gt)
                maxv = pick(maxv, xt[i], gt)
            }
            let zero = amax .< 1e-15
            let fmax = Float(nmax)
            var iscale = -fmax / maxv
            var sumLX = F16L(), sumL2 = F16L()
            for i in 0..<16 {
                let r = (iscale * xt[i] + big16) - big16, c = r.replacing(with: hiL, where: r .> hiL)
                    let l = c.replacing(with: loL, where: c .< loL)
                L[i] = l
                let xi = xt[i], w = xi * xi
                sumLX += w * xi * l
                sumL2 += w * l * l
            }
            var scale = pick(sumLX / sumL2, zeroV, sumL2 .== 0)
            var best = scale * sumLX
            for s in -9...9 where s != 0 {
                iscale = -(fmax + 0.1 * Float(s)) / maxv
                sumLX = F16L(); sumL2 = F16L()
                for i in 0..<16 {
                    let r = (iscale * xt[i] + big16) - big16, c = r.replacing(with: hiL, where: r .> hiL)
                    let l = c.replacing(with: loL, where: c .< loL)
                    aux[i] = l
                    let xi = xt[i], w = xi * xi
                    sumLX += w * xi * l
                    sumL2 += w * l * l
                }
                let better = (sumL2 .> 0) .& (sumLX * sumLX .> best * sumL2) .& .!zero
                for i in 0..<16 { L[i] = pick(L[i], aux[i], better) }
                scale = pick(scale, sumLX / sumL2, better)
                best = pick(best, scale * sumLX, better)
            }
            scale = pick(scale, zeroV, zero)
            for i in 0..<16 {
                let l = pick(L[i] + F16L(repeating: fmax), zeroV, zero)
                for j in 0..<16 { out[16 * j + i] = Int8(l[j]) }
            }
            return scale
        }
    }
}
