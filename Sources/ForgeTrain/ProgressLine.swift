// ProgressLine: a live status line (steps, loss, tokens/s, ETA) on a terminal, or periodic plain
// lines when output is a file or pipe.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes progress to standard error.
public final class ProgressLine {
    let isTerminal = isatty(2) == 1
    var lastPlain = Date.distantPast
    var width = 0
    /// Seconds between plain lines when not on a terminal.
    public var plainInterval: TimeInterval = 10

    public init() {}

    /// Shows `text` as the current status (redrawn in place on a terminal).
    public func update(_ text: String, force: Bool = false) {
        if isTerminal {
            let pad = max(0, width - text.count)
            width = text.count
            FileHandle.standardError.write(Data(("\r" + text + String(repeating: " ", count: pad)).utf8))
        } else if force || Date().timeIntervalSince(lastPlain) >= plainInterval {
            lastPlain = Date()
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    /// Prints a permanent line (ending the live line first).
    public func line(_ text: String) {
        if isTerminal && width > 0 { FileHandle.standardError.write(Data("\n".utf8)); width = 0 }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Formats seconds as 1h02m, 3m05s or 12s.
    public static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return "\(t)s"
    }
}
