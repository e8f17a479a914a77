// CPUFeatures: which vector extensions this processor has (a Linux /proc/cpuinfo shim; empty elsewhere).
import Foundation

/// Instruction-set flags of the running CPU.
public enum CPUFeatures {
    /// Lower-case flag names as the kernel reports them ("avx2", "avx512f", "avx512_bf16", ...).
    public static let flags: Set<String> = Set((cpuinfo("flags") ?? "").split(separator: " ").map(String.init))

    /// The vendor id ("GenuineIntel", "AuthenticAMD", ...; empty when unknown).
    public static let vendor: String = cpuinfo("vendor_id") ?? ""

    /// The value of the first /proc/cpuinfo line starting with `field`, trimmed (nil when absent or not on Linux).
    static func cpuinfo(_ field: String) -> String? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        #else
        return nil
        #endif
    }

    public static var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) }
    public static var hasAVX2: Bool { flags.contains("avx2") && flags.contains("fma") }
}
