// WeightPrefetch: whether the product kernels ask for weight blocks ahead of where they read (software prefetch).
// It paid when rows were read as interleaved streams from 4 KiB pages (a Zen 4 then: one thread 6–7 → 11–12.5 GB/s).
// On AMD Zen 4, with packed groups in huge pages, the hardware prefetchers alone stream faster: `forge bench
// kernels --model` on SmolLM2 Q4_1, one thread, 28.0–28.5 GB/s over the layers without against 21.4–21.7 with.
// Zen 2 (AMD without AVX-512) has not been measured since, so it keeps the prefetch.
import ForgeCore
import Foundation

/// Software prefetch of weights in the product kernels, chosen once per process.
public enum WeightPrefetch {
    /// True when the kernels prefetch weights ahead: FORGE_WEIGHT_PREFETCH=1 or 0, else off on AMD with AVX-512.
    public nonisolated(unsafe) static var enabled: Bool = defaultSetting(
        environment: ProcessInfo.processInfo.environment["FORGE_WEIGHT_PREFETCH"], vendor: CPUFeatures.vendor,
        avx512: CPUFeatures.hasAVX512)

    /// The setting for an environment value (nil: unset), a CPU vendor id ("AuthenticAMD", ...) and AVX-512.
    public static func defaultSetting(environment: String?, vendor: String, avx512: Bool) -> Bool {
        switch environment {
        case "1", "on", "true": return true
        case "0", "off", "false": return false
        default: return !(vendor == "AuthenticAMD" && avx512)
        }
    }
}
