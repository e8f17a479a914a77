// JSONTerminals: the pieces of JSON text as grammar expressions: string characters (raw, escaped, or from a set),
// numbers (at most 16 integer digits, 16 fraction digits and 2 exponent digits, so no value runs on forever), and
// integer ranges as digit patterns (as llama.cpp's json-schema-to-grammar writes them).

enum JSONTerminals {
    static let quote = GrammarExpr.literal("\"")
    static let digit = GrammarExpr.byteRanges([0x30...0x39])
    static let hex = GrammarExpr.byteRanges([0x30...0x39, 0x41...0x46, 0x61...0x66])
    /// Most digits of an integer part (and of a fraction).
    static let maxDigits = 16
    static let largest: Int64 = 9_999_999_999_999_999

    /// Characters written as themselves: U+0020 and up, without `"` and `\`.
    static let raw = UTF8Ranges.expr([0x20...0x21, 0x23...0x5B, 0x5D...0x10FFFF])

    /// Any character of a JSON string, escapes included.
    static let stringChar = GrammarExpr.alt([
        raw, .seq([.literal("\\"), .alt([.oneOf("\"\\/bfnrt"), .seq([.literal("u"), hex, hex, hex, hex])])]),
    ])

    /// One code point of a JSON string (for minLength/maxLength): a \u escape never names half of a surrogate pair.
    static let countedChar: GrammarExpr = {
        let notD = GrammarExpr.byteRanges([0x30...0x39, 0x41...0x43, 0x45...0x46, 0x61...0x63, 0x65...0x66])
        let nonSurrogate = GrammarExpr.alt([
            .seq([notD, hex, hex, hex]), .seq([.oneOf("dD"), .byteRanges([0x30...0x37]), hex, hex]),
        ])
        return .alt([raw, .seq([.literal("\\"), .alt([.oneOf("\"\\/bfnrt"), .seq([.literal("u"), nonSurrogate])])])])
    }()

    /// Any JSON string.
    static let string = GrammarExpr.seq([quote, .repetition(stringChar, min: 0, max: nil), quote])

