// ActivationQuant: activations rounded to 8 bits per 32-value block, the other operand of the
// integer dot products in QuantDotQ8.
//
// The rounding is llama.cpp's (quantize_row_q8_0/q8_1): amax/127 as the scale, stored rounded to
// f16; values multiplied by 127/amax and rounded half to even; for Q8_1 also f16(scale·Σq). Using the
// same rounding (and QuantDotQ8's order of float operations) gives the floats llama.cpp gives.
import CSIMD

/// `count` activations (a multiple of 32) as int8 values with one scale and one scaled sum per block.
public struct Q8Activations {
    /// Values, in their original order.
    public let values: UnsafeMutablePointer<Int8>
    /// Per block: the scale d (an f16 value held as Float).
    public let scales: UnsafeMutablePointer<Float>
    /// Per block: f16(d_exact · Σq), Q8_1's `s` (the offset term of Q4_1).
    public let sums: UnsafeMutablePointer<Float>
    /// Per block, 8 lanes: −8 · the sum of each 4 consecutive values (Q4_0's offset, lane by lane).
    public let minus8LaneSums: UnsafeMutablePointer<SIMD8<Int32>>
    /// Per block: −8 · the sum of its values (Q4_0's offset for a whole block; the 8 lanes above added up).
    public let minus8Sums: UnsafeMutablePointer<Int32>
    public let count: Int

    /// Bytes of scratch `init(count:in:)` needs.
    public static func scratchBytes(count: Int) -> Int { count + 44 * (count / 32) }

    /// Views `scratch` (at least `scratchBytes(count:)` bytes, 32-byte aligned) as quantized activations.
    public init(count: Int, in scratch: UnsafeMutableRawPointer) {
        precondition(count % 32 == 0, "Q8Activations: \(count) values is not a whole number of 32-value blocks")
        let blocks = count / 32
        self.count = count
        minus8LaneSums = scratch.bindMemory(to: SIMD8<Int32>.self, capacity: blocks)
        scales = (scratch + 32 * blocks).bindMemory(to: Float.self, capacity: blocks)
        sums = (scratch + 36 * blocks).bindMemory(to: Float.self, capacity: blocks)
        minus8Sums = (scratch + 40 * blocks).bindMemory(to: Int32.self, capacity: blocks)
        values = (scratch + 44 * blocks).bindMemory(to: Int8.self, capacity: count)
    }

    /// Rounds `x[0..<count]` into this buffer.
    public func quantize(_ x: UnsafePointer<Float>) {
        for b in 0..<(count / 32) {
            let (q0, q1, d) = Q8Activations.block(x + 32 * b)
            let out = UnsafeMutableRawPointer(values + 32 * b)
            out.storeBytes(of: q0, as: SIMD16<Int8>.self)
            out.storeBytes(of: q1, toByteOffset: 16, as: SIMD16<Int8>.self)
            // Sums of each 4 consecutive values: their byte dot product with ones.
            let lanes = forge_dot_u8s8(SIMD8<Int32>(), SIMD32<UInt8>(repeating: 1), SIMD32<Int8>(lowHalf: q0, highHalf: q1))
            minus8LaneSums[b] = lanes &* -8
            let s = lanes.wrappedSum()
            minus8Sums[b] = s &* -8
            scales[b] = Float(Float16(d))
            sums[b] = Float(Float16(d * Float(s)))
        }
    }

