// LenientJSON: JSON read into ordered values (JinjaValue, the form chat templates see), strictly or as a small model
// writes it. Lenient reading repairs what has one obvious repair and names each one: single-quoted strings, unquoted
// keys, Python's True/False/None, trailing or missing commas, a raw newline inside a string, and, at the end of the
// text, an unterminated string or missing closing braces and brackets. Anything else is an error naming the byte.
import Foundation

/// A JSON reader that keeps key order and, when lenient, repairs a model's near-JSON.
public struct LenientJSON {
    /// Why a text is not (repairable) JSON.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// One value read from the start of a text (after whitespace).
    public struct Reading {
        public var value: JinjaValue
        /// What was repaired, in words ("single-quoted string", "missing }"); empty for valid JSON.
        public var repairs: [String]
        /// Bytes of UTF-8 consumed, including leading whitespace; what follows is not part of the value.
        public var length: Int
    }

    let bytes: [UInt8]
    let lenient: Bool
    var p = 0
    var repairs: [String] = []
    var depth = 0

    init(_ bytes: [UInt8], lenient: Bool) { (self.bytes, self.lenient) = (bytes, lenient) }

    /// The whole text as one value; text after it is an error when strict, a repair ("text after the value") when lenient.
    public static func parse(_ text: String, lenient: Bool = false) throws(Failure) -> (value: JinjaValue, repairs: [String]) {
        var r = try read(text, lenient: lenient)
        let rest = Array(text.utf8)[r.length...]
        if rest.contains(where: { !isSpace($0) }) {
            if !lenient { throw Failure(description: "unexpected text after the JSON value at byte \(r.length)") }
            r.repairs.append("text after the value ignored")
        }
        return (r.value, r.repairs)
    }

