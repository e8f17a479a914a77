// CPUFeatures: which vector extensions this processor has (a Linux /proc/cpuinfo shim; empty elsewhere).
import Foundation

/// Instruction-set flags of the running CPU.
public enum CPUFeatures {
    /// Lower-case flag names as the kernel reports them ("avx2", "avx512f", "avx512_bf16", ...).
    public static let flags: Set<String> = {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        #else
        return []
        #endif
    }()

    /// The vendor id ("GenuineIntel", "AuthenticAMD", ...; empty when unknown).
    public static let vendor: String = {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("vendor_id") }),
              let colon = line.firstIndex(of: ":") else { return "" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        #else
        return ""
        #endif
    }()

    public static var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) }
    public static var hasAVX2: Bool { flags.contains("avx2") && flags.contains("fma") }
}
