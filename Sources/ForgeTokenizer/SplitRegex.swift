// SplitRegex: a small backtracking regular-expression engine over Unicode code points, for the
// pre-tokenizer patterns of byte-level BPE tokenizers (GPT-2, Llama 3, Qwen 2, DeepSeek, ...).
//
// Semantics are Perl/Oniguruma leftmost-first. Supported: alternation, (…), (?:…), (?i:…), (?=…),
// (?!…), quantifiers * + ? {n} {n,} {n,m} (greedy, or lazy with a trailing ?), classes […] with
// ranges and negation, ., \s \S \d \D \w \W, \p{…} / \P{…} (L Lu Ll Lt Lm Lo N Nd P S M Z C Han),
// escapes \r \n \t \f \v \xHH \uHHHH, anchors ^ $ \b \B. Anything else is a clear error.
// Fast hand-written splitters (PatternSplitters.swift) cover the common patterns; this engine is the
// general path and their reference in tests.
import ForgeCore

/// A compiled pattern that finds non-overlapping matches in code-point arrays.
public final class SplitRegex: @unchecked Sendable {
    public let pattern: String
    let root: Node

    indirect enum Node {
        case char(UInt32, caseless: Bool)
        case set(CharSet)
        case any                      // . (not \n)
        case seq([Node])
        case alt([Node])
        case repeatN(Node, min: Int, max: Int, greedy: Bool)
        case group(Node)
        case lookahead(Node, negative: Bool)
        case start, end, wordBoundary(Bool)
    }

    /// A character class: code-point ranges and Unicode classes, possibly negated.
    struct CharSet {
        var ranges: [(UInt32, UInt32)] = []
        var classes: [UnicodeClass] = []        // matches if the code point has any flag of one entry
        var negatedClasses: [UnicodeClass] = [] // \S, \P{..}, \D inside a class
        var negated = false
        var caseless = false

        func contains(_ c: UInt32) -> Bool {
            var hit = false
            for (lo, hi) in ranges where c >= lo && c <= hi { hit = true; break }
            if !hit && caseless {
                let alt = SplitRegex.otherCase(c)
                if alt != c { for (lo, hi) in ranges where alt >= lo && alt <= hi { hit = true; break } }
            }
            if !hit {
                let cls = UnicodeClass.of(c)
                for k in classes where !cls.isDisjoint(with: k) { hit = true; break }
                if !hit { for k in negatedClasses where cls.isDisjoint(with: k) { hit = true; break } }
            }
            return hit != negated
        }
    }

    /// Compiles `pattern`; an unsupported construct is an error naming it.
    public init(_ pattern: String) throws {
        self.pattern = pattern
        var p = Parser(chars: Array(pattern.unicodeScalars).map(\.value), pattern: pattern)
        root = try p.parseAlternation(caseless: false)
        if p.i < p.chars.count { throw p.error("unbalanced ')'") }
    }

    // MARK: - Matching

    /// Non-overlapping matches in `text[range]`, as half-open ranges, scanning left to right.
    /// Lookarounds and anchors see only `range` (the fragment being split).
    public func matches(in text: UnsafeBufferPointer<UInt32>, _ range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var pos = range.lowerBound
        let m = Matcher(text: text, lo: range.lowerBound, hi: range.upperBound)
        while pos <= range.upperBound {
            var found: Int?
            var start = pos
            while start <= range.upperBound {
                if let e = m.match(root, start, { $0 }) { found = e; break }
                start += 1
            }
            guard let end = found else { break }
            if end > start { out.append(start..<end) }
            pos = end > start ? end : start + 1
        }
        return out
    }

    /// Convenience for strings (tests): the matched substrings.
    public func matches(in s: String) -> [String] {
        let cps = Array(s.unicodeScalars).map(\.value)
        return cps.withUnsafeBufferPointer { buf in
            matches(in: buf, 0..<cps.count).map { r in String(String.UnicodeScalarView(cps[r].compactMap(Unicode.Scalar.init))) }
        }
    }

    struct Matcher {
        let text: UnsafeBufferPointer<UInt32>
        let lo: Int, hi: Int

