// JinjaParser: the subset of Jinja2 that chat templates use, parsed into a small tree.
//
// Lexing follows the environment that Hugging Face transformers renders chat templates with:
// trim_blocks (the newline after a block tag is dropped) and lstrip_blocks (spaces before a block
// tag on its line are dropped), plus the "-" whitespace controls. Statements: if/elif/else, for
// (with tuple targets, an inline if filter and else), set (names, namespace attributes, blocks),
// break/continue, comments. Anything else (macro, call, include, raw, ...) is an error naming it.

indirect enum JinjaExpr {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case index(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, String, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, String, [JinjaExpr], negated: Bool)
    case unary(String, JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case conditional(JinjaExpr, JinjaExpr, JinjaExpr?)
}

indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr)
    case ifBlock([(JinjaExpr, [JinjaNode])], [JinjaNode])
    case forBlock(targets: [String], iterable: JinjaExpr, filter: JinjaExpr?, body: [JinjaNode], elseBody: [JinjaNode])
    case set(target: String, attribute: String?, JinjaExpr)
    case setBlock(target: String, [JinjaNode])
    case breakLoop, continueLoop
}

/// Lexical pieces of a template.
enum JinjaToken: Equatable {
    case text(String)
    case outputStart, outputEnd, blockStart, blockEnd
    case name(String), string(String), int(Int), double(Double), op(String)
}

struct JinjaLexer {
    let src: [Character]
    var i = 0
    var line = 1
    var tokens: [(JinjaToken, Int)] = []

    init(_ source: String) { src = Array(source) }

    func error(_ m: String) -> ChatTemplateError { ChatTemplateError("template line \(line): \(m)") }

    mutating func tokenize() throws -> [(JinjaToken, Int)] {
        var text = ""
        var stripNextLeading = false
        var trimNextNewline = false
        func flushText() {
            if !text.isEmpty { tokens.append((.text(text), line)) }
            text = ""
        }
        while i < src.count {
            let c = src[i]
            if c == "{", i + 1 < src.count, ["{", "%", "#"].contains(src[i + 1]) {
                let kind = src[i + 1]
                var j = i + 2
                let minus = j < src.count && src[j] == "-"
                let plus = j < src.count && src[j] == "+"
                if minus || plus { j += 1 }
                // Whitespace before the tag.
                if minus {
                    while let last = text.last, last.isWhitespace { text.removeLast() }
                } else if kind != "{" && !plus {
                    // lstrip_blocks: spaces and tabs between the start of the source line and a block or
                    // comment tag are dropped.
                    var k = i - 1
                    while k >= 0, src[k] == " " || src[k] == "\t" { k -= 1 }
                    if k < 0 || src[k] == "\n" || src[k] == "\r\n" {
                        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
                    }
                }
                flushText()
                i = j
                if kind == "#" {
                    guard let end = find("#}") else { throw error("unterminated comment") }
                    let trimmed = end > 0 && src[end - 1] == "-"
                    line += src[i..<end].filter { $0 == "\n" }.count
                    i = end + 2
                    stripNextLeading = trimmed
                    trimNextNewline = !trimmed
                    continue
                }
                tokens.append((kind == "{" ? .outputStart : .blockStart, line))
                let closer: String = kind == "{" ? "}}" : "%}"
                let endMinus = try lexInside(closer: closer)
                tokens.append((kind == "{" ? .outputEnd : .blockEnd, line))
                stripNextLeading = endMinus
                trimNextNewline = kind == "%" && !endMinus
                continue
            }
            if stripNextLeading {
                if c.isWhitespace { if c == "\n" { line += 1 }; i += 1; continue }
                stripNextLeading = false
            }
            if trimNextNewline {
                trimNextNewline = false
                if c == "\n" { line += 1; i += 1; continue }
                if c == "\r\n" { line += 1; i += 1; continue }
            }
            if c == "\n" { line += 1 }
            text.append(c)
            i += 1
        }
        flushText()
        return tokens
    }

    func find(_ s: String) -> Int? {
        let p = Array(s)
        var k = i
        while k + p.count <= src.count {
            if Array(src[k..<(k + p.count)]) == p { return k }
            k += 1
        }
        return nil
    }

