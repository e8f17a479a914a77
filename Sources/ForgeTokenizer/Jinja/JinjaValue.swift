// JinjaValue: the values a chat template computes with, following Python's semantics where Jinja
// does (truthiness, equality, str() and repr(), json.dumps).
import Foundation

/// An error while parsing or rendering a template: an unsupported construct, or raise_exception().
public struct ChatTemplateError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// An insertion-ordered string-keyed dictionary (Python dicts keep insertion order).
public struct JinjaDict: Equatable {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init(_ pairs: [(String, JinjaValue)] = []) { for (k, v) in pairs { self[k] = v } }

    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if storage[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            storage[key] = newValue
        }
    }
    public var pairs: [(String, JinjaValue)] { keys.map { ($0, storage[$0]!) } }
    public var count: Int { keys.count }
}

/// A mutable attribute bag made by `namespace()`.
public final class JinjaNamespace: Equatable {
    var attrs: JinjaDict
    init(_ attrs: JinjaDict) { self.attrs = attrs }
    public static func == (a: JinjaNamespace, b: JinjaNamespace) -> Bool { a === b }
}

/// A callable: a global function or a bound method.
public struct JinjaFunction: Equatable {
    let name: String
    let call: ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue
    public static func == (a: JinjaFunction, b: JinjaFunction) -> Bool { a.name == b.name }
}

public indirect enum JinjaValue: Equatable {
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JinjaValue])
    case dict(JinjaDict)
    case namespace(JinjaNamespace)
    case function(JinjaFunction)

    /// Converts JSON-like Swift values (String, Int, Double, Bool, arrays, [(String, Any)] or
    /// [String: Any] dictionaries, nil/NSNull) into template values.
    public static func from(_ any: Any?) -> JinjaValue {
        switch any {
        case nil, is NSNull: return .none
        case let v as JinjaValue: return v
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(i)
        case let d as Double: return .double(d)
        case let s as String: return .string(s)
        case let n as NSNumber: return .double(n.doubleValue)
        case let a as [Any?]: return .list(a.map(from))
        case let pairs as [(String, Any)]: return .dict(JinjaDict(pairs.map { ($0.0, from($0.1)) }))
        case let d as [String: Any]: return .dict(JinjaDict(d.keys.sorted().map { ($0, from(d[$0])) }))
        default: return .string("\(any!)")
        }
    }

    public var isDefined: Bool { if case .undefined = self { return false } else { return true } }

    /// Python truthiness.
    public var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .function: return true
        }
    }

    /// Python str().
    public var str: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr
        }
    }

    /// Python repr().
    public var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return JinjaValue.pythonFloat(d)
        case .string(let s):
            let q = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = q
            for u in s.unicodeScalars {
                switch u {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if String(u) == q { out += "\\" + q } else if u.value < 0x20 || u.value == 0x7F { out += String(format: "\\x%02x", u.value) } else { out.unicodeScalars.append(u) }
                }
            }
            return out + q
        case .list(let l): return "[" + l.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let d): return "{" + d.pairs.map { JinjaValue.string($0.0).repr + ": " + $0.1.repr }.joined(separator: ", ") + "}"
        case .namespace(let n): return "<Namespace " + JinjaValue.dict(n.attrs).repr + ">"
        case .function(let f): return "<function \(f.name)>"
        }
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded() && abs(d) < 1e16 { return String(format: "%.1f", d) }
        var s = "\(d)"
        if s.contains("e") {  // Swift 1e-05 → Python 1e-05
            let parts = s.split(separator: "e")
            var exp = String(parts[1])
            let sign = exp.hasPrefix("-") ? "-" : "+"
            exp = exp.trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
            if exp.count < 2 { exp = "0" + exp }
            s = parts[0] + "e" + sign + exp
        }
        return s
    }

    /// Python json.dumps (ensure_ascii false by default, as transformers' tojson).
    func json(indent: Int?, level: Int = 0, ensureASCII: Bool = false, sortKeys: Bool = false,
              itemSep: String? = nil, keySep: String = ": ") throws -> String {
        let sep = itemSep ?? (indent == nil ? ", " : ",")
        func pad(_ l: Int) -> String { indent.map { "\n" + String(repeating: " ", count: $0 * l) } ?? "" }
        switch self {
        case .undefined: throw ChatTemplateError("Object of type Undefined is not JSON serializable")
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
            return JinjaValue.pythonFloat(d)
        case .string(let s): return JinjaValue.jsonString(s, ensureASCII: ensureASCII)
        case .list(let l):
            if l.isEmpty { return "[]" }
            return "[" + (try l.map { pad(level + 1) + (try $0.json(indent: indent, level: level + 1, ensureASCII: ensureASCII, sortKeys: sortKeys, itemSep: itemSep, keySep: keySep)) }).joined(separator: sep) + pad(level) + "]"
        case .dict(let d):
            if d.count == 0 { return "{}" }
            let pairs = sortKeys ? d.pairs.sorted { $0.0 < $1.0 } : d.pairs
            return "{" + (try pairs.map { pad(level + 1) + JinjaValue.jsonString($0.0, ensureASCII: ensureASCII) + keySep
                + (try $0.1.json(indent: indent, level: level + 1, ensureASCII: ensureASCII, sortKeys: sortKeys, itemSep: itemSep, keySep: keySep)) }).joined(separator: sep) + pad(level) + "}"
        case .namespace, .function: throw ChatTemplateError("object is not JSON serializable")
        }
    }

    static func jsonString(_ s: String, ensureASCII: Bool) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 || (ensureASCII && u.value > 0x7E) {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += String(format: "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                    } else {
                        out += String(format: "\\u%04x", u.value)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// Python ==.
    public static func == (a: JinjaValue, b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.bool(let x), .int(let y)), (.int(let y), .bool(let x)): return (x ? 1 : 0) == y
        case (.string(let x), .string(let y)): return x == y
        case (.list(let x), .list(let y)): return x == y
        case (.dict(let x), .dict(let y)): return x == y
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.function(let x), .function(let y)): return x == y
        default: return false
        }
    }

    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .function: return "function"
        }
    }
}

