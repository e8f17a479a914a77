// JinjaRenderer: evaluates a parsed template. Scoping follows Jinja: a for loop has its own scope
// (assignments inside do not leak out, which is why templates use namespace()); filters, tests and
// methods cover what chat templates use, and an unknown one is an error naming it.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class JinjaRenderer {
    var scopes: [[String: JinjaValue]]
    var out = ""

    enum Flow: Error { case breakLoop, continueLoop }

    /// `now` fixes the moment `strftime_now` prints (nil: the clock).
    init(globals: [String: JinjaValue], now: Date? = nil) { scopes = [JinjaRenderer.builtins(now: now).merging(globals) { $1 }] }

    func lookup(_ name: String) -> JinjaValue {
        for s in scopes.reversed() { if let v = s[name] { return v } }
        return .undefined(name)
    }

    func assign(_ name: String, _ v: JinjaValue) { scopes[scopes.count - 1][name] = v }

    func render(_ nodes: [JinjaNode]) throws {
        for n in nodes {
            switch n {
            case .text(let t): out += t
            case .output(let e): out += try eval(e).str
            case .ifBlock(let branches, let elseBody):
                var done = false
                for (cond, body) in branches where try eval(cond).truthy {
                    try render(body)
                    done = true
                    break
                }
                if !done { try render(elseBody) }
            case .forBlock(let targets, let iterable, let filter, let body, let elseBody):
                try renderFor(targets, try eval(iterable), filter, body, elseBody)
            case .set(let target, let attribute, let e):
                let v = try eval(e)
                if let attribute {
                    guard case .namespace(let ns) = lookup(target) else {
                        throw ChatTemplateError("cannot assign attribute '\(attribute)' on \(lookup(target).typeName) '\(target)'")
                    }
                    ns.attrs[attribute] = v
                } else {
                    assign(target, v)
                }
            case .setBlock(let target, let body):
                let saved = out
                out = ""
                try render(body)
                let captured = out
                out = saved
                assign(target, .string(captured))
            case .breakLoop: throw Flow.breakLoop
            case .continueLoop: throw Flow.continueLoop
            }
        }
    }

    func iterate(_ v: JinjaValue) throws -> [JinjaValue] {
        switch v {
        case .list(let l): return l
        case .dict(let d): return d.keys.map(JinjaValue.string)
        case .string(let s): return s.map { .string(String($0)) }
        case .undefined: return []
        default: throw ChatTemplateError("'\(v.typeName)' object is not iterable")
        }
    }

    func renderFor(_ targets: [String], _ seq: JinjaValue, _ filter: JinjaExpr?, _ body: [JinjaNode], _ elseBody: [JinjaNode]) throws {
        var items = try iterate(seq)
        func bind(_ item: JinjaValue) throws {
            if targets.count == 1 { assign(targets[0], item); return }
            let parts = try iterate(item)
            guard parts.count == targets.count else { throw ChatTemplateError("cannot unpack \(parts.count) values into \(targets.count) names") }
            for (t, v) in zip(targets, parts) { assign(t, v) }
        }
        if let filter {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append([:])
                try bind(item)
                let ok = try eval(filter).truthy
                scopes.removeLast()
                if ok { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { try render(elseBody); return }
        scopes.append([:])
        defer { scopes.removeLast() }
        for (i, item) in items.enumerated() {
            try bind(item)
            let n = items.count
            assign("loop", .dict(JinjaDict([
                ("index", .int(i + 1)), ("index0", .int(i)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
                ("first", .bool(i == 0)), ("last", .bool(i == n - 1)), ("length", .int(n)),
                ("previtem", i > 0 ? items[i - 1] : .undefined("previtem")), ("nextitem", i < n - 1 ? items[i + 1] : .undefined("nextitem")),
            ])))
            do { try render(body) } catch Flow.continueLoop { continue } catch Flow.breakLoop { break }
        }
    }

    // MARK: - Expressions

    func eval(_ e: JinjaExpr) throws -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .list(try items.map(eval))
        case .dict(let pairs):
            var d = JinjaDict()
            for (k, v) in pairs { d[try eval(k).str] = try eval(v) }
            return .dict(d)
        case .attribute(let base, let name): return try attribute(try eval(base), name)
        case .index(let base, let idx): return try index(try eval(base), try eval(idx))
        case .slice(let base, let a, let b, let c):
            return try slice(try eval(base), try a.map(eval), try b.map(eval), try c.map(eval))
        case .call(let fn, let args, let kwargs):
            let f = try eval(fn)
            guard case .function(let function) = f else {
                if case .undefined(let n) = f { throw ChatTemplateError("'\(n)' is undefined") }
                throw ChatTemplateError("'\(f.typeName)' object is not callable")
            }
            return try function.call(try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) })
        case .filter(let base, let name, let args, let kwargs):
            return try applyFilter(name, try eval(base), try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) })
        case .test(let base, let name, let args, let negated):
            let r = try applyTest(name, try eval(base), try args.map(eval))
            return .bool(r != negated)
        case .unary(let op, let x):
            let v = try eval(x)
            switch op {
            case "not": return .bool(!v.truthy)
            case "-":
                if case .int(let i) = v { return .int(-i) }
                if case .double(let d) = v { return .double(-d) }
                throw ChatTemplateError("bad operand type for unary -: '\(v.typeName)'")
            default: throw ChatTemplateError("unknown operator \(op)")
            }
        case .binary(let op, let l, let r):
            if op == "and" { let a = try eval(l); return a.truthy ? try eval(r) : a }
            if op == "or" { let a = try eval(l); return a.truthy ? a : try eval(r) }
            return try binary(op, try eval(l), try eval(r))
        case .conditional(let cond, let a, let b):
            return try eval(cond).truthy ? try eval(a) : try b.map(eval) ?? .undefined("conditional")
        }
    }

    func number(_ v: JinjaValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "~": return .string(a.str + b.str)
        case "in", "not in":
            let r: Bool
            switch b {
            case .string(let s):
                guard case .string(let needle) = a else { throw ChatTemplateError("'in <string>' requires string as left operand") }
                r = needle.isEmpty || s.contains(needle)
            case .list(let l): r = l.contains(a)
            case .dict(let d): r = d[a.str] != nil && { if case .string = a { return true } else { return false } }()
            case .undefined: r = false
            default: throw ChatTemplateError("argument of type '\(b.typeName)' is not iterable")
            }
            return .bool(op == "in" ? r : !r)
        case "<", ">", "<=", ">=":
            let c: Bool
            if let x = number(a), let y = number(b) {
                c = op == "<" ? x < y : op == ">" ? x > y : op == "<=" ? x <= y : x >= y
            } else if case .string(let x) = a, case .string(let y) = b {
                let sx = Array(x.unicodeScalars.map(\.value)), sy = Array(y.unicodeScalars.map(\.value))
                c = op == "<" ? sx.lexicographicallyPrecedes(sy) : op == ">" ? sy.lexicographicallyPrecedes(sx)
                    : op == "<=" ? !sy.lexicographicallyPrecedes(sx) : !sx.lexicographicallyPrecedes(sy)
            } else {
                throw ChatTemplateError("'\(op)' not supported between '\(a.typeName)' and '\(b.typeName)'")
            }
            return .bool(c)
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.list(let x), .list(let y)): return .list(x + y)
            case (.int(let x), .int(let y)): return .int(x + y)
            default:
                if let x = number(a), let y = number(b) { return .double(x + y) }
                throw ChatTemplateError("unsupported operand types for +: '\(a.typeName)' and '\(b.typeName)'")
            }
        case "-", "*", "/", "//", "%", "**":
            if op == "*", case .string(let s) = a, case .int(let n) = b { return .string(String(repeating: s, count: max(0, n))) }
            if op == "%", case .string = a { throw ChatTemplateError("printf-style '%' formatting is not supported") }
            if case .int(let x) = a, case .int(let y) = b, op != "/" {
                switch op {
                case "-": return .int(x - y)
                case "*": return .int(x * y)
                case "//": guard y != 0 else { throw ChatTemplateError("integer division by zero") }; return .int(Int((Double(x) / Double(y)).rounded(.down)))
                case "%": guard y != 0 else { throw ChatTemplateError("integer modulo by zero") }; return .int(((x % y) + y) % y)
                default: return .int(Int(pow(Double(x), Double(y))))
                }
            }
            guard let x = number(a), let y = number(b) else {
                throw ChatTemplateError("unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'")
            }
            switch op {
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/": guard y != 0 else { throw ChatTemplateError("division by zero") }; return .double(x / y)
            case "//": return .double((x / y).rounded(.down))
            case "%": return .double(x - y * (x / y).rounded(.down))
            default: return .double(pow(x, y))
            }
        default:
            throw ChatTemplateError("unknown operator \(op)")
        }
    }

    func attribute(_ base: JinjaValue, _ name: String) throws -> JinjaValue {
        switch base {
        case .dict(let d):
            // Jinja's getattr tries Python attributes (the dict methods) before items.
            if ["items", "keys", "values", "get"].contains(name), let m = try? method(base, name) { return m }
            return d[name] ?? .undefined(name)
        case .namespace(let ns): return ns.attrs[name] ?? .undefined(name)
        case .undefined(let n): throw ChatTemplateError("'\(n)' is undefined (looking up .\(name))")
        default:
            return (try? method(base, name)) ?? .undefined(name)
        }
    }

    func index(_ base: JinjaValue, _ idx: JinjaValue) throws -> JinjaValue {
        switch (base, idx) {
        case (.list(let l), .int(let i)):
            let j = i < 0 ? l.count + i : i
            guard j >= 0 && j < l.count else { return .undefined("index \(i)") }
            return l[j]
        case (.string(let s), .int(let i)):
            let chars = Array(s)
            let j = i < 0 ? chars.count + i : i
            guard j >= 0 && j < chars.count else { return .undefined("index \(i)") }
            return .string(String(chars[j]))
        case (.dict(let d), _): return d[idx.str] ?? .undefined(idx.str)
        case (.namespace(let ns), .string(let k)): return ns.attrs[k] ?? .undefined(k)
        case (.undefined(let n), _): throw ChatTemplateError("'\(n)' is undefined (indexing with \(idx.repr))")
        default: return (try? attribute(base, idx.str)) ?? .undefined(idx.str)
        }
    }

    func slice(_ base: JinjaValue, _ a: JinjaValue?, _ b: JinjaValue?, _ c: JinjaValue?) throws -> JinjaValue {
        func elements() throws -> [JinjaValue] {
            if case .list(let l) = base { return l }
            if case .string(let s) = base { return s.map { .string(String($0)) } }
            throw ChatTemplateError("'\(base.typeName)' object is not subscriptable")
        }
        let items = try elements()
        let n = items.count
        func intOf(_ v: JinjaValue?) throws -> Int? {
            guard let v, v != .none else { return nil }
            guard case .int(let i) = v else { throw ChatTemplateError("slice indices must be integers") }
            return i
        }
        let step = try intOf(c) ?? 1
        guard step != 0 else { throw ChatTemplateError("slice step cannot be zero") }
        func clamp(_ i: Int?, _ dflt: Int) -> Int {
            guard var i else { return dflt }
            if i < 0 { i += n }
            return step > 0 ? min(max(i, 0), n) : min(max(i, -1), n - 1)
        }
        let start = clamp(try intOf(a), step > 0 ? 0 : n - 1), stop = clamp(try intOf(b), step > 0 ? n : -1)
        var out: [JinjaValue] = []
        var i = start
        while step > 0 ? i < stop : i > stop { out.append(items[i]); i += step }
        if case .string = base { return .string(out.map(\.str).joined()) }
        return .list(out)
    }

    // MARK: - Methods

    func method(_ base: JinjaValue, _ name: String) throws -> JinjaValue {
        func fn(_ body: @escaping ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue) -> JinjaValue {
            .function(JinjaFunction(name: name, call: body))
        }
        switch base {
        case .string(let s):
            switch name {
            case "strip", "lstrip", "rstrip":
                return fn { args, _ in
                    let chars = args.first.flatMap { if case .string(let c) = $0 { return Set(c) } else { return nil } }
                    return .string(JinjaRenderer.strip(s, chars: chars, left: name != "rstrip", right: name != "lstrip"))
                }
            case "upper": return fn { _, _ in .string(s.uppercased()) }
            case "lower": return fn { _, _ in .string(s.lowercased()) }
            case "title": return fn { _, _ in .string(s.capitalized) }
            case "capitalize": return fn { _, _ in .string(s.prefix(1).uppercased() + s.dropFirst().lowercased()) }
            case "startswith", "endswith":
                return fn { args, _ in
                    let cands: [JinjaValue] = { if case .list(let l)? = args.first { return l } else { return Array(args.prefix(1)) } }()
                    return .bool(cands.contains { name == "startswith" ? s.hasPrefix($0.str) : s.hasSuffix($0.str) })
                }
            case "split":
                return fn { args, _ in
                    if let sep = args.first, sep != .none {
                        return .list(s.components(separatedBy: sep.str).map(JinjaValue.string))
                    }
                    return .list(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
                }
            case "replace": return fn { args, _ in .string(s.replacingOccurrences(of: args[0].str, with: args[1].str)) }
            case "find": return fn { args, _ in .int(s.range(of: args[0].str).map { s.distance(from: s.startIndex, to: $0.lowerBound) } ?? -1) }
            case "count": return fn { args, _ in .int(s.components(separatedBy: args[0].str).count - 1) }
            case "join": return fn { args, _ in .string(try self.iterate(args[0]).map(\.str).joined(separator: s)) }
            default: throw ChatTemplateError("str has no method '\(name)'")
            }
        case .dict(let d):
            switch name {
            case "items": return fn { _, _ in .list(d.pairs.map { .list([.string($0.0), $0.1]) }) }
            case "keys": return fn { _, _ in .list(d.keys.map(JinjaValue.string)) }
            case "values": return fn { _, _ in .list(d.pairs.map(\.1)) }
            case "get": return fn { args, _ in d[args[0].str] ?? (args.count > 1 ? args[1] : .none) }
            default: throw ChatTemplateError("dict has no method '\(name)'")
            }
        default:
            throw ChatTemplateError("'\(base.typeName)' has no method '\(name)'")
        }
    }

    static func strip(_ s: String, chars: Set<Character>?, left: Bool, right: Bool) -> String {
        let isStrip: (Character) -> Bool = { c in chars.map { $0.contains(c) } ?? c.isWhitespace }
        var sub = Substring(s)
        if left { while let f = sub.first, isStrip(f) { sub.removeFirst() } }
        if right { while let l = sub.last, isStrip(l) { sub.removeLast() } }
        return String(sub)
    }

    // MARK: - Filters and tests

    func kwarg(_ kwargs: [(String, JinjaValue)], _ name: String) -> JinjaValue? { kwargs.first { $0.0 == name }?.1 }

    func applyFilter(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws -> JinjaValue {
        switch name {
        case "trim": return .string(JinjaRenderer.strip(v.str, chars: args.first.map { Set($0.str) }, left: true, right: true))
        case "upper": return .string(v.str.uppercased())
        case "lower": return .string(v.str.lowercased())
        case "capitalize": return .string(v.str.prefix(1).uppercased() + v.str.dropFirst().lowercased())
        case "title": return .string(v.str.capitalized)
        case "string": return .string(v.str)
        case "safe": return v
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.count)
            case .list(let l): return .int(l.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw ChatTemplateError("object of type '\(v.typeName)' has no len()")
            }
        case "list": return .list(try iterate(v))
        case "first": return try iterate(v).first ?? .undefined("first")
        case "last": return try iterate(v).last ?? .undefined("last")
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .list(try iterate(v).reversed())
        case "join":
            var items = try iterate(v)
            if let attr = kwarg(kwargs, "attribute") { items = try items.map { try attribute($0, attr.str) } }
            return .string(items.map(\.str).joined(separator: args.first?.str ?? kwarg(kwargs, "d")?.str ?? ""))
        case "default", "d":
            let fallback = args.first ?? kwarg(kwargs, "default_value") ?? .string("")
            let boolean = (args.count > 1 ? args[1] : kwarg(kwargs, "boolean"))?.truthy ?? false
            if !v.isDefined || (boolean && !v.truthy) { return fallback }
            return v
        case "items":
            if case .dict(let d) = v { return .list(d.pairs.map { .list([.string($0.0), $0.1]) }) }
            if case .undefined = v { return .list([]) }
            throw ChatTemplateError("items filter needs a mapping, got \(v.typeName)")
        case "tojson":
            let indent: Int? = { if case .int(let i)? = args.first ?? kwarg(kwargs, "indent") { return i } else { return nil } }()
            var itemSep: String?, keySep = ": "
            if case .list(let seps)? = kwarg(kwargs, "separators"), seps.count == 2 { itemSep = seps[0].str; keySep = seps[1].str }
            return .string(try v.json(indent: indent, ensureASCII: kwarg(kwargs, "ensure_ascii")?.truthy ?? false,
                                      sortKeys: kwarg(kwargs, "sort_keys")?.truthy ?? false, itemSep: itemSep, keySep: keySep))
        case "selectattr", "rejectattr":
            guard let attr = args.first?.str else { throw ChatTemplateError("\(name) needs an attribute") }
            let keep = name == "selectattr"
            return .list(try iterate(v).filter { item in
                let a = try attribute(item, attr)
                let r = args.count > 1 ? try applyTest(args[1].str, a, Array(args.dropFirst(2))) : a.truthy
                return r == keep
            })
        case "select", "reject":
            let keep = name == "select"
            return .list(try iterate(v).filter { item in
                let r = args.isEmpty ? item.truthy : try applyTest(args[0].str, item, Array(args.dropFirst()))
                return r == keep
            })
        case "map":
            if let attr = kwarg(kwargs, "attribute") {
                return .list(try iterate(v).map { x in
                    let a = try attribute(x, attr.str)
                    return a.isDefined ? a : (kwarg(kwargs, "default") ?? a)
                })
            }
            guard let f = args.first?.str else { throw ChatTemplateError("map needs a filter name or attribute=") }
            return .list(try iterate(v).map { try applyFilter(f, $0, Array(args.dropFirst()), []) })
        case "unique":
            var seen: [JinjaValue] = []
            for x in try iterate(v) where !seen.contains(x) { seen.append(x) }
            return .list(seen)
        case "replace": return .string(v.str.replacingOccurrences(of: args[0].str, with: args[1].str))
        case "int":
            if case .double(let d) = v { return .int(Int(d)) }
            return .int(Int(v.str.trimmingCharacters(in: .whitespaces)) ?? (args.first.flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? 0))
        case "float": return .double(number(v) ?? Double(v.str) ?? 0)
        case "abs":
            if case .int(let i) = v { return .int(abs(i)) }
            return .double(abs(number(v) ?? 0))
        case "indent":
            let width: Int = { if case .int(let i)? = args.first ?? kwarg(kwargs, "width") { return i } else { return 4 } }()
            let first = (args.count > 1 ? args[1] : kwarg(kwargs, "first"))?.truthy ?? false
            let pad = String(repeating: " ", count: width)
            let lines = v.str.components(separatedBy: "\n")
            return .string(lines.enumerated().map { i, l in (i == 0 && !first) || l.isEmpty ? l : pad + l }.joined(separator: "\n"))
        case "wordcount": return .int(v.str.split(whereSeparator: { $0.isWhitespace }).count)
        default:
            throw ChatTemplateError("unsupported filter '\(name)'")
        }
    }

    func applyTest(_ name: String, _ v: JinjaValue, _ args: [JinjaValue]) throws -> Bool {
        switch name {
        case "defined": return v.isDefined
        case "undefined": return !v.isDefined
        case "none": return v == .none && v.isDefined
        case "string": if case .string = v { return true }; return false
        case "number": switch v { case .int, .double: return true; default: return false }
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": return v == .bool(true)
        case "false": return v == .bool(false)
        case "mapping": if case .dict = v { return true }; return false
        case "sequence": switch v { case .list, .string, .dict: return true; default: return false }
        case "iterable": switch v { case .list, .string, .dict: return true; default: return false }
        case "callable": if case .function = v { return true }; return false
        case "odd": if case .int(let i) = v { return i % 2 != 0 }; return false
        case "even": if case .int(let i) = v { return i % 2 == 0 }; return false
        case "divisibleby": if case .int(let i) = v, case .int(let d)? = args.first, d != 0 { return i % d == 0 }; return false
        case "equalto", "eq", "==": return v == (args.first ?? .none)
        case "ne", "!=": return v != (args.first ?? .none)
        case "in": return try binary("in", v, args.first ?? .list([])).truthy
        case "lower": return v.str == v.str.lowercased()
        case "upper": return v.str == v.str.uppercased()
        default: throw ChatTemplateError("unsupported test '\(name)'")
        }
    }

    // MARK: - Globals

    static func builtins(now: Date?) -> [String: JinjaValue] {
        func fn(_ name: String, _ body: @escaping ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue) -> JinjaValue {
            .function(JinjaFunction(name: name, call: body))
        }
        return [
            "raise_exception": fn("raise_exception") { args, _ in throw ChatTemplateError(args.first?.str ?? "raise_exception") },
            "namespace": fn("namespace") { args, kwargs in
                var d = JinjaDict()
                if case .dict(let init0)? = args.first { for (k, v) in init0.pairs { d[k] = v } }
                for (k, v) in kwargs { d[k] = v }
                return .namespace(JinjaNamespace(d))
            },
            "dict": fn("dict") { _, kwargs in .dict(JinjaDict(kwargs)) },
            "range": fn("range") { args, _ in
                let ints = args.compactMap { if case .int(let i) = $0 { return i } else { return nil } }
                guard ints.count == args.count, !ints.isEmpty else { throw ChatTemplateError("range() takes integers") }
                let (a, b, s) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count > 2 ? ints[2] : 1)
                guard s != 0 else { throw ChatTemplateError("range() step must not be zero") }
                return .list(Array(stride(from: a, to: b, by: s)).map(JinjaValue.int))
            },
            "strftime_now": fn("strftime_now") { args, _ in
                var t = now.map { time_t($0.timeIntervalSince1970) } ?? time(nil)
                var tmv = tm()
                localtime_r(&t, &tmv)
                var buf = [CChar](repeating: 0, count: 256)
                let n = strftime(&buf, buf.count, args.first?.str ?? "%Y-%m-%d", &tmv)
                return .string(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            },
        ]
    }
}
