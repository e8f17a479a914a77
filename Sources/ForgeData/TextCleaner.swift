// TextCleaner: HTML to text, Unicode NFC, control characters, whitespace, and boilerplate
// (Project Gutenberg headers and licence footers).
import Foundation

/// Cleaning settings (pipeline file section "clean").
public struct CleanOptions: Codable, Sendable, Equatable {
    public var html = true
    public var nfc = true
    public var controlCharacters = true
    public var whitespace = true
    public var gutenbergBoilerplate = true

    public init() {}
    enum CodingKeys: String, CodingKey { case html, nfc, controlCharacters = "control_characters", whitespace, gutenbergBoilerplate = "gutenberg_boilerplate" }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        html = try c.decodeIfPresent(Bool.self, forKey: .html) ?? true
        nfc = try c.decodeIfPresent(Bool.self, forKey: .nfc) ?? true
        controlCharacters = try c.decodeIfPresent(Bool.self, forKey: .controlCharacters) ?? true
        whitespace = try c.decodeIfPresent(Bool.self, forKey: .whitespace) ?? true
        gutenbergBoilerplate = try c.decodeIfPresent(Bool.self, forKey: .gutenbergBoilerplate) ?? true
    }
}

public enum TextCleaner {
    /// Applies the cleaning steps in order; `isHTML` documents are converted to text first.
    public static func clean(_ text: String, isHTML: Bool, options o: CleanOptions) -> String {
        var t = text
        if isHTML && o.html { t = HTMLText.toText(t) }
        if o.nfc { t = t.precomposedStringWithCanonicalMapping }
        if o.controlCharacters { t = removeControlCharacters(t) }
        if o.gutenbergBoilerplate { t = stripGutenberg(t) }
        if o.whitespace { t = normalizeWhitespace(t) }
        return t
    }