    /// The first value of `text`, and how many bytes it took.
    public static func read(_ text: String, lenient: Bool = false) throws(Failure) -> Reading {
        var reader = LenientJSON(Array(text.utf8), lenient: lenient)
        let value = try reader.value()
        return Reading(value: value, repairs: reader.repairs, length: reader.p)
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    mutating func skipSpace() {
        while p < bytes.count {
            if Self.isSpace(bytes[p]) { p += 1; continue }
            // `// comment` to the end of the line (lenient only).
            if lenient, bytes[p] == UInt8(ascii: "/"), p + 1 < bytes.count, bytes[p + 1] == UInt8(ascii: "/") {
                while p < bytes.count && bytes[p] != 0x0A { p += 1 }
                repair("comment")
                continue
            }
            return
        }
    }

    mutating func repair(_ what: String) { if !repairs.contains(what) { repairs.append(what) } }

    func fail(_ what: String) -> Failure { Failure(description: "\(what) at byte \(p)") }

    mutating func value() throws(Failure) -> JinjaValue {
        skipSpace()
        guard p < bytes.count else { throw fail("expected a value, found the end of the text") }
        depth += 1
        defer { depth -= 1 }
        guard depth <= 256 else { throw fail("values nested more than 256 deep") }
        switch bytes[p] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "'") where lenient:
            repair("single-quoted string")
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default:
            let word = identifier()
            switch word {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null": return .none
            case "True" where lenient, "False" where lenient, "None" where lenient:
                repair("Python literal")
                return word == "None" ? .none : .bool(word == "True")
            default:
                p -= word.utf8.count
                throw fail(word.isEmpty ? "unexpected character '\(Character(Unicode.Scalar(bytes[p])))'" : "unexpected word '\(word)'")
            }
        }
    }

    /// Letters, digits and underscores from here.
    mutating func identifier() -> String {
        let start = p
        while p < bytes.count, bytes[p] == UInt8(ascii: "_") || bytes[p] == UInt8(ascii: "$")
                || (bytes[p] | 0x20 >= UInt8(ascii: "a") && bytes[p] | 0x20 <= UInt8(ascii: "z"))
                || (p > start && bytes[p] >= UInt8(ascii: "0") && bytes[p] <= UInt8(ascii: "9")) {
            p += 1
        }
        return String(decoding: bytes[start..<p], as: UTF8.self)
    }

    /// After a member or element: true when the container continues, false when `close` (or the end, repaired) ends it.
    mutating func separator(_ close: UInt8) throws(Failure) -> Bool {
        skipSpace()
        guard p < bytes.count else {
            guard lenient else { throw fail("expected '\(Character(Unicode.Scalar(close)))', found the end of the text") }
            repair("missing \(Character(Unicode.Scalar(close)))")
            return false
        }
        if bytes[p] == close { p += 1; return false }
        if bytes[p] == UInt8(ascii: ",") {
            p += 1
            skipSpace()
            if p < bytes.count && bytes[p] == close {
                guard lenient else { throw fail("trailing comma") }
                repair("trailing comma")
                p += 1
                return false
            }
            if p == bytes.count && lenient { repair("missing \(Character(Unicode.Scalar(close)))"); return false }
            return true
        }
        // A value or key starts where a comma belongs: `{"a": 1 "b": 2}`.
        if lenient, [UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "{"), UInt8(ascii: "[")].contains(bytes[p]) {
            repair("missing comma")
            return true
        }
        throw fail("expected ',' or '\(Character(Unicode.Scalar(close)))'")
    }

    mutating func object() throws(Failure) -> JinjaValue {
        p += 1
        var dict = JinjaDict()
        skipSpace()
        if p < bytes.count && bytes[p] == UInt8(ascii: "}") { p += 1; return .dict(dict) }
        if p == bytes.count && lenient { repair("missing }"); return .dict(dict) }
        repeat {
            skipSpace()
            guard p < bytes.count else { throw fail("expected a key, found the end of the text") }
            let key: String
            switch bytes[p] {
            case UInt8(ascii: "\""): key = try string()
            case UInt8(ascii: "'") where lenient: repair("single-quoted string"); key = try string()
            default:
                let word = lenient ? identifier() : ""
                guard !word.isEmpty else { throw fail("expected a key in double quotes") }
                repair("unquoted key")
                key = word
            }
            skipSpace()
            // Cut off after a key (or its colon): the key is dropped.
            if lenient && p == bytes.count { repair("missing }"); repair("key without a value dropped"); break }
            guard p < bytes.count, bytes[p] == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            p += 1
            skipSpace()
            if lenient && p == bytes.count { repair("missing }"); repair("key without a value dropped"); break }
            dict[key] = try value()
        } while try separator(UInt8(ascii: "}"))
        return .dict(dict)
    }

    mutating func array() throws(Failure) -> JinjaValue {
        p += 1
        var items: [JinjaValue] = []
        skipSpace()
        if p < bytes.count && bytes[p] == UInt8(ascii: "]") { p += 1; return .list(items) }
        if p == bytes.count && lenient { repair("missing ]"); return .list(items) }
        repeat { items.append(try value()) } while try separator(UInt8(ascii: "]"))
        return .list(items)
    }

    mutating func string() throws(Failure) -> String {
        let quote = bytes[p]
        p += 1
        var out: [UInt8] = []
        while p < bytes.count {
            let b = bytes[p]
            p += 1
            if b == quote { return String(decoding: out, as: UTF8.self) }
            if b < 0x20 {
                guard lenient else { p -= 1; throw fail("control character in a string") }
                repair("raw control character in a string")
                out.append(b)
                continue
            }
            guard b == UInt8(ascii: "\\") else { out.append(b); continue }
            guard p < bytes.count else { break }
            let e = bytes[p]
            p += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "'") where lenient: out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), p + 1 < bytes.count, bytes[p] == UInt8(ascii: "\\"), bytes[p + 1] == UInt8(ascii: "u") {
                    p += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) { scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) }
                }
                out += Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
            default:
                p -= 1
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
        guard lenient else { throw fail("unterminated string") }
        repair("unterminated string")
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws(Failure) -> UInt32 {
        guard p + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[p..<p + 4], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        p += 4
        return v
    }

    mutating func number() throws(Failure) -> JinjaValue {
        let start = p
        if bytes[p] == UInt8(ascii: "-") { p += 1 }
        var isInteger = true
        while p < bytes.count {
            let b = bytes[p]
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { p += 1; continue }
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { isInteger = false; p += 1; continue }
            if (b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && (bytes[p - 1] | 0x20) == UInt8(ascii: "e") { p += 1; continue }
            break
        }
        let text = String(decoding: bytes[start..<p], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text), d.isFinite, text.last.map({ $0.isNumber }) == true else {
            p = start
            throw fail("invalid number '\(text)'")
        }
        return .double(d)
    }
}

extension JinjaValue {
    /// Compact JSON as Python's json.dumps writes it (`{"a": 1, "b": [true, null]}`), key order kept.
    public var jsonText: String { (try? json(indent: nil)) ?? "null" }

    /// A JSON value as Foundation's JSONSerialization gives it (for APIs that take `Any`); dictionaries lose key order.
    public var foundationValue: Any {
        switch self {
        case .undefined, .none, .namespace, .function: return NSNull()
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .list(let l): return l.map(\.foundationValue)
        case .dict(let d): return Dictionary(d.pairs.map { ($0.0, $0.1.foundationValue) }, uniquingKeysWith: { a, _ in a })
        }
    }
}
