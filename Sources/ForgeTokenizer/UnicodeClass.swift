// UnicodeClass: the character classes that pre-tokenizer patterns use (\p{L}, \p{N}, \p{P}, \p{S},
// \p{M}, letter subcategories, \s), as one table of bit flags over every code point, built once from
// the standard library's Unicode data.

/// Bit flags of a code point's classes.
public struct UnicodeClass: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let letter = UnicodeClass(rawValue: 1 << 0)       // \p{L}
    public static let number = UnicodeClass(rawValue: 1 << 1)       // \p{N}
    public static let punctuation = UnicodeClass(rawValue: 1 << 2)  // \p{P}
    public static let symbol = UnicodeClass(rawValue: 1 << 3)       // \p{S}
    public static let mark = UnicodeClass(rawValue: 1 << 4)         // \p{M}
    public static let whitespace = UnicodeClass(rawValue: 1 << 5)   // \s (White_Space)
    public static let uppercase = UnicodeClass(rawValue: 1 << 6)    // \p{Lu}
    public static let lowercase = UnicodeClass(rawValue: 1 << 7)    // \p{Ll}
    public static let titlecase = UnicodeClass(rawValue: 1 << 8)    // \p{Lt}
    public static let modifier = UnicodeClass(rawValue: 1 << 9)     // \p{Lm}
    public static let otherLetter = UnicodeClass(rawValue: 1 << 10) // \p{Lo}
    public static let decimal = UnicodeClass(rawValue: 1 << 11)     // \p{Nd}
    public static let separator = UnicodeClass(rawValue: 1 << 12)   // \p{Z}
    public static let control = UnicodeClass(rawValue: 1 << 13)     // \p{C}
    public static let han = UnicodeClass(rawValue: 1 << 14)         // \p{Han} (CJK ideographs)

    /// The class flags of every code point 0...0x10FFFF.
    static let table: [UInt16] = {
        var t = [UInt16](repeating: 0, count: 0x110000)
        for v in 0..<UInt32(0x110000) {
            guard let s = Unicode.Scalar(v) else { t[Int(v)] = UnicodeClass.control.rawValue; continue }
            var f: UnicodeClass = []
            let p = s.properties
            switch p.generalCategory {
            case .uppercaseLetter: f = [.letter, .uppercase]
            case .lowercaseLetter: f = [.letter, .lowercase]
            case .titlecaseLetter: f = [.letter, .titlecase]
            case .modifierLetter: f = [.letter, .modifier]
            case .otherLetter: f = [.letter, .otherLetter]
            case .decimalNumber: f = [.number, .decimal]
            case .letterNumber, .otherNumber: f = .number
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                 .initialPunctuation, .finalPunctuation, .otherPunctuation: f = .punctuation
            case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: f = .symbol
            case .nonspacingMark, .spacingMark, .enclosingMark: f = .mark
            case .spaceSeparator, .lineSeparator, .paragraphSeparator: f = .separator
            default: f = .control
            }
            if p.isWhitespace { f.insert(.whitespace) }
            if p.isIdeographic && (0x2E80...0x9FFF ~= v || 0xF900...0xFAFF ~= v || 0x20000...0x3FFFF ~= v) { f.insert(.han) }
            t[Int(v)] = f.rawValue
        }
        return t
    }()

    /// The classes of code point `c` (invalid code points count as control characters).
    @inline(__always)
    public static func of(_ c: UInt32) -> UnicodeClass {
        c < 0x110000 ? UnicodeClass(rawValue: table[Int(c)]) : .control
    }
}