    /// Drops C0/C1 control characters except tab and newline, and byte-order marks; CR LF and lone
    /// CR become LF. Works on UTF-8 bytes (every character involved is one or two bytes, or the BOM).
    public static func removeControlCharacters(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 13 { out.append(10); i += (i + 1 < b.count && b[i + 1] == 10) ? 2 : 1; continue }
            if c < 32 && c != 9 && c != 10 || c == 0x7F { i += 1; continue }
            if c == 0xC2, i + 1 < b.count, b[i + 1] >= 0x80, b[i + 1] < 0xA0 { i += 2; continue }          // C1 controls
            if c == 0xEF, i + 2 < b.count, b[i + 1] == 0xBB, b[i + 2] == 0xBF { i += 3; continue }       // U+FEFF
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Trailing spaces off every line, runs of spaces and tabs inside lines to one space (leading
    /// indentation kept), at most two consecutive blank lines, no blank lines at either end.
    /// No-break and ideographic spaces count as spaces. Works on UTF-8 bytes.
    public static func normalizeWhitespace(_ s: String) -> String {
        let b = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var pendingNewlines = 0, lineStart = true, pendingSpace = false
        var indent: [UInt8] = []
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 10 {
                pendingNewlines += 1; lineStart = true; pendingSpace = false; indent.removeAll(keepingCapacity: true)
                i += 1
                continue
            }
            // Blank: space, tab, U+00A0 (C2 A0), U+3000 (E3 80 80).
            var blankWidth = 0
            if c == 32 || c == 9 { blankWidth = 1 }
            else if c == 0xC2, i + 1 < b.count, b[i + 1] == 0xA0 { blankWidth = 2 }
            else if c == 0xE3, i + 2 < b.count, b[i + 1] == 0x80, b[i + 2] == 0x80 { blankWidth = 3 }
            if blankWidth > 0 {
                if lineStart { if blankWidth == 1 { indent.append(c) } } else { pendingSpace = true }
                i += blankWidth
                continue
            }
            if lineStart {
                if !out.isEmpty { for _ in 0..<min(pendingNewlines, 3) { out.append(10) } }
                out += indent
                pendingNewlines = 0
                lineStart = false
            } else if pendingSpace {
                out.append(32)
            }
            pendingSpace = false
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Removes a Project Gutenberg header (up to its "*** START OF ..." line) and licence footer
    /// (from its "*** END OF ..." line, or "End of the Project Gutenberg EBook").
    public static func stripGutenberg(_ s: String) -> String {
        let marker = Array("utenberg".utf8), upper = Array("UTENBERG".utf8)
        var found = false
        s.utf8.withContiguousStorageIfAvailable { b in
            var i = 0
            while i + marker.count <= b.count && !found {
                if b[i] == marker[0] || b[i] == upper[0] {
                    var ok = true
                    for k in 1..<marker.count where b[i + k] != marker[k] && b[i + k] != upper[k] { ok = false; break }
                    found = ok
                }
                i += 1
            }
        }
        guard found else { return s }
        var t = Substring(s)
        for marker in ["*** START OF THIS PROJECT GUTENBERG", "*** START OF THE PROJECT GUTENBERG", "***START OF THE PROJECT GUTENBERG", "*** START OF"] {
            if let r = t.range(of: marker, options: .caseInsensitive) {
                let lineEnd = t[r.upperBound...].firstIndex(of: "\n") ?? t.endIndex
                t = t[lineEnd...]
                break
            }
        }
        for marker in ["*** END OF THIS PROJECT GUTENBERG", "*** END OF THE PROJECT GUTENBERG", "***END OF THE PROJECT GUTENBERG",
                       "End of the Project Gutenberg EBook", "End of Project Gutenberg's", "*** END OF"] {
            if let r = t.range(of: marker, options: .caseInsensitive) {
                let lineStart = t[..<r.lowerBound].lastIndex(of: "\n") ?? t.startIndex
                t = t[..<lineStart]
                break
            }
        }
        return String(t)
    }
}

/// HTML to plain text: scripts, styles and comments dropped, block elements become line breaks,
/// entities decoded.
public enum HTMLText {
    static let blockTags: Set<String> = ["p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
                                         "section", "article", "header", "footer", "blockquote", "pre", "hr", "title", "dd", "dt", "nav", "main"]
    static let skipTags: Set<String> = ["script", "style", "noscript", "template", "svg", "head"]

    public static func toText(_ html: String) -> String {
        var out = ""
        let s = Array(html.unicodeScalars)
        var i = 0
        var skipUntil: String?
        while i < s.count {
            let c = s[i]
            if c == "<" {
                if i + 3 < s.count, s[i + 1] == "!", s[i + 2] == "-", s[i + 3] == "-" {  // comment
                    var j = i + 4
                    while j + 2 < s.count, !(s[j] == "-" && s[j + 1] == "-" && s[j + 2] == ">") { j += 1 }
                    i = j + 3
                    continue
                }
                var j = i + 1
                while j < s.count, s[j] != ">" { j += 1 }
                let tagText = String(String.UnicodeScalarView(s[(i + 1)..<min(j, s.count)])).lowercased()
                i = j + 1
                let closing = tagText.hasPrefix("/")
                let name = String(tagText.drop { $0 == "/" }.prefix { $0.isLetter || $0.isNumber })
                if let skip = skipUntil {
                    if closing && name == skip { skipUntil = nil }
                    continue
                }
                if !closing && skipTags.contains(name) && !tagText.hasSuffix("/") { skipUntil = name; continue }
                if blockTags.contains(name) { out += "\n" }
                continue
            }
            if skipUntil != nil { i += 1; continue }
            if c == "&" {
                var j = i + 1
                while j < s.count, j - i < 12, s[j] != ";", s[j] != " ", s[j] != "<", s[j] != "&" { j += 1 }
                if j < s.count, s[j] == ";", let decoded = entity(String(String.UnicodeScalarView(s[(i + 1)..<j]))) {
                    out += decoded
                    i = j + 1
                    continue
                }
            }
            out.unicodeScalars.append(c)
            i += 1
        }
        return out
    }

    static let named: [String: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "mdash": "—",
                                          "ndash": "–", "hellip": "…", "copy": "©", "reg": "®", "lsquo": "‘", "rsquo": "’",
                                          "ldquo": "“", "rdquo": "”", "eacute": "é", "egrave": "è", "aacute": "á", "uuml": "ü",
                                          "ouml": "ö", "auml": "ä", "szlig": "ß", "ccedil": "ç", "trade": "™", "middot": "·"]

    static func entity(_ name: String) -> String? {
        if name.hasPrefix("#x") || name.hasPrefix("#X") {
            return UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String($0) }
        }
        if name.hasPrefix("#") { return UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init).map { String($0) } }
        return named[name]
    }
}
