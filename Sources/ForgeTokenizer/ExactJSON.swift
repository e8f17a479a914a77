// ExactJSON: JSON objects whose keys must stay byte-exact. Swift strings compare by canonical equivalence,
// so a dictionary merges "e\u{301}" and "\u{E9}" into one key, and Foundation's JSONSerialization does the
// same when it reads; SentencePiece vocabularies (Gemma's) hold such pairs as distinct tokens. Here: the
// writer of a string → integer object given as ordered pairs, and a scanner that reads one as written.
import Foundation

enum ExactJSON {
    /// `{"key":value,...}` in the order given, no key merged with another.
    static func object(_ pairs: [(String, Int)]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (k, (key, value)) in pairs.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for b in key.utf8 {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
                case 0x0A: out += Array("\\n".utf8)
                case 0x0D: out += Array("\\r".utf8)
                case 0x09: out += Array("\\t".utf8)
                case ..<0x20: out += Array("\\u00".utf8) + [hexDigit(b >> 4), hexDigit(b & 15)]
                default: out.append(b)
                }
            }
            out += Array("\":\(value)".utf8)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }

    /// The members of the string → integer object at `path` (keys of nested objects from the top), keys exactly
    /// as written; nil when the path is not there or the object holds something else.
    static func members(_ data: Data, path: [String]) -> [(String, Int)]? {
        scan(data) { s in
            guard s.find(path), s.take("{") else { return nil }
            var out: [(String, Int)] = []
            while !s.take("}") {
                guard let key = s.string(), s.take(":"), let v = s.integer() else { return nil }
                out.append((key, v))
                _ = s.take(",")
            }
            return out
        }
    }

    /// The merges at `path`: an array of "a b" strings (split at the first space) or of [a, b] pairs.
    static func merges(_ data: Data, path: [String]) -> [(String, String)]? {
        scan(data) { s in
            guard s.find(path), s.take("[") else { return nil }
            var out: [(String, String)] = []
            while !s.take("]") {
                if s.take("[") {
                    guard let a = s.string(), s.take(","), let b = s.string(), s.take("]") else { return nil }
                    out.append((a, b))
                } else {
                    guard let m = s.string() else { return nil }
                    let parts = m.unicodeScalars.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else { return nil }
                    out.append((String(String.UnicodeScalarView(parts[0])), String(String.UnicodeScalarView(parts[1]))))
                }
                _ = s.take(",")
            }
            return out
        }
    }

    static func scan<R>(_ data: Data, _ body: (inout Scanner) -> R?) -> R? {
        data.withUnsafeBytes { raw in
            var s = Scanner(b: raw.bindMemory(to: UInt8.self))
            return body(&s)
        }
    }

    /// A recursive-descent reader over UTF-8 JSON that skips what it does not need.
    struct Scanner {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        mutating func space() { while i < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[i]) { i += 1 } }

        /// Steps over `c` (after whitespace) if it is next.
        mutating func take(_ c: Unicode.Scalar) -> Bool {
            space()
            guard i < b.count, b[i] == UInt8(ascii: c) else { return false }
            i += 1
            space()
            return true
        }

        /// Moves to the value at `path` (member names of nested objects).
        mutating func find(_ path: [String]) -> Bool {
            for name in path {
                guard take("{") else { return false }
                while true {
                    guard let key = string(), take(":") else { return false }
                    if key == name { break }
                    guard skip() else { return false }
                    guard take(",") else { return false }
                }
            }
            return true
        }

        mutating func integer() -> Int? {
            space()
            let start = i
            while i < b.count, b[i] == UInt8(ascii: "-") || (0x30...0x39).contains(b[i]) { i += 1 }
            return Int(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
        }

        /// A string value, escapes decoded (surrogate pairs joined).
        mutating func string() -> String? {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
            i += 1
            var out: [UInt8] = []
            while i < b.count {
                let c = b[i]
                i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                guard c == UInt8(ascii: "\\") else { out.append(c); continue }
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard var v = hex4() else { return nil }
                    let lowFollows = i + 1 < b.count && b[i] == UInt8(ascii: "\\") && b[i + 1] == UInt8(ascii: "u")
                    if (0xD800..<0xDC00).contains(v) && lowFollows {
                        i += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out += Array(String(Unicode.Scalar(v) ?? "\u{FFFD}").utf8)
                default: out.append(e)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard i + 4 <= b.count else { return nil }
            let digits = String(decoding: UnsafeBufferPointer(rebasing: b[i..<(i + 4)]), as: UTF8.self)
            guard let v = UInt32(digits, radix: 16) else { return nil }
            i += 4
            return v
        }

        /// Steps over one value of any kind.
        mutating func skip() -> Bool {
            guard i < b.count else { return false }
            switch b[i] {
            case UInt8(ascii: "\""): return string() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = b[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                i += 1
                while true {
                    space()
                    guard i < b.count else { return false }
                    if b[i] == close { i += 1; return true }
                    if b[i] == UInt8(ascii: ",") || b[i] == UInt8(ascii: ":") { i += 1; continue }
                    guard skip() else { return false }
                }
            default:
                while i < b.count, !",}] \t\r\n".utf8.contains(b[i]) { i += 1 }
                return true
            }
        }
    }
}