    /// Lexes tokens up to `closer`; returns whether it was preceded by "-".
    mutating func lexInside(closer: String) throws -> Bool {
        let cl = Array(closer)
        while i < src.count {
            let c = src[i]
            if c == "-", i + 2 < src.count, src[i + 1] == cl[0], src[i + 2] == cl[1] { i += 3; return true }
            if c == cl[0], i + 1 < src.count, src[i + 1] == cl[1] { i += 2; return false }
            if c.isWhitespace { if c == "\n" { line += 1 }; i += 1; continue }
            if c.isLetter || c == "_" {
                var s = ""
                while i < src.count, src[i].isLetter || src[i].isNumber || src[i] == "_" { s.append(src[i]); i += 1 }
                tokens.append((.name(s), line))
                continue
            }
            if c.isNumber {
                var s = ""
                while i < src.count, src[i].isNumber || src[i] == "." || src[i] == "_" {
                    if src[i] == ".", !(i + 1 < src.count && src[i + 1].isNumber) { break }
                    if src[i] != "_" { s.append(src[i]) }
                    i += 1
                }
                if s.contains(".") { tokens.append((.double(Double(s)!), line)) } else { tokens.append((.int(Int(s)!), line)) }
                continue
            }
            if c == "'" || c == "\"" {
                tokens.append((.string(try lexString(quote: c)), line))
                continue
            }
            for op in ["**", "//", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|", "~", "+", "-", "*", "/", "%", "<", ">", "="] {
                let o = Array(op)
                if i + o.count <= src.count, Array(src[i..<(i + o.count)]) == o {
                    tokens.append((.op(op), line))
                    i += o.count
                    break
                }
                if op == "=" { throw error("unexpected character '\(c)'") }
            }
        }
        throw error("unterminated tag (missing '\(closer)')")
    }

    /// A quoted string with Python escapes (\n \t \\ \' \" \xHH \uHHHH \UHHHHHHHH).
    mutating func lexString(quote: Character) throws -> String {
        i += 1
        var s = ""
        while i < src.count {
            let c = src[i]
            if c == quote { i += 1; return s }
            if c == "\\", i + 1 < src.count {
                let e = src[i + 1]
                i += 2
                switch e {
                case "n": s += "\n"
                case "t": s += "\t"
                case "r": s += "\r"
                case "0": s += "\0"
                case "\\": s += "\\"
                case "'": s += "'"
                case "\"": s += "\""
                case "\n": break
                case "x", "u", "U":
                    let n = e == "x" ? 2 : e == "u" ? 4 : 8
                    guard i + n <= src.count, let v = UInt32(String(src[i..<(i + n)]), radix: 16), let u = Unicode.Scalar(v) else {
                        throw error("bad escape in string")
                    }
                    s.unicodeScalars.append(u)
                    i += n
                default: s += "\\" + String(e)
                }
                continue
            }
            if c == "\n" { line += 1 }
            s.append(c)
            i += 1
        }
        throw error("unterminated string")
    }
}

struct JinjaParser {
    var tokens: [(JinjaToken, Int)]
    var p = 0

    init(_ source: String) throws {
        var lexer = JinjaLexer(source)
        tokens = try lexer.tokenize()
    }

    var current: JinjaToken? { p < tokens.count ? tokens[p].0 : nil }
    func error(_ m: String) -> ChatTemplateError {
        ChatTemplateError("template line \(p < tokens.count ? tokens[p].1 : tokens.last?.1 ?? 0): \(m)")
    }

    mutating func expect(_ t: JinjaToken) throws {
        guard current == t else { throw error("expected \(t), found \(current.map { "\($0)" } ?? "end")") }
        p += 1
    }
    mutating func accept(_ t: JinjaToken) -> Bool {
        if current == t { p += 1; return true }
        return false
    }
    mutating func name() throws -> String {
        guard case .name(let n)? = current else { throw error("expected a name") }
        p += 1
        return n
    }

    /// Parses the whole template.
    mutating func parseTemplate() throws -> [JinjaNode] {
        let (nodes, end) = try parseNodes(until: [])
        if let end { throw error("unexpected {% \(end) %}") }
        return nodes
    }

    /// Nodes until a block tag whose keyword is in `until` (returned, tag not consumed past the keyword).
    mutating func parseNodes(until: Set<String>) throws -> ([JinjaNode], String?) {
        var nodes: [JinjaNode] = []
        while let t = current {
            switch t {
            case .text(let s): nodes.append(.text(s)); p += 1
            case .outputStart:
                p += 1
                let e = try parseExpression()
                try expect(.outputEnd)
                nodes.append(.output(e))
            case .blockStart:
                guard case .name(let kw)? = p + 1 < tokens.count ? tokens[p + 1].0 : nil else { throw error("empty block tag") }
                if until.contains(kw) { p += 2; return (nodes, kw) }
                p += 2
                nodes.append(try parseStatement(kw))
            default:
                throw error("unexpected \(t)")
            }
        }
        if !until.isEmpty { throw error("missing {% \(until.sorted().joined(separator: " / ")) %}") }
        return (nodes, nil)
    }

