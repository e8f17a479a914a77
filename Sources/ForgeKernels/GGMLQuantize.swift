// GGMLQuantize: Float32 rows encoded into GGML's block formats by llama.cpp's deterministic reference rules
// (ggml-quants.c `quantize_row_*_ref`, which `llama-quantize` uses when no importance matrix is given), so that
// the bytes are identical to llama-quantize's for the same input.
//
// Exactness rests on doing each Float32 operation in the reference's order with no fused multiply-adds (Swift
// never contracts `a * b + c`), on its rounding helpers (`nearestInt` is ggml's 1.5·2^23 trick: round half to
// even; C's `roundf` is Swift's `.rounded()`; float→int casts truncate) and on IEEE half conversion with round to
// nearest even.
import ForgeCore

/// Encodes Float32 rows in GGML block types, bit-exact with llama.cpp's reference quantizers.
public enum GGMLQuantize {
    /// The types Forge writes.
    public static let writable: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// Bytes of one row of `n` values in `type`.
    public static func rowBytes(_ type: GGMLType, _ n: Int) -> Int { n / type.block.elements * type.block.bytes }

    /// Encodes `rows` rows of `n` values from `src` into `dst` (rows × rowBytes bytes).
    public static func quantize(_ type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer,
                                rows: Int, perRow n: Int) {
        precondition(writable.contains(type), "GGMLQuantize: \(type) is not written")
        precondition(n % type.block.elements == 0, "GGMLQuantize: \(n) values per row is not a whole number of \(type) blocks")
        let rb = rowBytes(type, n), (be, bb) = type.block
        for r in 0..<rows {
            let x = src + r * n, y = dst + r * rb
            switch type {
            case .f32: y.copyMemory(from: x, byteCount: 4 * n)
            case .f16: f16Row(x, y, n)
            case .bf16: bf16Row(x, y, n)
            default:
                for b in 0..<(n / be) { block(type, x + b * be, y + b * bb) }
            }
        }
    }

    @inline(__always) static func block(_ type: GGMLType, _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        switch type {
        case .q8_0: q8_0v(x, y)
        case .q4_0: q4_0v(x, y)
        case .q4_1: q4_1v(x, y)
        case .q5_0: q5_0v(x, y)
        case .q5_1: q5_1v(x, y)
        case .q4_K: q4_K(x, y)
        case .q5_K: q5_K(x, y)
        case .q6_K: q6_K(x, y)
        default: preconditionFailure("GGMLQuantize: no block encoder for \(type)")
        }
    }

    // MARK: - Rounding helpers, as ggml writes them

    /// ggml's `nearest_int`: round half to even through the 1.5·2^23 bias (|f| ≤ 2^22).
    @inline(__always) static func nearestInt(_ f: Float) -> Int32 {
        let v = f + 12582912
        return Int32(bitPattern: v.bitPattern & 0x007f_ffff) - 0x0040_0000
    }

    /// ggml's `GGML_FP32_TO_BF16`: round to nearest even, NaN kept quiet.
    @inline(__always) public static func bf16Bits(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        if u & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
        return UInt16(truncatingIfNeeded: (u &+ (0x7fff &+ ((u >> 16) & 1))) >> 16)
    }

    @inline(__always) static func putHalf(_ y: UnsafeMutableRawPointer, _ offset: Int, _ v: Float) {
        y.storeBytes(of: Float16(v).bitPattern, toByteOffset: offset, as: UInt16.self)
    }
    @inline(__always) static func half(_ y: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: y.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }
    /// C's float → int8_t/uint8_t cast (truncation toward zero), for values in range.
    @inline(__always) static func trunc(_ f: Float) -> Int32 { Int32(f) }

    // MARK: - 32-element blocks (the scalar reference; GGMLQuantizeVector.swift has the encoders used)

