// GGMLQuantizeWeighted: quantization with an importance matrix (one weight per column, llama-imatrix's mean squared
// activations), transcribed from ggml's `quantize_row_*_impl`: the search minimizes the importance-weighted error
// instead of the plain one. Q4_0/Q5_0 use make_qx_quants with weights qw·√(σ² + x²) (σ² over the row), Q4_1/Q5_1
// make_qkx3_quants, Q4_K/Q5_K make_qkx3_quants per sub-block and make_qp_quants for the 6-bit scales, Q6_K
// make_qx_quants with the raw weights; Q8_0 ignores them, as in ggml. Scalar, in the reference's operation order.
import ForgeCore

extension GGMLQuantize {
    /// The types whose rounding an importance matrix changes.
    public static let usesImportance: Set<GGMLType> = [.q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// Encodes `rows` rows of `n` values with importance weights `qw` (n values, shared by every row).
    public static func quantize(_ type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer,
                                rows: Int, perRow n: Int, importance qw: UnsafePointer<Float>) {
        guard usesImportance.contains(type) else { return quantize(type, src, dst, rows: rows, perRow: n) }
        precondition(n % type.block.elements == 0, "GGMLQuantize: \(n) values per row is not a whole number of \(type) blocks")
        let rb = rowBytes(type, n)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { wb in
            let w = wb.baseAddress!
            for r in 0..<rows {
                let x = src + r * n, y = dst + r * rb
                switch type {
                case .q4_0, .q5_0, .q4_1, .q5_1:
                    var sumX2: Float = 0
                    for j in 0..<n { sumX2 += x[j] * x[j] }
                    let sigma2 = sumX2 / Float(n)
                    for b in 0..<(n / 32) {
                        let xb = x + 32 * b, q = qw + 32 * b
                        for j in 0..<32 { w[j] = q[j] * (sigma2 + xb[j] * xb[j]).squareRoot() }
                        legacyWeighted(type, xb, w, y + b * type.block.bytes)
                    }
                case .q4_K, .q5_K:
                    for b in 0..<(n / 256) { kWeighted(type, x + 256 * b, qw + 256 * b, y + b * type.block.bytes) }
                case .q6_K:
                    for b in 0..<(n / 256) { q6_K(x + 256 * b, y + b * 210, weights: qw + 256 * b) }
                default: preconditionFailure()
                }
            }
        }
    }

    /// One 32-value block of Q4_0/Q5_0/Q4_1/Q5_1 with block weights `w`.
    static func legacyWeighted(_ type: GGMLType, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buf in
            let L = buf.baseAddress!, aux = L + 32
            var offset = 2
            switch type {
            case .q4_0, .q5_0:
                let d = L.withMemoryRebound(to: Int8.self, capacity: 32) { makeQX(32, type == .q4_0 ? 8 : 16, x, $0, weights: w) }
                putHalf(y, 0, d)
            default:
                let (d, theMin) = makeQKX3(32, type == .q4_1 ? 15 : 31, x, w, L, aux, rmin: -0.9, rdelta: 0.05, nstep: 36)
                putHalf(y, 0, d)
                putHalf(y, 2, -theMin)
                offset = 4
            }
            if type == .q5_0 || type == .q5_1 {
                var qh: UInt32 = 0
                for j in 0..<16 {
                    let a = UInt32(L[j]), b = UInt32(L[j + 16])
                    y.storeBytes(of: UInt8(truncatingIfNeeded: (a & 0xF) | (b & 0xF) << 4), toByteOffset: offset + 4 + j, as: UInt8.self)
                    qh |= ((a & 0x10) >> 4) << j
                    qh |= ((b & 0x10) >> 4) << (j + 16)
                }
                y.storeBytes(of: qh.littleEndian, toByteOffset: offset, as: UInt32.self)
            } else {
                for j in 0..<16 { y.storeBytes(of: L[j] | (L[j + 16] << 4), toByteOffset: offset + j, as: UInt8.self) }
            }
        }
    }