    /// One character of `set` (scalar ranges) as a JSON string writes it: itself, or its escape.
    static func chars(_ set: [ClosedRange<UInt32>]) -> GrammarExpr {
        let set = UTF8Ranges.normalized(set)
        func has(_ v: UInt32) -> Bool { set.contains { $0.contains(v) } }
        var plain: [ClosedRange<UInt32>] = []
        for r in set {
            for (lo, hi) in [(0x20, 0x21), (0x23, 0x5B), (0x5D, 0x10FFFF)] as [(UInt32, UInt32)] {
                let a = max(r.lowerBound, lo), b = min(r.upperBound, hi)
                if a <= b { plain.append(a...b) }
            }
        }
        var options: [GrammarExpr] = plain.isEmpty ? [] : [UTF8Ranges.expr(plain)]
        if has(0x22) { options.append(.literal("\\\"")) }
        if has(0x5C) { options.append(.literal("\\\\")) }
        let short: [UInt32: String] = [0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"]
        for c in UInt32(0)..<0x20 where has(c) {
            options.append(.literal(short[c] ?? "\\u00" + (c < 16 ? "0" : "") + String(c, radix: 16)))
        }
        return .alt(options)
    }

    /// Optional whitespace: nothing, one space, or a newline and up to `maxIndent` spaces (nil: none at all).
    static func whitespace(maxIndent: Int?) -> GrammarExpr {
        guard let maxIndent else { return .empty }
        let indent = GrammarExpr.repetition(.literal(" "), min: 0, max: maxIndent)
        return .optional(.alt([.literal(" "), .seq([.literal("\n"), indent])]))
    }

    // MARK: - Numbers

    static let fraction = GrammarExpr.seq([.literal("."), .repetition(digit, min: 1, max: maxDigits)])
    static let exponent = GrammarExpr.seq([.oneOf("eE"), .optional(.oneOf("+-")), .repetition(digit, min: 1, max: 2)])
    static let integer = GrammarExpr.seq([.optional(.literal("-")), naturalDigits])
    static let naturalDigits = GrammarExpr.alt([
        .literal("0"), .seq([.byteRanges([0x31...0x39]), .repetition(digit, min: 0, max: maxDigits - 1)]),
    ])
    static let number = GrammarExpr.seq([integer, .optional(fraction), .optional(exponent)])

    /// Integers in lo...hi (nil: unbounded), written without leading zeros; nil when the range is empty.
    static func integers(_ lo: Int64?, _ hi: Int64?) -> GrammarExpr? {
        let a = max(lo ?? -largest, -largest), b = min(hi ?? largest, largest)
        guard a <= b else { return nil }
        var options: [GrammarExpr] = []
        if b >= 0 { options.append(naturals(max(a, 0), b)) }
        if a < 0 { options.append(.seq([.literal("-"), naturals(max(1, b < 0 ? -b : 1), -a)])) }
        return .alt(options)
    }

    /// Numbers within bounds, kept safe: an integer part I inside the bounds, and a fraction only where every I.fff
    /// stays inside (I ≥ 0: up to hi − 1; I < 0: from lo + 1), so values within 1 of a bound may be unreachable.
    /// No exponents. nil when nothing fits.
    static func numbers(min lo: Double?, exclusiveMin: Bool, max hi: Double?, exclusiveMax: Bool) -> GrammarExpr? {
        func clamp(_ x: Double) -> Int64 { Int64(Swift.max(Swift.min(x, Double(largest)), -Double(largest))) }
        let iLo = lo.map { clamp(exclusiveMin ? $0.rounded(.down) + 1 : $0.rounded(.up)) }
        let iHi = hi.map { clamp(exclusiveMax ? $0.rounded(.up) - 1 : $0.rounded(.down)) }
        var options: [GrammarExpr] = []
        if let whole = integers(iLo, iHi) { options.append(whole) }
        // I.fff with I ≥ 0 lies in [I, I + 1): I + 1 ≤ hi.
        if let nonNegative = integers(Swift.max(iLo ?? 0, 0), hi.map { clamp($0.rounded(.down)) - 1 }) {
            options.append(.seq([nonNegative, fraction]))
        }
        // -K.fff with K ≥ 1 lies in (-(K + 1), -K]: -(K + 1) ≥ lo and -K ≤ hi.
        if let k = integers(Swift.max(1, iHi.map { -$0 } ?? 1), lo.map { -clamp($0.rounded(.up)) - 1 }) {
            options.append(.seq([.literal("-"), k, fraction]))
        }
        // -0.fff lies in (-1, 0].
        if (lo ?? -1) <= -1 && (iHi ?? 0) >= 0 { options.append(.seq([.literal("-0"), fraction])) }
        return options.isEmpty ? nil : .alt(options)
    }

    /// Naturals in a...b (0 ≤ a ≤ b): one digit pattern per length.
    static func naturals(_ a: Int64, _ b: Int64) -> GrammarExpr {
        var options: [GrammarExpr] = []
        let la = String(a).count, lb = String(b).count
        for length in la...lb {
            let low = length == la ? a : Int64(pow10(length - 1)), high = length == lb ? b : Int64(pow10(length)) - 1
            options.append(sameLength(Array(String(low).utf8), Array(String(high).utf8)))
        }
        return .alt(options)
    }

    static func pow10(_ n: Int) -> Int64 { (0..<n).reduce(Int64(1)) { r, _ in r * 10 } }

    /// Digit strings from x to y, both of the same length.
    static func sameLength(_ x: [UInt8], _ y: [UInt8]) -> GrammarExpr {
        guard let x0 = x.first, let y0 = y.first else { return .empty }
        if x == y { return .bytes(x) }
        let restX = Array(x.dropFirst()), restY = Array(y.dropFirst())
        if x0 == y0 { return .seq([.bytes([x0]), sameLength(restX, restY)]) }
        let n = x.count - 1
        let zeros = [UInt8](repeating: 0x30, count: n), nines = [UInt8](repeating: 0x39, count: n)
        let anyDigits = GrammarExpr.repetition(digit, min: n, max: n)
        if restX == zeros && restY == nines { return .seq([.byteRanges([x0...y0]), anyDigits]) }
        var options: [GrammarExpr] = [.seq([.bytes([x0]), sameLength(restX, nines)])]
        if x0 + 1 <= y0 - 1 { options.append(.seq([.byteRanges([(x0 + 1)...(y0 - 1)]), anyDigits])) }
        options.append(.seq([.bytes([y0]), sameLength(zeros, restY)]))
        return .alt(options)
    }
}