    /// Q8_0 {f16 d; i8 q[32]}: d = amax/127, q = round(x/d).
    static func q8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { let a = abs(x[j]); amax = amax > a ? amax : a }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d)
        for j in 0..<32 { y.storeBytes(of: Int8(truncatingIfNeeded: Int32((x[j] * id).rounded())), toByteOffset: 2 + j, as: Int8.self) }
    }

    /// The signed block's scale source: the value of largest magnitude (first one on ties).
    @inline(__always) static func signedMax(_ x: UnsafePointer<Float>) -> Float {
        var amax: Float = 0, m: Float = 0
        for j in 0..<32 { let v = x[j]; if amax < abs(v) { amax = abs(v); m = v } }
        return m
    }

    @inline(__always) static func minMax(_ x: UnsafePointer<Float>) -> (Float, Float) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0..<32 { let v = x[j]; if v < lo { lo = v }; if v > hi { hi = v } }
        return (lo, hi)
    }

    /// Q4_0 {f16 d; u8 q[16]}: d = max/−8, q = min(15, trunc(x/d + 8.5)); element j low nibble, j+16 high.
    static func q4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let d = signedMax(x) / -8
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d)
        for j in 0..<16 {
            let a = min(15, trunc(x[j] * id + 8.5)), b = min(15, trunc(x[16 + j] * id + 8.5))
            y.storeBytes(of: UInt8(truncatingIfNeeded: a | b << 4), toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    /// Q4_1 {f16 d; f16 m; u8 q[16]}: d = (max − min)/15, m = min, q = min(15, trunc((x − m)/d + 0.5)).
    static func q4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (lo, hi) = minMax(x)
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d); putHalf(y, 2, lo)
        for j in 0..<16 {
            let a = min(15, trunc((x[j] - lo) * id + 0.5)), b = min(15, trunc((x[16 + j] - lo) * id + 0.5))
            y.storeBytes(of: UInt8(truncatingIfNeeded: a | b << 4), toByteOffset: 4 + j, as: UInt8.self)
        }
    }

    /// Q5_0 {f16 d; u32 qh; u8 q[16]}: d = max/−16, q = min(31, trunc(x/d + 16.5)), fifth bits in qh.
    static func q5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let d = signedMax(x) / -16
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d)
        var qh: UInt32 = 0
        for j in 0..<16 {
            let a = UInt32(min(31, trunc(x[j] * id + 16.5))), b = UInt32(min(31, trunc(x[16 + j] * id + 16.5)))
            y.storeBytes(of: UInt8(truncatingIfNeeded: (a & 0xF) | (b & 0xF) << 4), toByteOffset: 6 + j, as: UInt8.self)
            qh |= ((a & 0x10) >> 4) << j
            qh |= ((b & 0x10) >> 4) << (j + 16)
        }
        y.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
    }

    /// Q5_1 {f16 d; f16 m; u32 qh; u8 q[16]}: d = (max − min)/31, q = trunc((x − m)/d + 0.5).
    static func q5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (lo, hi) = minMax(x)
        let d = (hi - lo) / 31
        let id: Float = d != 0 ? 1 / d : 0
        putHalf(y, 0, d); putHalf(y, 2, lo)
        var qh: UInt32 = 0
        for j in 0..<16 {
            let a = UInt32(UInt8(truncatingIfNeeded: trunc((x[j] - lo) * id + 0.5)))
            let b = UInt32(UInt8(truncatingIfNeeded: trunc((x[16 + j] - lo) * id + 0.5)))
            y.storeBytes(of: UInt8(truncatingIfNeeded: (a & 0xF) | (b & 0xF) << 4), toByteOffset: 8 + j, as: UInt8.self)
            qh |= ((a & 0x10) >> 4) << j
            qh |= ((b & 0x10) >> 4) << (j + 16)
        }
        y.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    // MARK: - K-quants (256-element super-blocks)

    /// ggml's `make_qkx2_quants`: scale and minimum of a sub-block for levels 0...nmax, by a search over iscale
    /// minimizing the weighted squared error. Returns (scale, −min) as the reference does (the min it stores is
    /// positive); `levels` gets the chosen levels.
    static func makeQKX2(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
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
        if hi == lo {
            for i in 0..<n { levels[i] = 0 }
            return (0, -lo)
        }
        let fmax = Float(nmax)
        var iscale = fmax / (hi - lo)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = nearestInt(iscale * (x[i] - lo))
            levels[i] = UInt8(max(0, min(nmax, l)))
            let diff = scale * Float(levels[i]) + lo - x[i]
            bestError += w[i] * (diff * diff)
        }
        if nstep < 1 { return (scale, -lo) }
        for s in 0...nstep {
            iscale = (rmin + rdelta * Float(s) + fmax) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
                aux[i] = UInt8(l)
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
                if err < bestError {
                    for i in 0..<n { levels[i] = aux[i] }
                    bestError = err
                    scale = thisScale
                    lo = thisMin
                }
            }
        }
        return (scale, -lo)
    }

    /// ggml's `make_qx_quants` (signed levels −nmax...nmax−1 stored + nmax), with rmse_type 1 and no weights.
    static func makeQX(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>,
                       weights qw: UnsafePointer<Float>? = nil) -> Float {
        var maxv: Float = 0, amax: Float = 0
        for i in 0..<n { let ax = abs(x[i]); if ax > amax { amax = ax; maxv = x[i] } }
        if amax < 1e-15 {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fmax = Float(nmax)
        var iscale = -fmax / maxv
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            L[i] = Int8(truncatingIfNeeded: l + nmax)
            let w = qw?[i] ?? x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for s in -9...9 where s != 0 {
            iscale = -(fmax + 0.1 * Float(s)) / maxv
            sumLX = 0; sumL2 = 0
            for i in 0..<n {
                let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
                let w = qw?[i] ?? x[i] * x[i], fl = Float(l)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { L[i] = Int8(truncatingIfNeeded: nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))) }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// The 6-bit scale/min pairs of Q4_K and Q5_K (12 bytes): j < 4 plain, j ≥ 4 split across nibbles and top bits.
    @inline(__always) static func packScalesK4(_ sc: UnsafeMutableRawPointer, _ j: Int, _ ls: UInt8, _ lm: UInt8) {
        func get(_ i: Int) -> UInt8 { sc.load(fromByteOffset: i, as: UInt8.self) }
        func set(_ i: Int, _ v: UInt8) { sc.storeBytes(of: v, toByteOffset: i, as: UInt8.self) }
        if j < 4 {
            set(j, ls); set(j + 4, lm)
        } else {
            set(j + 4, (ls & 0xF) | ((lm & 0xF) << 4))
            set(j - 4, get(j - 4) | ((ls >> 4) << 6))
            set(j, get(j) | ((lm >> 4) << 6))
        }
    }

    @inline(__always) static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func b(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 0xF) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4))
    }

    /// Shared by Q4_K and Q5_K: per 32-value sub-block scales and mins by makeQKX2 (all eight sub-blocks at once, one
    /// per SIMD lane), 6-bit quantized against the block maxima, then every level recomputed from the stored
    /// (half-rounded) scales.
    static func superBlockK(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, nmax: Int32, rmin: Float, nstep: Int,
                            levels L: UnsafeMutablePointer<UInt8>) {
        let (scales, mins) = withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { wb in
            let w = wb.baseAddress!
            for j in 0..<8 {
                var sumX2: Float = 0
                for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
                let avX = (sumX2 / 32).squareRoot()
                for l in 0..<32 { w[32 * j + l] = avX + abs(x[32 * j + l]) }
            }
            return makeQKX2x8(x, w, nmax: nmax, rmin: rmin, rdelta: 0.1, nstep: nstep, levels: L)
        }
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        let sc = y + 4
        for i in 0..<12 { sc.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
        for j in 0..<8 {
            let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
            let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
            packScalesK4(sc, j, ls, lm)
        }
        putHalf(y, 0, maxScale / 63)
        putHalf(y, 2, maxMin / 63)
        requantizeK(x, y, nmax: nmax, levels: L)
    }

    /// Every level of a Q4_K/Q5_K super-block recomputed from its stored (half-rounded) scales and minimums.
    static func requantizeK(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, nmax: Int32, levels L: UnsafeMutablePointer<UInt8>) {
        let sc = y + 4
        let dAll = half(y, 0), dminAll = half(y, 2)
        for j in 0..<8 {
            let (s, m) = scaleMinK4(j, sc)
            let d = dAll * Float(s)
            if d == 0 { continue }
            let dm = F8(repeating: dminAll * Float(m)), dv = F8(repeating: d)
            for c in 0..<4 {
                let xv = UnsafeRawPointer(x + 32 * j + 8 * c).loadUnaligned(as: F8.self)
                let l = clampF(roundedF8((xv + dm) / dv), F8(), F8(repeating: Float(nmax)))
                for k in 0..<8 { L[32 * j + 8 * c + k] = UInt8(l[k]) }
            }
        }
    }

    /// The levels of a super-block packed as Q4_K (nibbles) or Q5_K (nibbles and fifth bits in qh).
    static func packK(_ type: GGMLType, _ y: UnsafeMutableRawPointer, levels L: UnsafePointer<UInt8>) {
        if type == .q4_K {
            let q = y + 16
            for (k, j) in stride(from: 0, to: 256, by: 64).enumerated() {
                for l in 0..<32 { q.storeBytes(of: L[j + l] | (L[j + l + 32] << 4), toByteOffset: 32 * k + l, as: UInt8.self) }
            }
            return
        }
        let qh = y + 16, ql = y + 48
        for i in 0..<32 { qh.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
        var m1: UInt8 = 1, m2: UInt8 = 2
        for (k, n) in stride(from: 0, to: 256, by: 64).enumerated() {
            for j in 0..<32 {
                var l1 = L[n + j], l2 = L[n + j + 32]
                var h = qh.load(fromByteOffset: j, as: UInt8.self)
                if l1 > 15 { l1 -= 16; h |= m1 }
                if l2 > 15 { l2 -= 16; h |= m2 }
                qh.storeBytes(of: h, toByteOffset: j, as: UInt8.self)
                ql.storeBytes(of: l1 | (l2 << 4), toByteOffset: 32 * k + j, as: UInt8.self)
            }
            m1 <<= 2; m2 <<= 2
        }
    }

    /// Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}.
    static func q4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { L in
            superBlockK(x, y, nmax: 15, rmin: -1, nstep: 20, levels: L.baseAddress!)
            packK(.q4_K, y, levels: L.baseAddress!)
        }
    }

    /// Q5_K {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}.
    static func q5_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { L in
            superBlockK(x, y, nmax: 31, rmin: -0.5, nstep: 15, levels: L.baseAddress!)
            packK(.q5_K, y, levels: L.baseAddress!)
        }
    }

    /// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}.
    /// With `weights` (importance, 256 values) each sub-block's search minimizes the weighted error
    /// (`quantize_row_q6_K_impl`); without, the lanes search the plain one (`quantize_row_q6_K_ref`).
    static func q6_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights: UnsafePointer<Float>? = nil) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { Lb in
            let L = Lb.baseAddress!
            var scales = F16L()
            if let weights {
                for ib in 0..<16 { scales[ib] = makeQX(16, 32, x + 16 * ib, L + 16 * ib, weights: weights + 16 * ib) }
            } else {
                scales = makeQXx16(x, nmax: 32, levels: L)
            }
            var maxScale: Float = 0, maxAbsScale: Float = 0
            for ib in 0..<16 {
                let s = scales[ib]
                if abs(s) > maxAbsScale { maxAbsScale = abs(s); maxScale = s }
            }
            if maxAbsScale < 1e-15 {
                y.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                return
            }
            let iscale = -128 / maxScale
            putHalf(y, 208, 1 / iscale)
            let sc = y + 192
            for ib in 0..<16 {
                sc.storeBytes(of: Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[ib]))), toByteOffset: ib, as: Int8.self)
            }
            let dAll = half(y, 208)
            for j in 0..<16 {
                let d = dAll * Float(sc.load(fromByteOffset: j, as: Int8.self))
                if d == 0 { continue }
                let dv = F8(repeating: d)
                for c in 0..<2 {
                    let q = roundedF8(UnsafeRawPointer(x + 16 * j + 8 * c).loadUnaligned(as: F8.self) / dv)
                    let l = clampF(q, F8(repeating: -32), F8(repeating: 31)) + F8(repeating: 32)
                    for k in 0..<8 { L[16 * j + 8 * c + k] = Int8(l[k]) }
                }
            }
            for (k, j) in stride(from: 0, to: 256, by: 128).enumerated() {
                let ql = y + 64 * k, qh = y + 128 + 32 * k
                for l in 0..<32 {
                    let q1 = UInt8(L[j + l]), q2 = UInt8(L[j + l + 32]), q3 = UInt8(L[j + l + 64]), q4 = UInt8(L[j + l + 96])
                    ql.storeBytes(of: (q1 & 0xF) | ((q3 & 0xF) << 4), toByteOffset: l, as: UInt8.self)
                    ql.storeBytes(of: (q2 & 0xF) | ((q4 & 0xF) << 4), toByteOffset: l + 32, as: UInt8.self)
                    qh.storeBytes(of: (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6), toByteOffset: l, as: UInt8.self)
                }
            }
        }
    }
}