        /// Tries `node` at `pos`; on success calls `k` with the end position and returns its result.
        func match(_ node: Node, _ pos: Int, _ k: (Int) -> Int?) -> Int? {
            switch node {
            case .char(let c, let caseless):
                guard pos < hi else { return nil }
                let t = text[pos]
                if t == c || (caseless && SplitRegex.otherCase(t) == c) { return k(pos + 1) }
                return nil
            case .set(let s):
                guard pos < hi, s.contains(text[pos]) else { return nil }
                return k(pos + 1)
            case .any:
                guard pos < hi, text[pos] != 10 else { return nil }
                return k(pos + 1)
            case .seq(let nodes):
                return matchSeq(nodes, 0, pos, k)
            case .alt(let options):
                for o in options { if let r = match(o, pos, k) { return r } }
                return nil
            case .group(let n):
                return match(n, pos, k)
            case .repeatN(let n, let mn, let mx, let greedy):
                if let single = singleWidth(n) {
                    // Count how far the class runs, then back off (greedy) or extend (lazy) without recursion.
                    var count = 0
                    while count < mx, pos + count < hi, single(text[pos + count]) { count += 1 }
                    guard count >= mn else { return nil }
                    if greedy {
                        var c = count
                        while c >= mn { if let r = k(pos + c) { return r }; c -= 1 }
                    } else {
                        for c in mn...count { if let r = k(pos + c) { return r } }
                    }
                    return nil
                }
                return matchRepeat(n, mn, mx, greedy, 0, pos, k)
            case .lookahead(let n, let negative):
                let ok = match(n, pos, { $0 }) != nil
                return ok != negative ? k(pos) : nil
            case .start:
                return pos == lo ? k(pos) : nil
            case .end:
                return pos == hi ? k(pos) : nil
            case .wordBoundary(let want):
                func isWord(_ i: Int) -> Bool {
                    guard i >= lo && i < hi else { return false }
                    let c = UnicodeClass.of(text[i])
                    return !c.isDisjoint(with: [.letter, .decimal, .mark]) || text[i] == 95
                }
                return (isWord(pos - 1) != isWord(pos)) == want ? k(pos) : nil
            }
        }

        func matchSeq(_ nodes: [Node], _ i: Int, _ pos: Int, _ k: (Int) -> Int?) -> Int? {
            if i == nodes.count { return k(pos) }
            return match(nodes[i], pos) { next in matchSeq(nodes, i + 1, next, k) }
        }

        func matchRepeat(_ n: Node, _ mn: Int, _ mx: Int, _ greedy: Bool, _ count: Int, _ pos: Int, _ k: (Int) -> Int?) -> Int? {
            func tryMore() -> Int? {
                guard count < mx else { return nil }
                return match(n, pos) { next in
                    next == pos && count >= mn ? nil : matchRepeat(n, mn, mx, greedy, count + 1, next, k)
                }
            }
            if count < mn { return tryMore() }
            if greedy { return tryMore() ?? k(pos) }
            return k(pos) ?? tryMore()
        }

        /// A predicate when `n` always consumes exactly one code point.
        func singleWidth(_ n: Node) -> ((UInt32) -> Bool)? {
            switch n {
            case .char(let c, let caseless): return { $0 == c || (caseless && SplitRegex.otherCase($0) == c) }
            case .set(let s): return { s.contains($0) }
            case .any: return { $0 != 10 }
            case .group(let inner): return singleWidth(inner)
            default: return nil
            }
        }
    }

    /// The other case of a letter (simple one-to-one mapping), or the code point itself.
    static func otherCase(_ c: UInt32) -> UInt32 {
        if c < 128 {
            if c >= 65 && c <= 90 { return c + 32 }
            if c >= 97 && c <= 122 { return c - 32 }
            return c
        }
        guard let s = Unicode.Scalar(c) else { return c }
        let lower = s.properties.lowercaseMapping.unicodeScalars, upper = s.properties.uppercaseMapping.unicodeScalars
        if lower.count == 1, lower.first!.value != c { return lower.first!.value }
        if upper.count == 1, upper.first!.value != c { return upper.first!.value }
        return c
    }

    // MARK: - Parsing

    struct Parser {
        let chars: [UInt32]
        let pattern: String
        var i = 0

