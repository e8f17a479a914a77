// MixedPrecision: what `--precision bf16` does on the CPU at hand.
//
// bf16 pays only where the CPU multiplies bf16 in hardware (AVX512_BF16, AMX); elsewhere rounding operands
// costs time and buys nothing, so the run falls back to Float32 and says so. Forge has no native bf16 kernel yet
// (none of the machines it has been measured on so far had AVX512_BF16 when this was written), so a CPU with
// bf16 instructions falls back too, with its own message. FORGE_BF16=emulate runs bf16 numerics anyway (operands
// rounded to bf16, SGEMM accumulating in Float32), for checking what bf16 does to a loss curve on any CPU.
import ForgeCore
import ForgeKernels
import Foundation

/// The matrix-product precision a run gets, and why.
public struct MixedPrecision: Sendable {
    /// True when matrix products round their operands to bf16.
    public let bf16Operands: Bool
    /// What to tell the user (nil for plain Float32).
    public let message: String?

    /// The plan for `requested` on this CPU (environment: FORGE_BF16=emulate).
    public static func plan(_ requested: Precision?) -> MixedPrecision {
        guard requested == .bf16 else { return MixedPrecision(bf16Operands: false, message: nil) }
        if ProcessInfo.processInfo.environment["FORGE_BF16"] == "emulate" {
            return MixedPrecision(bf16Operands: true, message: "bf16: operands rounded to bf16, products accumulated in Float32 by SGEMM "
                                  + "(emulated for checking numerics: slower than Float32)")
        }
        if !BFloat16.hardwareSupport {
            return MixedPrecision(bf16Operands: false, message: "--precision bf16: this CPU has no bf16 instructions (avx512_bf16, amx_bf16): "
                                  + "training in Float32 (FORGE_BF16=emulate runs bf16 numerics anyway, slower)")
        }
        return MixedPrecision(bf16Operands: false, message: "--precision bf16: this CPU has avx512_bf16 but Forge's bf16 kernels are not "
                              + "written yet: training in Float32 (FORGE_BF16=emulate runs bf16 numerics, slower)")
    }

    /// Runs `body` with this plan's matrix precision, restoring the previous one after.
    public func apply<R>(_ body: () throws -> R) rethrows -> R {
        try BFloat16.$matrixOperands.withValue(bf16Operands) { try body() }
    }
}