    mutating func parseStatement(_ kw: String) throws -> JinjaNode {
        switch kw {
        case "if":
            var branches: [(JinjaExpr, [JinjaNode])] = []
            var cond = try parseExpression()
            try expect(.blockEnd)
            while true {
                let (body, end) = try parseNodes(until: ["elif", "else", "endif"])
                branches.append((cond, body))
                if end == "elif" { cond = try parseExpression(); try expect(.blockEnd); continue }
                if end == "else" {
                    try expect(.blockEnd)
                    let (elseBody, _) = try parseNodes(until: ["endif"])
                    try expect(.blockEnd)
                    return .ifBlock(branches, elseBody)
                }
                try expect(.blockEnd)
                return .ifBlock(branches, [])
            }
        case "for":
            var targets = [try name()]
            while accept(.op(",")) { targets.append(try name()) }
            guard accept(.name("in")) else { throw error("expected 'in' in for") }
            let iterable = try parseExpression(allowConditional: false)
            var filter: JinjaExpr?
            if accept(.name("if")) { filter = try parseExpression() }
            if accept(.name("recursive")) { throw error("recursive for loops are not supported") }
            try expect(.blockEnd)
            let (body, end) = try parseNodes(until: ["else", "endfor"])
            var elseBody: [JinjaNode] = []
            try expect(.blockEnd)
            if end == "else" {
                (elseBody, _) = try parseNodes(until: ["endfor"])
                try expect(.blockEnd)
            }
            return .forBlock(targets: targets, iterable: iterable, filter: filter, body: body, elseBody: elseBody)
        case "set":
            let target = try name()
            var attribute: String?
            if accept(.op(".")) { attribute = try name() }
            if accept(.op("=")) {
                let e = try parseExpression()
                try expect(.blockEnd)
                return .set(target: target, attribute: attribute, e)
            }
            guard attribute == nil else { throw error("block set of an attribute") }
            try expect(.blockEnd)
            let (body, _) = try parseNodes(until: ["endset"])
            try expect(.blockEnd)
            return .setBlock(target: target, body)
        case "break": try expect(.blockEnd); return .breakLoop
        case "continue": try expect(.blockEnd); return .continueLoop
        default:
            throw error("unsupported tag '\(kw)'")
        }
    }

    // MARK: - Expressions (Jinja precedence)

    mutating func parseExpression(allowConditional: Bool = true) throws -> JinjaExpr {
        let e = try parseOr()
        if allowConditional, accept(.name("if")) {
            let cond = try parseOr()
            var other: JinjaExpr?
            if accept(.name("else")) { other = try parseExpression() }
            return .conditional(cond, e, other)
        }
        return e
    }

