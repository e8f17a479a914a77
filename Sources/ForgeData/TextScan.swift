// TextScan: fast word and character-class scanning over Unicode scalars (no grapheme breaking),
// using the tokenizer's Unicode class table.
import ForgeTokenizer

enum TextScan {
    @inline(__always) static func cls(_ u: Unicode.Scalar) -> UnicodeClass { UnicodeClass.of(u.value) }
    @inline(__always) static func isWhitespace(_ u: Unicode.Scalar) -> Bool { u.value < 128 ? (u == " " || (u.value >= 9 && u.value <= 13)) : cls(u).contains(.whitespace) }
    @inline(__always) static func isLetter(_ u: Unicode.Scalar) -> Bool {
        u.value < 128 ? ((u.value | 32) >= 97 && (u.value | 32) <= 122) : cls(u).contains(.letter)
    }
    @inline(__always) static func isAlnum(_ u: Unicode.Scalar) -> Bool {
        u.value < 128 ? ((u.value | 32) >= 97 && (u.value | 32) <= 122) || (u.value >= 48 && u.value <= 57) : !cls(u).isDisjoint(with: [.letter, .number])
    }

    /// Whitespace-separated words (as scalar arrays' strings).
    static func whitespaceWords(_ s: String) -> [Substring.UnicodeScalarView] {
        var out: [Substring.UnicodeScalarView] = []
        let v = s.unicodeScalars
        var start: String.UnicodeScalarView.Index?
        var i = v.startIndex
        while i < v.endIndex {
            if isWhitespace(v[i]) {
                if let st = start { out.append(v[st..<i]); start = nil }
            } else if start == nil {
                start = i
            }
            i = v.index(after: i)
        }
        if let st = start { out.append(v[st..<v.endIndex]) }
        return out
    }

    /// Lower-cased runs of letters and digits (plus inner apostrophes when `apostrophes`).
    static func alnumWords(_ s: String, apostrophes: Bool = false) -> [String] {
        var out: [String] = []
        var cur = String.UnicodeScalarView()
        func flush() {
            while apostrophes, cur.last == "'" { cur.removeLast() }
            if !cur.isEmpty { out.append(String(cur)); cur = String.UnicodeScalarView() }
        }
        for u in s.unicodeScalars {
            if isAlnum(u) {
                if u.value >= 65 && u.value <= 90 { cur.append(Unicode.Scalar(u.value + 32)!) }
                else if u.value < 128 { cur.append(u) }
                else { cur.append(contentsOf: u.properties.lowercaseMapping.unicodeScalars) }
            } else if apostrophes && u == "'" && !cur.isEmpty {
                cur.append(u)
            } else {
                flush()
            }
        }
        flush()
        return out
    }
}
