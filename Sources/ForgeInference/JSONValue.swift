// JSONValue: a JSON document as written: object members in their order (a schema's property order matters to
// generation, and Foundation's dictionaries lose it), numbers with their text (so a `const` is written back exactly).
import ForgeCore

/// A parsed JSON value that keeps object member order and number text.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number as written (`1.50`, `-3e2`).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// The number's value, if this is a number.
    public var double: Double? { if case .number(let s) = self { return Double(s) } else { return nil } }

    /// Compact JSON text (object members in order, strings escaped as JSON requires).
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let s): return s
        case .string(let s): return Self.quoted(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let m): return "{" + m.map { Self.quoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += "\\u00" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// Parses JSON text; errors give the byte offset.
    public init(parsing text: String) throws {
        var p = Parser(bytes: Array(text.utf8))
        p.skipSpace()
        self = try p.value(depth: 0)
        p.skipSpace()
        guard p.at == p.bytes.count else { throw p.error("unexpected text after the JSON value") }
    }

    struct Parser {
        let bytes: [UInt8]
        var at = 0

        func error(_ what: String) -> ForgeError { ForgeError("invalid JSON at byte \(at): \(what)") }

        mutating func skipSpace() { while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 } }

        mutating func take(_ literal: String) -> Bool {
            let l = Array(literal.utf8)
            guard bytes.count - at >= l.count, Array(bytes[at..<(at + l.count)]) == l else { return false }
            at += l.count
            return true
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 512 else { throw error("nested too deeply") }
            guard at < bytes.count else { throw error("unexpected end") }
            switch bytes[at] {
            case UInt8(ascii: "{"):
                at += 1
                var members: [(String, JSONValue)] = []
                skipSpace()
                if take("}") { return .object(members) }
                repeat {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    guard take(":") else { throw error("expected ':'") }
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                } while take(",")
                guard take("}") else { throw error("expected ',' or '}'") }
                return .object(members)
            case UInt8(ascii: "["):
                at += 1
                var items: [JSONValue] = []
                skipSpace()
                if take("]") { return .array(items) }
                repeat {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                } while take(",")
                guard take("]") else { throw error("expected ',' or ']'") }
                return .array(items)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): if take("true") { return .bool(true) }
            case UInt8(ascii: "f"): if take("false") { return .bool(false) }
            case UInt8(ascii: "n"): if take("null") { return .null }
            default:
                let start = at
                while at < bytes.count, "+-.0123456789eE".utf8.contains(bytes[at]) { at += 1 }
                let s = String(decoding: bytes[start..<at], as: UTF8.self)
                if at > start, Double(s) != nil { return .number(s) }
                at = start
            }
            throw error("expected a value")
        }

        mutating func string() throws -> String {
            guard take("\"") else { throw error("expected a string") }
            var out: [UInt8] = []
            while at < bytes.count {
                let b = bytes[at]
                at += 1
                switch b {
                case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard at < bytes.count else { break }
                    let e = bytes[at]
                    at += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800..<0xDC00).contains(code), take("\\u") {
                            let low = try hex4()
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        out += Array(String(Unicode.Scalar(code) ?? "\u{FFFD}").utf8)
                    default: out.append(e)
                    }
                case ..<0x20: throw error("a control character inside a string")
                default: out.append(b)
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard at + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[at..<(at + 4)], as: UTF8.self), radix: 16) else {
                throw error("bad \\u escape")
            }
            at += 4
            return v
        }
    }
}
