// BFloat16: rounding Float32 to bf16 (8-bit significand, Float32's exponent), as bf16 matrix products see
// their operands. A product of two bf16 values is exact in Float32, so bf16 operands with Float32
// accumulation (what AVX512_BF16's vdpbf16ps and oneDNN's bf16 matmul compute) is SGEMM on rounded operands,
// up to the order of the additions.

import ForgeCore

/// bf16 rounding and the process-wide matrix-product precision.
public enum BFloat16 {
    /// `x` rounded to the nearest bf16 (ties to even), returned as Float32; NaN stays NaN, infinities stay.
    @inlinable public static func round(_ x: Float) -> Float {
        let bits = x.bitPattern
        if x.isNaN { return Float(bitPattern: (bits | 0x0040_0000) & 0xFFFF_0000) }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }

    /// Rounds `n` floats from `x` into `out` (may alias).
    public static func round(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.forEach(n, grain: 1 << 16) { r in
            for i in r { out[i] = round(x[i]) }
        }
    }

    /// When true, the autograd's matrix products round both operands to bf16 and accumulate in Float32
    /// (`--precision bf16`); the training loop binds it for its run (task-local: other work is not affected).
    @TaskLocal public static var matrixOperands = false

    /// Whether this CPU multiplies bf16 in hardware (AVX512_BF16's vdpbf16ps, or AMX-BF16).
    public static var hardwareSupport: Bool { CPUFeatures.flags.contains("avx512_bf16") || CPUFeatures.flags.contains("amx_bf16") }
}
