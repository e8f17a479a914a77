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
        do { value = try JSONValue(parsing: schema) } catch let e as ForgeError { throw ForgeError("JSON schema: \(e.description)") }
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

    static let refused = ["patternProperties", "if", "then", "else", "not", "uniqueItems", "multipleOf", "minProperties",
                          "maxProperties", "propertyNames", "dependencies", "dependentRequired", "dependentSchemas", "contains",
                          "minContains", "maxContains", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef",
                          "$recursiveRef"]
    static let objectKeys = ["properties", "required", "additionalProperties"]
    static let arrayKeys = ["items", "prefixItems", "minItems", "maxItems", "additionalItems"]
    static let stringKeys = ["minLength", "maxLength", "pattern", "format"]
    static let numberKeys = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
    static let validation = ["type", "enum", "const", "anyOf", "oneOf", "allOf"] + objectKeys + arrayKeys + stringKeys + numberKeys

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
            guard case .array(let list) = all, list.count == 1 else { throw unsupported("allOf", path, "only one schema is") }
            if let k = Self.validation.first(where: { keys.contains($0) && $0 != "allOf" }) {
                throw unsupported("allOf", path, "beside '\(k)'")
            }
            return try schema(list[0], path + "/allOf/0", direct: direct)
        }
        for key in ["anyOf", "oneOf"] {
            guard let v = s[key] else { continue }
            guard case .array(let list) = v, !list.isEmpty else { throw error(path + "/" + key, "expected a non-empty array of schemas") }
            if let k = Self.validation.first(where: { keys.contains($0) && $0 != key }) { throw unsupported(key, path, "beside '\(k)'") }
            return .alt(try list.enumerated().map { try schema($1, "\(path)/\(key)/\($0)", direct: direct) })
        }
        let types = try typeNames(s, path)
        if let c = s["const"] {
            guard types.isEmpty || types.contains(where: { fits(c, $0) }) else { throw error(path, "'const' does not have the schema's type") }
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
            return try list.map { if case .string(let t) = $0 { return t } else { throw error(path + "/type", "expected type names") } }
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
        case (.null, "null"), (.bool, "boolean"), (.string, "string"), (.array, "array"), (.object, "object"), (.number, "number"):
            return true
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
        if direct.contains(ref) { throw unsupported("$ref", path, "'\(ref)' reaches itself without any text in between") }
        if let r = refRules[ref] { return .rule(r) }
        guard ref.hasPrefix("#") else { throw unsupported("$ref", path, "only references inside the schema (#/...) are") }
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
        let object = GrammarExpr.seq([.literal("{"), ws, .optional(.seq([member, .repetition(.seq([comma, member]), min: 0, max: nil), ws])),
                                      .literal("}")])
        let array = GrammarExpr.seq([.literal("["), ws, .optional(.seq([value, .repetition(.seq([comma, value]), min: 0, max: nil), ws])),
                                     .literal("]")])
        rules[r] = .alt([object, array, JSONTerminals.string, JSONTerminals.number, .literal("true"), .literal("false"), .literal("null")])
        return value
    }

    mutating func object(_ s: JSONValue, _ path: String) throws -> GrammarExpr {
        var declared: [(String, JSONValue)] = []
        switch s["properties"] {
        case nil: break
        case .object(let m)?: declared = m
        default: throw error(path + "/properties", "expected an object")
        }
        var required: [String] = []
        switch s["required"] {
        case nil: break
        case .array(let list)?:
            required = try list.map { if case .string(let n) = $0 { return n } else { throw error(path + "/required", "expected names") } }
        default: throw error(path + "/required", "expected an array of names")
        }
        // Extra keys: absent means none when properties are declared, any value otherwise.
        var extra: JSONValue? = s["properties"] == nil ? .bool(true) : nil
        if let a = s["additionalProperties"] { extra = a == .bool(false) ? nil : a }
        let extraValue = try extra.map { try schema($0, path + "/additionalProperties", direct: []) }
        let names = Set(declared.map(\.0))
        var ordered: [(name: String, schema: GrammarExpr?, path: String, required: Bool)] = []
        for (name, _) in declared where required.contains(name) { ordered.append((name, nil, "\(path)/properties/\(name)", true)) }
        for name in required where !names.contains(name) {
            guard let extraValue else {
                throw error(path + "/required", "'\(name)' is required but neither declared nor allowed as an extra property")
            }
            ordered.append((name, extraValue, path, true))
        }
        for (name, _) in declared where !required.contains(name) { ordered.append((name, nil, "\(path)/properties/\(name)", false)) }
        var members: [(expr: GrammarExpr, required: Bool)] = []
        for p in ordered {
            let value = try p.schema ?? schema(declared.first { $0.0 == p.name }!.1, p.path, direct: [])
            members.append((newRule(.seq([.literal(JSONValue.quoted(p.name)), .literal(":"), ws, value])), p.required))
        }
        let comma = GrammarExpr.seq([.literal(","), ws])
        let extraMember = extraValue.map { GrammarExpr.seq([extraKey(excluding: ordered.map(\.name)), .literal(":"), ws, $0]) }
        let extraTail = extraMember.map { GrammarExpr.repetition(.seq([comma, $0]), min: 0, max: nil) } ?? .empty
        // The members after the i-th: optional ones each maybe, then extra ones.
        func tail(_ i: Int) -> GrammarExpr {
            .seq(members[i...].map { $0.required ? .seq([comma, $0.expr]) : .optional(.seq([comma, $0.expr])) } + [extraTail])
        }
        // Required members come first, so with any the first member is always there.
        if members.first?.required == true { return .seq([.literal("{"), ws, members[0].expr, tail(1), ws, .literal("}")]) }
        // All optional: whichever comes first has no comma before it.
        var options = members.indices.map { GrammarExpr.seq([members[$0].expr, tail($0 + 1)]) }
        if let extraMember { options.append(.seq([extraMember, extraTail])) }
        if options.isEmpty { return .seq([.literal("{"), ws, .literal("}")]) }
        return .seq([.literal("{"), ws, .optional(.seq([.alt(options), ws])), .literal("}")])
    }

    /// A key that is none of `names`: characters without escapes, branching away from every name (a trie).
    func extraKey(excluding names: [String]) -> GrammarExpr {
        let rawChars: [ClosedRange<UInt32>] = [0x20...0x21, 0x23...0x5B, 0x5D...0x10FFFF]
        let rest = GrammarExpr.seq([.repetition(UTF8Ranges.expr(rawChars), min: 0, max: nil), JSONTerminals.quote])
        func branch(_ words: [[Unicode.Scalar]]) -> GrammarExpr {
            var options: [GrammarExpr] = []
            if !words.contains(where: \.isEmpty) { options.append(JSONTerminals.quote) }
            let firsts = Set(words.compactMap(\.first).map(\.value))
            let others = rawChars.flatMap { r in
                UTF8Ranges.complement(firsts.map { $0...$0 }).compactMap { c -> ClosedRange<UInt32>? in
                    let lo = max(r.lowerBound, c.lowerBound), hi = min(r.upperBound, c.upperBound)
                    return lo <= hi ? lo...hi : nil
                }
            }
            if !others.isEmpty { options.append(.seq([UTF8Ranges.expr(others), rest])) }
            for f in firsts.sorted() where rawChars.contains(where: { $0.contains(f) }) {
                let scalar = Unicode.Scalar(f)!
                options.append(.seq([.literal(String(scalar)), branch(words.filter { $0.first?.value == f }.map { Array($0.dropFirst()) })]))
            }
            return .alt(options)
        }
        return .seq([JSONTerminals.quote, branch(names.map { Array($0.unicodeScalars) })])
    }

    mutating func array(_ s: JSONValue, _ path: String) throws -> GrammarExpr {
        var prefix: [JSONValue] = []
        var items: JSONValue? = s["items"]
        if case .array(let list)? = s["prefixItems"] { prefix = list }
        if case .array(let list)? = items { (prefix, items) = (list, s["additionalItems"]) }  // draft 4-7 tuples
        else if let a = s["additionalItems"], a != .bool(true) { throw unsupported("additionalItems", path, "without a tuple 'items'") }
        let minItems = try count(s, "minItems", path) ?? 0
        var maxItems = try count(s, "maxItems", path)
        if items == .bool(false) { maxItems = min(maxItems ?? prefix.count, prefix.count) }
        if let maxItems, maxItems < minItems { throw error(path, "maxItems \(maxItems) is below minItems \(minItems)") }
        let prefixRules = try prefix.enumerated().map { newRule(try schema($1, "\(path)/prefixItems/\($0)", direct: [])) }
        let item = items == .bool(false) ? nil : newRule(try items.map { try schema($0, path + "/items", direct: []) } ?? anyValue())
        let comma = GrammarExpr.seq([.literal(","), ws])
        // Elements from the i-th on, given i before them.
        func from(_ i: Int) -> GrammarExpr {
            if let maxItems, i >= maxItems { return .empty }
            let sep = i == 0 ? GrammarExpr.empty : comma
            if i < prefixRules.count {
                let e = GrammarExpr.seq([sep, prefixRules[i], from(i + 1)])
                return i < minItems ? e : .optional(e)
            }
            guard let item else { return .empty }
            if i > 0 { return .repetition(.seq([comma, item]), min: max(0, minItems - i), max: maxItems.map { $0 - i }) }
            let rest = GrammarExpr.seq([item, .repetition(.seq([comma, item]), min: max(0, minItems - 1), max: maxItems.map { $0 - 1 })])
            return minItems > 0 ? rest : .optional(rest)
        }
        let body = from(0)
        if case .sequence(let parts) = body, parts.isEmpty { return .seq([.literal("["), ws, .literal("]")]) }
        return .seq([.literal("["), ws, minItems > 0 ? .seq([body, ws]) : .optional(.seq([body, ws])), .literal("]")])
    }

    func count(_ s: JSONValue, _ key: String, _ path: String) throws -> Int? {
        guard let v = s[key] else { return nil }
        guard let d = v.double, d >= 0, d == d.rounded(), d <= 100_000 else { throw error(path + "/" + key, "expected a count up to 100000") }
        return Int(d)
    }

    mutating func string(_ s: JSONValue, _ path: String) throws -> GrammarExpr {
        let minLength = try count(s, "minLength", path), maxLength = try count(s, "maxLength", path)
        var format: String?
        if case .string(let f)? = s["format"], JSONFormats.patterns[f] != nil { format = f }
        if case .string(let p)? = s["pattern"] {
            if minLength != nil || maxLength != nil { throw unsupported("pattern", path, "together with minLength/maxLength") }
            if format != nil { throw unsupported("pattern", path, "together with a format") }
            return .seq([JSONTerminals.quote, try RegexGrammar.compile(p, path: path + "/pattern"), JSONTerminals.quote])
        }
        if let format {
            if minLength != nil || maxLength != nil { throw unsupported("format", path, "together with minLength/maxLength") }
            return .seq([JSONTerminals.quote, try RegexGrammar.compile(JSONFormats.patterns[format]!, path: path + "/format"), JSONTerminals.quote])
        }
        guard minLength != nil || maxLength != nil else { return JSONTerminals.string }
        if let maxLength, maxLength < (minLength ?? 0) { throw error(path, "maxLength \(maxLength) is below minLength \(minLength ?? 0)") }
        if (maxLength ?? minLength ?? 0) > 10_000 { throw unsupported("maxLength", path, "lengths above 10000 are not") }
        return .seq([JSONTerminals.quote, .repetition(JSONTerminals.countedChar, min: minLength ?? 0, max: maxLength), JSONTerminals.quote])
    }

    func number(_ s: JSONValue, _ path: String, integer: Bool) throws -> GrammarExpr {
        func bound(_ key: String) throws -> Double? {
            guard let v = s[key] else { return nil }
            if case .bool = v { return nil }  // draft 4's exclusiveMinimum: true (read below)
            guard let d = v.double else { throw error(path + "/" + key, "expected a number") }
            return d
        }
        var lo = try bound("minimum"), hi = try bound("maximum")
        var exclusiveLo = s["exclusiveMinimum"] == .bool(true), exclusiveHi = s["exclusiveMaximum"] == .bool(true)
        if let x = try bound("exclusiveMinimum"), lo.map({ x >= $0 }) ?? true { (lo, exclusiveLo) = (x, true) }
        if let x = try bound("exclusiveMaximum"), hi.map({ x <= $0 }) ?? true { (hi, exclusiveHi) = (x, true) }
        if lo == nil && hi == nil { return integer ? JSONTerminals.integer : JSONTerminals.number }
        let expr: GrammarExpr?
        if integer {
            func clamp(_ x: Double) -> Int64 { Int64(max(min(x, 1e17), -1e17)) }
            expr = JSONTerminals.integers(lo.map { clamp(exclusiveLo ? $0.rounded(.down) + 1 : $0.rounded(.up)) },
                                          hi.map { clamp(exclusiveHi ? $0.rounded(.up) - 1 : $0.rounded(.down)) })
        } else {
            expr = JSONTerminals.numbers(min: lo, exclusiveMin: exclusiveLo, max: hi, exclusiveMax: exclusiveHi)
        }
        guard let expr else { throw error(path, "no \(integer ? "integer" : "number") lies within the bounds") }
        return expr
    }
}

/// String formats as patterns (the others are annotations: any string).
enum JSONFormats {
    static let date = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    static let time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
    static let patterns: [String: String] = [
        "date": "^" + date + "$",
        "time": "^" + time + "$",
        "date-time": "^" + date + "T" + time + "$",
        "uuid": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ]
}
