// RegexGrammar: a JSON schema `pattern` (ECMA-262 / Python `re` subset) as the grammar of the JSON string contents
// it matches. Supported: literals, `.`, classes `[a-z]` / `[^...]`, `\d \w \s` and their negations, escapes
// (`\n \t \xHH \uHHHH`, escaped punctuation), groups `(...)`, `(?:...)`, `(?P<name>...)`, alternation, quantifiers
// `* + ? {n} {n,} {n,m}` (lazy forms too: only the language matters), `^` at the start and `$` at the end. Refused, by
// name: backreferences, lookaround, word boundaries, Unicode property classes, inline flags. Like `re.search`, an
// unanchored side may have any text before or after. Every character comes out as JSON writes it (`"` as `\"`, a
// newline as `\n`); `\D \W \S` and classes holding them exclude only ASCII, so they never produce a character that
// Python's Unicode-aware `\d \w \s` would count as one.
import ForgeCore

struct RegexGrammar {
    let pattern: [Unicode.Scalar]
    let path: String
    var at = 0

    /// The contents (between the quotes) of the JSON strings that `pattern` matches.
    static func compile(_ pattern: String, path: String) throws -> GrammarExpr {
        var r = RegexGrammar(pattern: Array(pattern.unicodeScalars), path: path)
        return try r.top()
    }

    func error(_ what: String) -> ForgeError {
        let text = JSONValue.quoted(String(String.UnicodeScalarView(pattern)))
        return ForgeError("JSON schema: pattern \(text) at \(path): \(what)")
    }

    var peek: Unicode.Scalar? { at < pattern.count ? pattern[at] : nil }
    mutating func take(_ c: Unicode.Scalar) -> Bool { if peek == c { at += 1; return true } else { return false } }

    static let any: [ClosedRange<UInt32>] = [0...0x10FFFF]
    static let digits: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    static let space: [ClosedRange<UInt32>] = [0x09...0x0D, 0x20...0x20]

    /// The ASCII part of a set.
    static func ascii(_ set: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        set.compactMap { r in r.lowerBound <= 0x7F ? r.lowerBound...min(r.upperBound, 0x7F) : nil }
    }

    /// The top level: branches, each anchored or open at either end.
    mutating func top() throws -> GrammarExpr {
        let anything = GrammarExpr.repetition(JSONTerminals.chars(Self.any), min: 0, max: nil)
        var branches: [GrammarExpr] = []
        repeat {
            let anchoredStart = take("^")
            var body = try sequence()
            let anchoredEnd = take("$")
            if !anchoredStart { body = .seq([anything, body]) }
            if !anchoredEnd { body = .seq([body, anything]) }
            branches.append(body)
        } while take("|")
        if let c = peek {
            throw error(c == ")" ? "unbalanced ')'" : "'\(c)' is not supported here (anchors only at the ends)")
        }
        return .alt(branches)
    }

    mutating func alternation() throws -> GrammarExpr {
        var options = [try sequence()]
        while take("|") { options.append(try sequence()) }
        return .alt(options)
    }

    mutating func sequence() throws -> GrammarExpr {
        var parts: [GrammarExpr] = []
        // A `$` ends the sequence when it ends a top-level branch (before `|`, `)` or the end).
        func endsBranch() -> Bool { at + 1 == pattern.count || pattern[at + 1] == "|" || pattern[at + 1] == ")" }
        while let c = peek, c != "|", c != ")", c != "$" || !endsBranch() {
            if c == "$" || c == "^" { throw error("'\(c)' is only supported at the start or end of the pattern") }
            parts.append(try quantified(try atom()))
        }
        return .seq(parts)
    }