        func error(_ what: String) -> ForgeError {
            ForgeError("unsupported or invalid pre-tokenizer pattern at offset \(i): \(what) in \(String(reflecting: pattern))")
        }

        func peek(_ off: Int = 0) -> UInt32? { i + off < chars.count ? chars[i + off] : nil }

        mutating func parseAlternation(caseless: Bool) throws -> Node {
            var options = [try parseSequence(caseless: caseless)]
            while peek() == 124 /* | */ {
                i += 1
                options.append(try parseSequence(caseless: caseless))
            }
            return options.count == 1 ? options[0] : .alt(options)
        }

        mutating func parseSequence(caseless: Bool) throws -> Node {
            var items: [Node] = []
            while let c = peek(), c != 124, c != 41 /* ) */ {
                var atom = try parseAtom(caseless: caseless)
                atom = try parseQuantifier(atom)
                items.append(atom)
            }
            return items.count == 1 ? items[0] : .seq(items)
        }

        mutating func parseQuantifier(_ atom: Node) throws -> Node {
            guard let c = peek() else { return atom }
            var (mn, mx) = (0, 0)
            switch c {
            case 42: (mn, mx) = (0, Int.max); i += 1        // *
            case 43: (mn, mx) = (1, Int.max); i += 1        // +
            case 63: (mn, mx) = (0, 1); i += 1              // ?
            case 123:                                        // {n}, {n,}, {n,m}
                var j = i + 1
                func number() -> Int? {
                    var v = 0, any = false
                    while j < chars.count, chars[j] >= 48, chars[j] <= 57 { v = v * 10 + Int(chars[j] - 48); j += 1; any = true }
                    return any ? v : nil
                }
                guard let a = number() else { return atom }  // a literal '{'
                var b = a
                if j < chars.count, chars[j] == 44 { j += 1; b = number() ?? Int.max }
                guard j < chars.count, chars[j] == 125 else { throw error("unterminated {n,m}") }
                i = j + 1
                (mn, mx) = (a, b)
            default: return atom
            }
            var greedy = true
            if peek() == 63 { greedy = false; i += 1 }
            if peek() == 43 { throw error("possessive quantifiers") }
            return .repeatN(atom, min: mn, max: mx, greedy: greedy)
        }

        mutating func parseAtom(caseless: Bool) throws -> Node {
            let c = chars[i]
            switch c {
            case 40: // (
                i += 1
                var node: Node
                if peek() == 63 { // ?
                    i += 1
                    switch peek() {
                    case 58: i += 1; node = .group(try parseAlternation(caseless: caseless))            // (?:
                    case 61: i += 1; node = .lookahead(try parseAlternation(caseless: caseless), negative: false) // (?=
                    case 33: i += 1; node = .lookahead(try parseAlternation(caseless: caseless), negative: true)  // (?!
                    case 105 where peek(1) == 58: i += 2; node = .group(try parseAlternation(caseless: true))     // (?i:
                    default: throw error("group type (?\(peek().flatMap(Unicode.Scalar.init).map(String.init) ?? "")")
                    }
                } else {
                    node = .group(try parseAlternation(caseless: caseless))
                }
                guard peek() == 41 else { throw error("missing ')'") }
                i += 1
                return node
            case 91: // [
                return .set(try parseClass(caseless: caseless))
            case 46: i += 1; return .any
            case 94: i += 1; return .start
            case 36: i += 1; return .end
            case 92: // backslash
                i += 1
                guard let e = peek() else { throw error("trailing backslash") }
                if e == 98 { i += 1; return .wordBoundary(true) }   // \b
                if e == 66 { i += 1; return .wordBoundary(false) }  // \B
                return try parseEscape(inClass: false, caseless: caseless)
            case 41, 124: throw error("empty expression")
            case 42, 43, 63: throw error("quantifier without an operand")
            default:
                i += 1
                return .char(c, caseless: caseless && SplitRegex.otherCase(c) != c)
            }
        }

