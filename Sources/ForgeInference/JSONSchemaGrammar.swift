// JSONSchemaGrammar: a JSON schema as the grammar of the JSON texts that satisfy it (llama.cpp's
// json-schema-to-grammar, Outlines' and XGrammar's compilers do the same).
//
// Supported: type (one or a list), object (properties, required, additionalProperties false / true / a schema),
// array (items, prefixItems, minItems, maxItems), string (enum, const, minLength, maxLength, pattern — see
// RegexGrammar — and format date, time, date-time, uuid; other formats are annotations, as the spec's default),
// integer (minimum, maximum, exclusive bounds: enforced exactly), number (bounds enforced on a safe subset, see
// `JSONTerminals.numbers`), boolean, null, enum, const, anyOf, oneOf (as anyOf: exact when the options are
// disjoint), allOf of one schema, $ref to any "#/..." pointer ($defs, definitions, recursion included), true/false
// schemas. Choices made:
// - Properties come in a fixed order: the required ones in declaration order, then required names that only appear
//   in `required`, then the optional ones in declaration order, then extra keys (when allowed).
// - Without `additionalProperties`, an object with `properties` allows no other keys (as llama.cpp and Outlines);
//   an object without `properties` (`{"type": "object"}`) is any JSON object.
// - Extra keys are written without escapes and are never one of the declared names.
// - Whitespace: none, or (by default) at most one space or a newline and 20 spaces at each place JSON allows it
//   inside objects and arrays, so a model cannot loop on spaces; none before or after the top value.
// Refused with an error naming the keyword and its place (a JSON pointer): patternProperties, if/then/else, not,
// uniqueItems, multipleOf, minProperties, maxProperties, propertyNames, dependencies, contains, unevaluated*,
// $dynamicRef, allOf of several schemas, pattern together with a length or format, and a $ref that reaches itself
// without reading a byte.
import ForgeCore
import Foundation

/// Compiles JSON schemas to grammars of the JSON texts they accept.
public enum JSONSchemaGrammar {
    /// Whitespace inside objects and arrays: nil for none, else at most a space or a newline and this many spaces.
    public static let defaultIndent: Int? = 20

    /// The grammar of the JSON texts `schema` (JSON text) accepts.
    public static func compile(_ schema: String, maxIndent: Int? = defaultIndent) throws -> Grammar {
        let value: JSONValue
        do { value = try JSONValue(parsing: schema) }
        catch let e as ForgeError { throw ForgeError("JSON schema: \(e.description)") }
        return try compile(value, maxIndent: maxIndent)
    }

    /// The grammar of the JSON texts `schema` accepts.
    public static func compile(_ schema: JSONValue, maxIndent: Int? = defaultIndent) throws -> Grammar {
        var c = SchemaCompiler(root: schema, ws: JSONTerminals.whitespace(maxIndent: maxIndent))
        let top = try c.schema(schema, "#", direct: [])
        c.rules[0] = top
        let grammar = Grammar(rules: c.rules)
        guard !grammar.isEmpty else { throw ForgeError("JSON schema: no JSON value satisfies it") }
        return grammar
    }

    /// Any JSON object (OpenAI's response_format `json_object`).
    public static func anyObject(maxIndent: Int? = defaultIndent) -> Grammar {
        try! compile(.object([("type", .string("object"))]), maxIndent: maxIndent)
    }
}

struct SchemaCompiler {
    let root: JSONValue
    let ws: GrammarExpr
    var rules: [GrammarExpr] = [.empty]
    var refRules: [String: Int] = [:]
    var anyValueRule: Int?

    static let refused = ["patternProperties", "if", "then", "else", "not", "uniqueItems", "multipleOf",
                          "minProperties", "maxProperties", "propertyNames", "dependencies", "dependentRequired",
                          "dependentSchemas", "contains", "minContains", "maxContains", "unevaluatedProperties",
                          "unevaluatedItems", "$dynamicRef", "$recursiveRef"]
    static let objectKeys = ["properties", "required", "additionalProperties"]
    static let arrayKeys = ["items", "prefixItems", "minItems", "maxItems", "additionalItems"]
    static let stringKeys = ["minLength", "maxLength", "pattern", "format"]
    static let numberKeys = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
    static let validation = ["type", "enum", "const", "anyOf", "oneOf", "allOf"] + objectKeys + arrayKeys + stringKeys
        + numberKeys

    func error(_ path: String, _ what: String) -> ForgeError { ForgeError("JSON schema: \(what) at \(path)") }
    func unsupported(_ keyword: String, _ path: String, _ why: String = "") -> ForgeError {
        ForgeError("JSON schema: '\(keyword)' at \(path) is not supported" + (why.isEmpty ? "" : " (\(why))"))
    }

    mutating func newRule(_ expr: GrammarExpr) -> GrammarExpr {
        rules.append(expr)
        return .rule(rules.count - 1)
    }