    /// Writes the values the integer dot products see for `x` (q·d per block) to `out`, and each block's
    /// Q8_1 sum f16(d·Σq) to `sums` (count/32 values): the operands of the SGEMM path for long prompts.
    public static func round(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                             sums: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % 32 == 0, "Q8Activations: \(count) values is not a whole number of 32-value blocks")
        for b in 0..<(count / 32) {
            let (q0, q1, d) = block(x + 32 * b)
            let scale = F16x(repeating: Float(Float16(d)))
            store16(int8ToFloat(q0) * scale, out, 32 * b)
            store16(int8ToFloat(q1) * scale, out, 32 * b + 16)
            var s: Int32 = 0
            for i in 0..<16 { s &+= Int32(q0[i]) &+ Int32(q1[i]) }
            sums[b] = Float(Float16(d * Float(s)))
        }
    }

    /// One block: its 32 values rounded (two halves) and its exact scale amax/127.
    @inline(__always)
    static func block(_ x: UnsafePointer<Float>) -> (SIMD16<Int8>, SIMD16<Int8>, Float) {
        let v0 = load16(x, 0), v1 = load16(x, 16)
        let amax = forge_amax32(x)
        let id: Float = amax != 0 ? 127 / amax : 0
        return (roundToInt8(v0 * id), roundToInt8(v1 * id), amax / 127)
    }
}

/// Rounds `x` (already inside ±127.5) half to even and narrows to int8.
@inlinable @inline(__always)
func roundToInt8(_ x: F16x) -> SIMD16<Int8> {
    let r = x.rounded(.toNearestOrEven)
    var q = SIMD16<Int8>()
    for i in 0..<16 { q[i] = Int8(Int32(r[i])) }
    return q
}

/// |x| on 16 lanes (clears the sign bits).
@inlinable @inline(__always)
func abs16(_ x: F16x) -> F16x {
    unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: F16x.self)
}

/// `count` activations (a multiple of 256) rounded as ggml's Q8_K (quantize_row_q8_K_ref), the other operand
/// of the K-quant kernels: per 256 values, the value of largest magnitude M (the first one) maps to −127,
/// q = round-half-even((−127/M)·x) capped at 127, d = 1/(−127/M) kept in Float32, and the sum of each 16 q's.
public struct Q8KActivations {
    public let values: UnsafeMutablePointer<Int8>
    /// Per 256-value block: d.
    public let scales: UnsafeMutablePointer<Float>
    /// Per 16 values: Σq.
    public let sums16: UnsafeMutablePointer<Int32>
    public let count: Int

    /// Bytes of scratch `init(count:in:)` needs.
    public static func scratchBytes(count: Int) -> Int { count + 4 * (count / 256) + 4 * (count / 16) }

    /// Views `scratch` (at least `scratchBytes(count:)` bytes, 16-byte aligned) as quantized activations.
    public init(count: Int, in scratch: UnsafeMutableRawPointer) {
        precondition(count % 256 == 0, "Q8KActivations: \(count) values is not a whole number of 256-value blocks")
        self.count = count
        values = scratch.bindMemory(to: Int8.self, capacity: count)
        sums16 = (scratch + count).bindMemory(to: Int32.self, capacity: count / 16)
        scales = (scratch + count + 4 * (count / 16)).bindMemory(to: Float.self, capacity: count / 256)
    }

    /// Rounds `x[0..<count]` into this buffer.
    public func quantize(_ x: UnsafePointer<Float>) {
        for b in 0..<(count / 256) {
            let xb = x + 256 * b
            var amax: Float = 0
            for i in stride(from: 0, to: 256, by: 32) { amax = max(amax, forge_amax32(xb + i)) }
            let q = values + 256 * b
            guard amax > 0 else {
                scales[b] = 0
                q.initialize(repeating: 0, count: 256)
                (sums16 + 16 * b).initialize(repeating: 0, count: 16)
                continue
            }
            var first = 0
            while first < 255 && abs(xb[first]) != amax { first += 1 }  // (bounded: a NaN amax matches nothing)
            let iscale = -127 / xb[first]
            for i in stride(from: 0, to: 256, by: 16) {
                var v = (load16(xb, i) * iscale).rounded(.toNearestOrEven)
                v = v.replacing(with: 127, where: v .> 127)
                var r = SIMD16<Int8>()
                for k in 0..<16 { r[k] = Int8(Int32(v[k])) }
                UnsafeMutableRawPointer(q + i).storeBytes(of: r, as: SIMD16<Int8>.self)
                var s: Int32 = 0
                for k in 0..<16 { s &+= Int32(r[k]) }
                sums16[16 * b + i / 16] = s
            }
            scales[b] = 1 / iscale
        }
    }
}