        /// After a backslash: a single character or a class.
        mutating func parseEscape(inClass: Bool, caseless: Bool) throws -> Node {
            let e = chars[i]
            i += 1
            var set = CharSet()
            switch e {
            case 115: set.classes = [.whitespace]; return .set(set)                  // \s
            case 83: set.negatedClasses = [.whitespace]; return .set(set)            // \S
            case 100: set.classes = [.decimal]; return .set(set)                     // \d
            case 68: set.negatedClasses = [.decimal]; return .set(set)               // \D
            case 119: set.classes = [[.letter, .decimal, .mark]]; set.ranges = [(95, 95)]; return .set(set)  // \w
            case 87: set.classes = [[.letter, .decimal, .mark]]; set.ranges = [(95, 95)]; set.negated = true; return .set(set)
            case 112, 80:                                                             // \p{..} \P{..}
                guard peek() == 123 else { throw error("\\p without {name}") }
                var name = ""
                i += 1
                while let c = peek(), c != 125 { name.unicodeScalars.append(Unicode.Scalar(c)!); i += 1 }
                guard peek() == 125 else { throw error("unterminated \\p{") }
                i += 1
                guard let cls = Parser.propertyClasses[name] else { throw error("Unicode property \\p{\(name)}") }
                if e == 112 { set.classes = [cls] } else { set.negatedClasses = [cls] }
                return .set(set)
            case 114: return .char(13, caseless: false)
            case 110: return .char(10, caseless: false)
            case 116: return .char(9, caseless: false)
            case 102: return .char(12, caseless: false)
            case 118: return .char(11, caseless: false)
            case 48: return .char(0, caseless: false)
            case 120, 117:                                                            // \xHH \uHHHH
                let n = e == 120 ? 2 : 4
                var v: UInt32 = 0
                for _ in 0..<n {
                    guard let h = peek(), let d = Parser.hex(h) else { throw error("bad hex escape") }
                    v = v * 16 + d
                    i += 1
                }
                return .char(v, caseless: false)
            default:
                let isAlnum = (e >= 48 && e <= 57) || (e >= 65 && e <= 90) || (e >= 97 && e <= 122)
                if isAlnum { throw error("escape \\\(Unicode.Scalar(e)!)") }
                return .char(e, caseless: caseless && SplitRegex.otherCase(e) != e)
            }
        }

        static func hex(_ c: UInt32) -> UInt32? {
            switch c {
            case 48...57: return c - 48
            case 65...70: return c - 55
            case 97...102: return c - 87
            default: return nil
            }
        }

        static let propertyClasses: [String: UnicodeClass] = [
            "L": .letter, "Letter": .letter, "Lu": .uppercase, "Ll": .lowercase, "Lt": .titlecase, "Lm": .modifier,
            "Lo": .otherLetter, "N": .number, "Nd": .decimal, "P": .punctuation, "S": .symbol, "M": .mark,
            "Z": .separator, "C": .control, "Han": .han,
        ]

        mutating func parseClass(caseless: Bool) throws -> CharSet {
            i += 1 // [
            var set = CharSet()
            set.caseless = caseless
            if peek() == 94 { set.negated = true; i += 1 }
            var first = true
            while let c = peek(), c != 93 || first {
                first = false
                var lo: UInt32
                if c == 92 {
                    i += 1
                    guard peek() != nil else { throw error("unterminated class") }
                    switch try parseEscape(inClass: true, caseless: false) {
                    case .char(let v, _): lo = v
                    case .set(let inner):
                        set.ranges += inner.ranges
                        if inner.negated { throw error("negated class inside a class") }
                        set.classes += inner.classes
                        set.negatedClasses += inner.negatedClasses
                        continue
                    default: throw error("class escape")
                    }
                } else if c == 91, peek(1) == 58 {
                    throw error("POSIX [: :] classes")
                } else {
                    lo = c
                    i += 1
                }
                if peek() == 45, let next = peek(1), next != 93 { // a-b
                    i += 1
                    var hi: UInt32
                    if next == 92 {
                        i += 1
                        guard case .char(let v, _) = try parseEscape(inClass: true, caseless: false) else { throw error("range to a class") }
                        hi = v
                    } else {
                        hi = next
                        i += 1
                    }
                    guard hi >= lo else { throw error("reversed range") }
                    set.ranges.append((lo, hi))
                } else {
                    set.ranges.append((lo, lo))
                }
            }
            guard peek() == 93 else { throw error("unterminated class") }
            i += 1
            return set
        }
    }
}