    mutating func quantified(_ e: GrammarExpr) throws -> GrammarExpr {
        var e = e
        while let c = peek, "*+?{".unicodeScalars.contains(c) {
            var bounds: (Int, Int?)
            switch c {
            case "*": at += 1; bounds = (0, nil)
            case "+": at += 1; bounds = (1, nil)
            case "?": at += 1; bounds = (0, 1)
            default:
                guard let b = try braces() else { return e }  // a literal '{'
                bounds = b
            }
            _ = take("?")  // lazy: the same language
            if peek == "+" { throw error("possessive quantifiers are not supported") }
            e = .repetition(e, min: bounds.0, max: bounds.1)
        }
        return e
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (nothing consumed) when the brace is not a quantifier.
    mutating func braces() throws -> (Int, Int?)? {
        let start = at
        at += 1
        func number() -> Int? {
            var s = ""
            while let c = peek, ("0"..."9").contains(c) { s.unicodeScalars.append(c); at += 1 }
            return Int(s)
        }
        guard let n = number() else { at = start; return nil }
        var m: Int? = n
        if take(",") { m = number() }
        guard take("}") else { at = start; return nil }
        if let m, m < n { throw error("the quantifier {\(n),\(m)} has its bounds reversed") }
        guard (m ?? n) <= 10_000 else { throw error("a repetition count above 10000 is not supported") }
        return (n, m)
    }

    mutating func atom() throws -> GrammarExpr {
        let c = pattern[at]
        at += 1
        switch c {
        case "(":
            if take("?") {
                if take(":") {
                } else if take("P") || peek == "<" && at + 1 < pattern.count && !"=!".unicodeScalars.contains(pattern[at + 1]) {
                    guard take("<") else { throw error("'(?P' groups other than (?P<name>...) are not supported") }
                    while let n = peek, n != ">" { at += 1 }
                    guard take(">") else { throw error("unterminated group name") }
                } else if peek == "=" || peek == "!" || peek == "<" {
                    throw error("lookaround assertions ((?=, (?!, (?<=, (?<!) are not supported")
                } else {
                    throw error("inline flags and '(?' constructs other than (?:...) are not supported")
                }
            }
            let inner = try alternation()
            guard take(")") else { throw error("missing ')'") }
            return inner
        case "[": return JSONTerminals.chars(try characterClass())
        case ".": return JSONTerminals.chars(UTF8Ranges.complement([0x0A...0x0A]))
        case "\\": return JSONTerminals.chars(try escape(inClass: false))
        case "*", "+", "?": throw error("nothing to repeat before '\(c)'")
        case ")": throw error("unbalanced ')'")
        default: return JSONTerminals.chars([c.value...c.value])
        }
    }

    /// After `[`: the scalar ranges of the class.
    mutating func characterClass() throws -> [ClosedRange<UInt32>] {
        let negated = take("^")
        var set: [ClosedRange<UInt32>] = []
        var asciiOnly = false  // a negated class holding \d, \w or \s complements within ASCII (see the header)
        var first = true
        while let c = peek, c != "]" || first {
            first = false
            at += 1
            var low: UInt32
            if c == "\\" {
                let e = try escape(inClass: true)
                if e.count != 1 || e[0].count != 1 { set += e; asciiOnly = true; continue }
                low = e[0].lowerBound
            } else {
                low = c.value
            }
            if peek == "-", at + 1 < pattern.count, pattern[at + 1] != "]" {
                at += 1
                let d = pattern[at]
                at += 1
                var high = d.value
                if d == "\\" {
                    let e = try escape(inClass: true)
                    guard e.count == 1, e[0].count == 1 else { throw error("a range cannot end in a class escape") }
                    high = e[0].lowerBound
                }
                guard low <= high else { throw error("the class range is reversed") }
                set.append(low...high)
            } else {
                set.append(low...low)
            }
        }
        guard take("]") else { throw error("missing ']'") }
        guard negated else { return set }
        let complement = UTF8Ranges.complement(set)
        return asciiOnly ? Self.ascii(complement) : complement
    }

    /// After `\`: the scalars the escape stands for.
    mutating func escape(inClass: Bool) throws -> [ClosedRange<UInt32>] {
        guard let c = peek else { throw error("the pattern ends with '\\'") }
        at += 1
        switch c {
        case "d": return Self.digits
        case "w": return Self.word
        case "s": return Self.space
        case "D": return Self.ascii(UTF8Ranges.complement(Self.digits))
        case "W": return Self.ascii(UTF8Ranges.complement(Self.word))
        case "S": return Self.ascii(UTF8Ranges.complement(Self.space))
        case "n": return [0x0A...0x0A]
        case "t": return [0x09...0x09]
        case "r": return [0x0D...0x0D]
        case "f": return [0x0C...0x0C]
        case "v": return [0x0B...0x0B]
        case "0": return [0...0]
        case "b" where inClass: return [0x08...0x08]
        case "b", "B": throw error("word boundaries (\\b, \\B) are not supported")
        case "x", "u":
            let n = c == "x" ? 2 : 4
            let digits = at + n <= pattern.count ? String(String.UnicodeScalarView(pattern[at..<(at + n)])) : ""
            guard let v = UInt32(digits, radix: 16) else {
                throw error("\\\(c) needs \(n) hex digits")
            }
            at += n
            return [v...v]
        case "p", "P": throw error("Unicode property classes (\\p, \\P) are not supported")
        case "1"..."9", "k": throw error("backreferences are not supported")
        default:
            if c.properties.isAlphabetic || ("0"..."9").contains(c) {
                throw error("the escape \\\(c) is not supported")
            }
            return [c.value...c.value]
        }
    }
}
