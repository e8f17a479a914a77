// Grammar: a context-free grammar over bytes, as expressions with numbered rules (rules give recursion: a schema's
// recursive $ref, any JSON value). The JSON-schema and regex compilers produce it; `GrammarAutomaton` runs it.
import ForgeCore

/// An expression over bytes.
public indirect enum GrammarExpr: Sendable {
    /// These bytes in order.
    case bytes([UInt8])
    /// One byte within any of the ranges.
    case byteRanges([ClosedRange<UInt8>])
    case sequence([GrammarExpr])
    case choice([GrammarExpr])
    /// `min` to `max` repetitions (`max` nil: unbounded).
    case repetition(GrammarExpr, min: Int, max: Int?)
    /// A call of rule `n` of the grammar.
    case rule(Int)

    /// The empty string.
    public static let empty = GrammarExpr.sequence([])

    /// The UTF-8 bytes of `text`.
    public static func literal(_ text: String) -> GrammarExpr { .bytes(Array(text.utf8)) }

    /// The expression or nothing.
    public static func optional(_ e: GrammarExpr) -> GrammarExpr { .choice([e, .empty]) }

    /// One byte among the ASCII characters of `chars`.
    public static func oneOf(_ chars: String) -> GrammarExpr { .byteRanges(chars.utf8.map { $0...$0 }) }

    /// A sequence, flattened and without empty parts (smaller automata).
    public static func seq(_ parts: [GrammarExpr]) -> GrammarExpr {
        var out: [GrammarExpr] = []
        for p in parts {
            switch p {
            case .sequence(let inner): out += inner
            default: out.append(p)
            }
        }
        return out.count == 1 ? out[0] : .sequence(out)
    }

    /// A choice, or its only alternative.
    public static func alt(_ options: [GrammarExpr]) -> GrammarExpr { options.count == 1 ? options[0] : .choice(options) }
}

/// Rules of expressions over bytes; rule 0 is the language.
public struct Grammar: Sendable {
    public var rules: [GrammarExpr]

    public init(rules: [GrammarExpr]) { self.rules = rules }

    /// A grammar of one rule.
    public init(_ expr: GrammarExpr) { rules = [expr] }

    /// Whether `bytes` is a whole sentence of the language.
    public func accepts(_ bytes: [UInt8]) -> Bool {
        let a = GrammarAutomaton(self)
        guard let s = a.walk(a.start, bytes) else { return false }
        return a.isAccepting(s)
    }

    /// Whether `bytes` can still be continued into a sentence (every prefix of one, including whole ones).
    public func acceptsPrefix(_ bytes: [UInt8]) -> Bool {
        let a = GrammarAutomaton(self)
        return a.walk(a.start, bytes) != nil
    }

    /// Whether no string at all is a sentence (every rule needs a byte that none of its options allows).
    public var isEmpty: Bool {
        // Productive rules, to a fixed point.
        var productive = Array(repeating: false, count: rules.count)
        func ok(_ e: GrammarExpr) -> Bool {
            switch e {
            case .bytes: return true
            case .byteRanges(let r): return !r.isEmpty
            case .sequence(let parts): return parts.allSatisfy(ok)
            case .choice(let options): return options.contains(where: ok)
            case .repetition(let inner, let min, _): return min == 0 || ok(inner)
            case .rule(let r): return productive[r]
            }
        }
        var changed = true
        while changed {
            changed = false
            for r in rules.indices where !productive[r] && ok(rules[r]) { productive[r] = true; changed = true }
        }
        return !productive[0]
    }

    public func accepts(_ text: String) -> Bool { accepts(Array(text.utf8)) }
    public func acceptsPrefix(_ text: String) -> Bool { acceptsPrefix(Array(text.utf8)) }
}