    mutating func parseOr() throws -> JinjaExpr {
        var e = try parseAnd()
        while accept(.name("or")) { e = .binary("or", e, try parseAnd()) }
        return e
    }
    mutating func parseAnd() throws -> JinjaExpr {
        var e = try parseNot()
        while accept(.name("and")) { e = .binary("and", e, try parseNot()) }
        return e
    }
    mutating func parseNot() throws -> JinjaExpr {
        if accept(.name("not")) { return .unary("not", try parseNot()) }
        return try parseCompare()
    }
    mutating func parseCompare() throws -> JinjaExpr {
        var e = try parseMath1()
        while true {
            if case .op(let o)? = current, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                p += 1
                e = .binary(o, e, try parseMath1())
            } else if accept(.name("in")) {
                e = .binary("in", e, try parseMath1())
            } else if current == .name("not"), p + 1 < tokens.count, tokens[p + 1].0 == .name("in") {
                p += 2
                e = .binary("not in", e, try parseMath1())
            } else {
                return e
            }
        }
    }
    mutating func parseMath1() throws -> JinjaExpr {
        var e = try parseConcat()
        while case .op(let o)? = current, o == "+" || o == "-" { p += 1; e = .binary(o, e, try parseConcat()) }
        return e
    }
    mutating func parseConcat() throws -> JinjaExpr {
        var e = try parseMath2()
        while accept(.op("~")) { e = .binary("~", e, try parseMath2()) }
        return e
    }
    mutating func parseMath2() throws -> JinjaExpr {
        var e = try parsePow()
        while case .op(let o)? = current, ["*", "/", "//", "%"].contains(o) { p += 1; e = .binary(o, e, try parsePow()) }
        return e
    }
    mutating func parsePow() throws -> JinjaExpr {
        var e = try parseUnary()
        while accept(.op("**")) { e = .binary("**", e, try parseUnary()) }
        return e
    }
    mutating func parseUnary() throws -> JinjaExpr {
        if accept(.op("-")) { return try parseFilters(.unary("-", try parseUnary())) }
        if accept(.op("+")) { return try parseUnary() }
        return try parseFilters(try parsePostfix(try parsePrimary()))
    }

    mutating func parsePrimary() throws -> JinjaExpr {
        guard let t = current else { throw error("unexpected end of expression") }
        p += 1
        switch t {
        case .string(var s):
            while case .string(let more)? = current { s += more; p += 1 }  // adjacent literals concatenate
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try parseExpression()
            if accept(.op(",")) {
                var items = [e]
                while current != .op(")") { items.append(try parseExpression()); if !accept(.op(",")) { break } }
                try expect(.op(")"))
                return .list(items)
            }
            try expect(.op(")"))
            return e
        case .op("["):
            var items: [JinjaExpr] = []
            while current != .op("]") { items.append(try parseExpression()); if !accept(.op(",")) { break } }
            try expect(.op("]"))
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while current != .op("}") {
                let k = try parseExpression()
                try expect(.op(":"))
                pairs.append((k, try parseExpression()))
                if !accept(.op(",")) { break }
            }
            try expect(.op("}"))
            return .dict(pairs)
        default:
            p -= 1
            throw error("unexpected \(t) in expression")
        }
    }

    mutating func parsePostfix(_ base: JinjaExpr) throws -> JinjaExpr {
        var e = base
        while true {
            if accept(.op(".")) {
                if case .int(let i)? = current { p += 1; e = .index(e, .literal(.int(i))); continue }
                e = .attribute(e, try name())
            } else if accept(.op("[")) {
                var start: JinjaExpr?, stop: JinjaExpr?, step: JinjaExpr?
                if current != .op(":") { start = try parseExpression() }
                if accept(.op(":")) {
                    if current != .op("]") && current != .op(":") { stop = try parseExpression() }
                    if accept(.op(":")), current != .op("]") { step = try parseExpression() }
                    try expect(.op("]"))
                    e = .slice(e, start, stop, step)
                } else {
                    try expect(.op("]"))
                    e = .index(e, start!)
                }
            } else if current == .op("(") {
                p += 1
                let (args, kwargs) = try parseArguments()
                e = .call(e, args, kwargs)
            } else {
                return e
            }
        }
    }

    mutating func parseArguments() throws -> ([JinjaExpr], [(String, JinjaExpr)]) {
        var args: [JinjaExpr] = [], kwargs: [(String, JinjaExpr)] = []
        while current != .op(")") {
            if case .name(let n)? = current, p + 1 < tokens.count, tokens[p + 1].0 == .op("=") {
                p += 2
                kwargs.append((n, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
            if !accept(.op(",")) { break }
        }
        try expect(.op(")"))
        return (args, kwargs)
    }

    mutating func parseFilters(_ base: JinjaExpr) throws -> JinjaExpr {
        var e = base
        while true {
            if accept(.op("|")) {
                let f = try name()
                var args: [JinjaExpr] = [], kwargs: [(String, JinjaExpr)] = []
                if accept(.op("(")) { (args, kwargs) = try parseArguments() }
                e = .filter(e, f, args, kwargs)
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                let t = try name()
                var args: [JinjaExpr] = []
                if accept(.op("(")) {
                    args = try parseArguments().0
                } else if let c = current, startsPrimary(c) {
                    args = [try parsePostfix(try parsePrimary())]
                }
                e = .test(e, t, args, negated: negated)
            } else {
                return e
            }
        }
    }

    func startsPrimary(_ t: JinjaToken) -> Bool {
        switch t {
        case .string, .int, .double: return true
        case .name(let n): return !["and", "or", "else", "if", "not", "in", "is"].contains(n)
        default: return false
        }
    }
}
