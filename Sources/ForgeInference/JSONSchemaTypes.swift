// JSONSchemaTypes: the grammar of each JSON type under its schema keywords: objects (member order, optional and
// extra members), arrays (tuples, counts), strings (lengths, patterns, formats) and numbers (bounds). See
// JSONSchemaGrammar for what is supported and the choices made.
import ForgeCore

extension SchemaCompiler {
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
            required = try list.map {
                if case .string(let n) = $0 { return n } else { throw error(path + "/required", "expected names") }
            }
        default: throw error(path + "/required", "expected an array of names")
        }
        // Extra keys: absent means none when properties are declared, any value otherwise.
        var extra: JSONValue? = s["properties"] == nil ? .bool(true) : nil
        if let a = s["additionalProperties"] { extra = a == .bool(false) ? nil : a }
        let extraValue = try extra.map { try schema($0, path + "/additionalProperties", direct: []) }
        let names = Set(declared.map(\.0))
        var ordered: [(name: String, schema: GrammarExpr?, path: String, required: Bool)] = []
        for (name, _) in declared where required.contains(name) {
            ordered.append((name, nil, "\(path)/properties/\(name)", true))
        }
        for name in required where !names.contains(name) {
            guard let extraValue else {
                throw error(path + "/required", "'\(name)' is required but neither declared nor allowed as an extra key")
            }
            ordered.append((name, extraValue, path, true))
        }
        for (name, _) in declared where !required.contains(name) {
            ordered.append((name, nil, "\(path)/properties/\(name)", false))
        }
        var members: [(expr: GrammarExpr, required: Bool)] = []
        for p in ordered {
            let value = try p.schema ?? schema(declared.first { $0.0 == p.name }!.1, p.path, direct: [])
            members.append((newRule(.seq([.literal(JSONValue.quoted(p.name)), .literal(":"), ws, value])), p.required))
        }
        let comma = GrammarExpr.seq([.literal(","), ws])
        let extraKey = extraKey(excluding: ordered.map(\.name))
        let extraMember = extraValue.map { GrammarExpr.seq([extraKey, .literal(":"), ws, $0]) }
        let extraTail = extraMember.map { GrammarExpr.repetition(.seq([comma, $0]), min: 0, max: nil) } ?? .empty
        // The members after the i-th: optional ones each maybe, then extra ones.
        func tail(_ i: Int) -> GrammarExpr {
            .seq(members[i...].map { m in
                m.required ? .seq([comma, m.expr]) : .optional(.seq([comma, m.expr]))
            } + [extraTail])
        }
        // Required members come first, so with any the first member is always there.
        if members.first?.required == true {
            return .seq([.literal("{"), ws, members[0].expr, tail(1), ws, .literal("}")])
        }
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
                let rests = words.filter { $0.first?.value == f }.map { Array($0.dropFirst()) }
                options.append(.seq([.literal(String(scalar)), branch(rests)]))
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
        else if let a = s["additionalItems"], a != .bool(true) {
            throw unsupported("additionalItems", path, "without a tuple 'items'")
        }
        let minItems = try count(s, "minItems", path) ?? 0
        var maxItems = try count(s, "maxItems", path)
        if items == .bool(false) { maxItems = min(maxItems ?? prefix.count, prefix.count) }
        if let maxItems, maxItems < minItems { throw error(path, "maxItems \(maxItems) is below minItems \(minItems)") }
        let prefixRules = try prefix.enumerated().map { newRule(try schema($1, "\(path)/prefixItems/\($0)", direct: [])) }
        let item = items == .bool(false) ? nil
            : newRule(try items.map { try schema($0, path + "/items", direct: []) } ?? anyValue())
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
            // Items after the i-th (i > 0) each follow a comma; the first one does not.
            let more = { (n: Int) in
                GrammarExpr.repetition(.seq([comma, item]), min: max(0, minItems - n), max: maxItems.map { $0 - n })
            }
            if i > 0 { return more(i) }
            return minItems > 0 ? .seq([item, more(1)]) : .optional(.seq([item, more(1)]))
        }
        let body = from(0)
        if case .sequence(let parts) = body, parts.isEmpty { return .seq([.literal("["), ws, .literal("]")]) }
        return .seq([.literal("["), ws, minItems > 0 ? .seq([body, ws]) : .optional(.seq([body, ws])), .literal("]")])
    }

    func count(_ s: JSONValue, _ key: String, _ path: String) throws -> Int? {
        guard let v = s[key] else { return nil }
        guard let d = v.double, d >= 0, d == d.rounded(), d <= 100_000 else {
            throw error(path + "/" + key, "expected a count up to 100000")
        }
        return Int(d)
    }

    mutating func string(_ s: JSONValue, _ path: String) throws -> GrammarExpr {
        let minLength = try count(s, "minLength", path), maxLength = try count(s, "maxLength", path)
        var format: String?
        if case .string(let f)? = s["format"], JSONFormats.patterns[f] != nil { format = f }
        let quote = JSONTerminals.quote, lengths = minLength != nil || maxLength != nil
        if case .string(let p)? = s["pattern"] {
            if lengths { throw unsupported("pattern", path, "together with minLength/maxLength") }
            if format != nil { throw unsupported("pattern", path, "together with a format") }
            return .seq([quote, try RegexGrammar.compile(p, path: path + "/pattern"), quote])
        }
        if let format {
            if lengths { throw unsupported("format", path, "together with minLength/maxLength") }
            return .seq([quote, try RegexGrammar.compile(JSONFormats.patterns[format]!, path: path + "/format"), quote])
        }
        guard lengths else { return JSONTerminals.string }
        if let maxLength, maxLength < (minLength ?? 0) {
            throw error(path, "maxLength \(maxLength) is below minLength \(minLength ?? 0)")
        }
        if (maxLength ?? minLength ?? 0) > 10_000 { throw unsupported("maxLength", path, "lengths above 10000 are not") }
        return .seq([quote, .repetition(JSONTerminals.countedChar, min: minLength ?? 0, max: maxLength), quote])
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