    /// `direct`: the $refs entered since the last byte was read (a cycle among them would never end).
    mutating func schema(_ s: JSONValue, _ path: String, direct: Set<String>) throws -> GrammarExpr {
        let members: [(String, JSONValue)]
        switch s {
        case .bool(true): return anyValue()
        case .bool(false): throw error(path, "the schema false admits no value")
        case .object(let m): members = m
        default: throw error(path, "a schema must be an object or a boolean")
        }
        let keys = Set(members.map(\.0))
        if let k = Self.refused.first(where: keys.contains) { throw unsupported(k, path) }
        if case .string(let ref)? = s["$ref"] {
            if let k = Self.validation.first(where: keys.contains) { throw unsupported("$ref", path, "beside '\(k)'") }
            return try reference(ref, path, direct: direct)
        } else if s["$ref"] != nil {
            throw error(path + "/$ref", "expected a string")
        }
        if let all = s["allOf"] {
            guard case .array(let list) = all, list.count == 1 else {
                throw unsupported("allOf", path, "only one schema is")
            }
            if let k = Self.validation.first(where: { keys.contains($0) && $0 != "allOf" }) {
                throw unsupported("allOf", path, "beside '\(k)'")
            }
            return try schema(list[0], path + "/allOf/0", direct: direct)
        }
        for key in ["anyOf", "oneOf"] {
            guard let v = s[key] else { continue }
            guard case .array(let list) = v, !list.isEmpty else {
                throw error(path + "/" + key, "expected a non-empty array of schemas")
            }
            if let k = Self.validation.first(where: { keys.contains($0) && $0 != key }) {
                throw unsupported(key, path, "beside '\(k)'")
            }
            return .alt(try list.enumerated().map { try schema($1, "\(path)/\(key)/\($0)", direct: direct) })
        }
        let types = try typeNames(s, path)
        if let c = s["const"] {
            guard types.isEmpty || types.contains(where: { fits(c, $0) }) else {
                throw error(path, "'const' does not have the schema's type")
            }
            return .literal(c.text)
        }
        if let e = s["enum"] {
            guard case .array(let values) = e else { throw error(path + "/enum", "expected an array") }
            let kept = values.filter { v in types.isEmpty || types.contains { fits(v, $0) } }
            guard !kept.isEmpty else { throw error(path + "/enum", "no value (of the schema's type)") }
            return .alt(kept.map { .literal($0.text) })
        }
        let inferred = types.isEmpty ? inferredType(keys) : types
        guard !inferred.isEmpty else { return anyValue() }
        return .alt(try inferred.map { try typed($0, s, path) })
    }

    func typeNames(_ s: JSONValue, _ path: String) throws -> [String] {
        switch s["type"] {
        case nil: return []
        case .string(let t)?: return [t]
        case .array(let list)? where !list.isEmpty:
            return try list.map {
                if case .string(let t) = $0 { return t } else { throw error(path + "/type", "expected type names") }
            }
        default: throw error(path + "/type", "expected a type name or a non-empty array of them")
        }
    }

    func inferredType(_ keys: Set<String>) -> [String] {
        if Self.objectKeys.contains(where: keys.contains) { return ["object"] }
        if Self.arrayKeys.contains(where: keys.contains) { return ["array"] }
        if Self.stringKeys.contains(where: keys.contains) { return ["string"] }
        if Self.numberKeys.contains(where: keys.contains) { return ["number"] }
        return []
    }

    /// Whether a value has a JSON schema type.
    func fits(_ v: JSONValue, _ type: String) -> Bool {
        switch (v, type) {
        case (.null, "null"), (.bool, "boolean"), (.string, "string"), (.array, "array"), (.object, "object"),
             (.number, "number"): return true
        case (.number(let n), "integer"): return Double(n).map { $0 == $0.rounded() } ?? false
        default: return false
        }
    }

    mutating func typed(_ type: String, _ s: JSONValue, _ path: String) throws -> GrammarExpr {
        switch type {
        case "object": return try object(s, path)
        case "array": return try array(s, path)
        case "string": return try string(s, path)
        case "integer", "number": return try number(s, path, integer: type == "integer")
        case "boolean": return .alt([.literal("true"), .literal("false")])
        case "null": return .literal("null")
        default: throw error(path + "/type", "unknown type '\(type)'")
        }
    }

    // MARK: - References

    mutating func reference(_ ref: String, _ path: String, direct: Set<String>) throws -> GrammarExpr {
        if direct.contains(ref) {
            throw unsupported("$ref", path, "'\(ref)' reaches itself without any text in between")
        }
        if let r = refRules[ref] { return .rule(r) }
        guard ref.hasPrefix("#") else {
            throw unsupported("$ref", path, "only references inside the schema (#/...) are")
        }
        var target = root
        for raw in ref.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let token = String(raw).replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                .removingPercentEncoding ?? String(raw)
            switch target {
            case .object: target = target[token] ?? .null
            case .array(let a): target = Int(token).flatMap { a.indices.contains($0) ? a[$0] : nil } ?? .null
            default: target = .null
            }
            if target == .null { throw error(path + "/$ref", "'\(ref)' does not point into the schema") }
        }
        rules.append(.empty)
        let r = rules.count - 1
        refRules[ref] = r
        rules[r] = try schema(target, ref, direct: direct.union([ref]))
        return .rule(r)
    }

    // MARK: - Values

    /// Any JSON value (a recursive rule, made once).
    mutating func anyValue() -> GrammarExpr {
        if let r = anyValueRule { return .rule(r) }
        rules.append(.empty)
        let r = rules.count - 1
        anyValueRule = r
        let value = GrammarExpr.rule(r), comma = GrammarExpr.seq([.literal(","), ws])
        let member = GrammarExpr.seq([JSONTerminals.string, .literal(":"), ws, value])
        func list(_ open: String, _ element: GrammarExpr, _ close: String) -> GrammarExpr {
            let elements = GrammarExpr.seq([element, .repetition(.seq([comma, element]), min: 0, max: nil), ws])
            return .seq([.literal(open), ws, .optional(elements), .literal(close)])
        }
        rules[r] = .alt([list("{", member, "}"), list("[", value, "]"), JSONTerminals.string, JSONTerminals.number,
                         .literal("true"), .literal("false"), .literal("null")])
        return value
    }
}