    /// ggml's `make_qkx3_quants` (squared error): like makeQKX2 with a wider, finer search and guarded levels.
    static func makeQKX3(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                         _ levels: UnsafeMutablePointer<UInt8>, _ aux: UnsafeMutablePointer<UInt8>,
                         rmin: Float, rdelta: Float, nstep: Int) -> (scale: Float, min: Float) {
        var lo = x[0], hi = x[0]
        var sumW = w[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            let wi = w[i]
            sumW += wi
            sumX += wi * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi <= lo {
            for i in 0..<n { levels[i] = 0 }
            return (0, -lo)
        }
        let fmax = Float(nmax)
        var iscale = fmax / (hi - lo)
        var scale = 1 / iscale
        var best: Float = 0
        for i in 0..<n {
            let l = nearestInt(iscale * (x[i] - lo))
            levels[i] = UInt8(max(0, min(nmax, l)))
            let diff = scale * Float(levels[i]) + lo - x[i]
            best += w[i] * (diff * diff)
        }
        if nstep < 1 { return (scale, -lo) }
        for s in 0...nstep {
            iscale = (rmin + rdelta * Float(s) + fmax) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let v = iscale * (x[i] - lo)
                let l: Int32 = v > 0 ? nearestInt(v < fmax ? v : fmax) : 0
                aux[i] = UInt8(truncatingIfNeeded: l)
                let wi = w[i], fl = Float(l)
                sumL += wi * fl
                sumL2 += wi * fl * fl
                sumXL += wi * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var err: Float = 0
                for i in 0..<n {
                    let diff = thisScale * Float(aux[i]) + thisMin - x[i]
                    err += w[i] * (diff * diff)
                }
                if err < best {
                    for i in 0..<n { levels[i] = aux[i] }
                    best = err
                    scale = thisScale
                    lo = thisMin
                }
            }
        }
        return (scale, -lo)
    }

    /// ggml's `make_qp_quants`: levels 0...nmax for non-negative values (the K-quants' sub-block scales) minimizing
    /// the weighted error, with a coordinate-descent refinement.
    static func makeQP(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<UInt8>,
                       _ qw: UnsafePointer<Float>) -> Float {
        var mx: Float = 0
        for i in 0..<n { mx = mx > x[i] ? mx : x[i] }
        if mx < 1e-15 {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fmax = Float(nmax)
        var iscale = fmax / mx
        for i in 0..<n { L[i] = UInt8(truncatingIfNeeded: nearestInt(iscale * x[i])) }
        let scale = 1 / iscale
        var bestMSE: Float = 0
        for i in 0..<n {
            let diff = x[i] - scale * Float(L[i])
            bestMSE += qw[i] * diff * diff
        }
        for s in -4...4 where s != 0 {
            let iscaleS = (0.1 * Float(s) + fmax) / mx
            let scaleS = 1 / iscaleS
            var mse: Float = 0
            for i in 0..<n {
                let l = min(nmax, nearestInt(iscaleS * x[i]))
                let diff = x[i] - scaleS * Float(l)
                mse += qw[i] * diff * diff
            }
            if mse < bestMSE {
                bestMSE = mse
                iscale = iscaleS
            }
        }
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = min(nmax, nearestInt(iscale * x[i]))
            L[i] = UInt8(truncatingIfNeeded: l)
            let w = qw[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = qw[i], li = Float(L[i])
                var slx = sumLX - w * x[i] * li
                var sl2 = sumL2 - w * li * li
                if slx > 0 && sl2 > 0 {
                    let newL = min(nmax, nearestInt(x[i] * sl2 / slx))
                    if newL != Int32(L[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if slx * slx * sumL2 > sumLX * sumLX * sl2 {
                            L[i] = UInt8(truncatingIfNeeded: newL)
                            sumLX = slx
                            sumL2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        return sumL2 > 0 ? sumLX / sumL2 : 0
    }

    /// One Q4_K/Q5_K super-block with importance weights (`quantize_row_q4_K_impl` / `q5_K_impl`).
    static func kWeighted(_ type: GGMLType, _ x: UnsafePointer<Float>, _ qw: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let nmax: Int32 = type == .q4_K ? 15 : 31
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 32 + 16) { ub in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + 24) { fb in
                let L = ub.baseAddress!, aux = L + 256, Ls = aux + 32, Lm = Ls + 8
                let w = fb.baseAddress!, sw = w + 32, scales = sw + 8, mins = scales + 8
                var sumX2: Float = 0
                for l in 0..<256 { sumX2 += x[l] * x[l] }
                let sigma2 = 2 * sumX2 / 256
                for j in 0..<8 {
                    for l in 0..<32 { w[l] = qw[32 * j + l] * (sigma2 + x[32 * j + l] * x[32 * j + l]).squareRoot() }
                    var sumw: Float = 0
                    for l in 0..<32 { sumw += w[l] }
                    sw[j] = sumw
                    let (s, m) = makeQKX3(32, nmax, x + 32 * j, w, L + 32 * j, aux, rmin: -0.9, rdelta: 0.05, nstep: 36)
                    scales[j] = s
                    mins[j] = m
                }
                let dBlock = makeQP(8, 63, scales, Ls, sw)
                let mBlock = makeQP(8, 63, mins, Lm, sw)
                let sc = y + 4
                for i in 0..<12 { sc.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
                for j in 0..<8 {
                    let ls = type == .q5_K ? min(63, Ls[j]) : Ls[j], lm = type == .q5_K ? min(63, Lm[j]) : Lm[j]
                    packScalesK4(sc, j, ls, lm)
                }
                putHalf(y, 0, dBlock)
                putHalf(y, 2, mBlock)
                requantizeK(x, y, nmax: nmax, levels: L)
                packK(type, y, levels: L)
            }
        }
    }
}
