// TextStream: generated tokens as text for a caller, whether one generation or one of many a server runs:
// text comes out in whole UTF-8 characters, and is held back while it could still be the start of a stop string,
// so a stop string ends the text and never appears in it.
import ForgeTokenizer

/// Token-by-token text with stop strings.
public struct TextStream {
    var decoder: StreamDecoder
    let stops: [String]
    let longest: Int
    /// Decoded text not yet handed out (it could begin a stop string).
    var pending = ""
    /// Whether a stop string has ended the text.
    public private(set) var stopped = false

    /// `bytesOf` gives the text bytes of a token (empty for control tokens that should not print).
    public init(stops: [String], bytesOf: @escaping (Int32) -> [UInt8]) {
        decoder = StreamDecoder(bytesOf: bytesOf)
        self.stops = stops.filter { !$0.isEmpty }
        longest = self.stops.map(\.count).max() ?? 0
    }

    /// The text ready to hand out after `token`; when it completes a stop string, the text before it and `stopped`.
    public mutating func push(_ token: Int32) -> String {
        guard !stopped else { return "" }
        pending += decoder.push(token)
        if let cut = Self.firstStop(in: pending, stops) {
            let ready = String(pending[..<cut])
            pending = ""
            stopped = true
            return ready
        }
        let hold = Self.heldBack(pending, stops, longest: longest)
        let ready = String(pending.dropLast(hold))
        pending = String(pending.suffix(hold))
        return ready
    }

    /// What is still held back when generation ends (cut before a stop string it may hold).
    public mutating func finish() -> String {
        guard !stopped else { return "" }
        let rest = pending + decoder.finish()
        pending = ""
        if let cut = Self.firstStop(in: rest, stops) { return String(rest[..<cut]) }
        return rest
    }

    /// Where the earliest stop string begins in `text`, if any.
    static func firstStop(in text: String, _ stops: [String]) -> String.Index? {
        stops.compactMap { text.range(of: $0)?.lowerBound }.min()
    }

    /// Characters at the end of `text` that are a proper prefix of some stop string.
    static func heldBack(_ text: String, _ stops: [String], longest: Int) -> Int {
        guard longest > 0 else { return 0 }
        for n in stride(from: min(longest - 1, text.count), through: 1, by: -1) {
            let tail = text.suffix(n)
            if stops.contains(where: { $0.count > n && $0.hasPrefix(tail) }) { return n }
        }
        return 0
    }
}
