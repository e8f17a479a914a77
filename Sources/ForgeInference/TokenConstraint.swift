// TokenConstraint: a grammar over bytes turned into masks over a vocabulary. The mask of an automaton state is every
// token whose bytes keep the automaton alive, found by walking the vocabulary trie against the state (a refused
// byte prunes every token under it), plus the end tokens when the grammar may end there. Masks are cached per
// state, so a state seen again (the inside of a string, a number's digits, the same schema in another request)
// costs a lookup. Tokens split UTF-8 characters freely: the automaton reads bytes, so a token that ends inside a
// character leaves it in the middle of that character, and only tokens that complete it validly come next.
import ForgeCore
import Foundation

/// A grammar bound to a vocabulary; shared by every sequence that it constrains (thread-safe).
public final class TokenConstraint: @unchecked Sendable {
    public let vocabulary: TokenVocabulary
    /// Allowed only where the grammar may end; they end generation.
    public let endTokens: Set<Int32>
    let automaton: GrammarAutomaton
    let lock = NSLock()
    var masks: [Int32: [UInt64]] = [:]
    var maskSeconds = 0.0

    /// Binds `grammar` to `vocabulary`; throws when the grammar admits no text at all.
    public init(grammar: Grammar, vocabulary: TokenVocabulary, endTokens: Set<Int32>) throws {
        guard !grammar.isEmpty else { throw ForgeError("the grammar admits no text") }
        automaton = GrammarAutomaton(grammar)
        self.vocabulary = vocabulary
        self.endTokens = endTokens
    }

    /// The state before any token.
    public var start: Int32 { automaton.start }

    /// Allowed tokens in `state` as bits (token i is bit i % 64 of word i / 64).
    public func mask(_ state: Int32) -> [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        if let m = masks[state] { return m }
        let t0 = ContinuousClock.now
        let m = computeMask(state)
        masks[state] = m
        let d = ContinuousClock.now - t0
        maskSeconds += Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        return m
    }

    /// The state after `token` (nil: the token is not allowed; end tokens leave the state as it is).
    public func advance(_ state: Int32, _ token: Int32) -> Int32? {
        if endTokens.contains(token) { return isAccepting(state) ? state : nil }
        guard token >= 0, Int(token) < vocabulary.size else { return nil }
        let bytes = vocabulary.tokenBytes[Int(token)]
        guard !bytes.isEmpty else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return automaton.walk(state, bytes)
    }

    /// Whether the text so far is a whole sentence of the grammar.
    public func isAccepting(_ state: Int32) -> Bool { lock.lock(); defer { lock.unlock() }; return automaton.isAccepting(state) }

    /// Automaton states and cached masks so far, and the seconds spent computing masks (for benchmarks).
    public var statistics: (states: Int, masks: Int, maskSeconds: Double) {
        lock.lock(); defer { lock.unlock() }
        return (automaton.states.count, masks.count, maskSeconds)
    }

    func computeMask(_ state: Int32) -> [UInt64] {
        let v = vocabulary
        var bits = [UInt64](repeating: 0, count: (v.size + 63) / 64)
        var at = [Int32](repeating: -1, count: v.maxDepth + 1)  // the state after each prefix of the current path
        at[0] = state
        let n = v.byte.count
        var i = 0
        while i < n {
            let d = Int(v.depth[i])
            let s = automaton.next(at[d - 1], v.byte[i])
            if s < 0 { i = Int(v.skip[i]); continue }
            at[d] = s
            for k in Int(v.tokensUpTo[i])..<Int(v.tokensUpTo[i + 1]) {
                let id = Int(v.tokenIds[k])
                bits[id >> 6] |= 1 << UInt64(id & 63)
            }
            i += 1
        }
        if automaton.isAccepting(state) {
            for t in endTokens where t >= 0 && Int(t) < v.size { bits[Int(t) >> 6] |= 1 << UInt64(t & 63) }
        }
        return bits
    }
}

/// One sequence's place in a constraint's grammar: masks the logits before sampling and follows each sampled token.
public struct ConstraintState: Sendable {
    public let constraint: TokenConstraint
    public private(set) var state: Int32

    public init(_ constraint: TokenConstraint) {
        self.constraint = constraint
        state = constraint.start
    }

    /// Sets the logits of every token the grammar does not allow here to −∞; returns the mask used.
    @discardableResult
    public func apply(to logits: inout [Float]) -> [UInt64] {
        let bits = constraint.mask(state)
        logits.withUnsafeMutableBufferPointer { l in
            for w in 0..<((l.count + 63) / 64) {
                let word = w < bits.count ? bits[w] : 0
                if word == .max { continue }
                for j in (w * 64)..<min(l.count, w * 64 + 64) where word & (1 << UInt64(j & 63)) == 0 { l[j] = -.infinity }
            }
        }
        return bits
    }

    /// Follows `token`; false (the state unchanged) if the grammar does not allow it.
    public mutating func advance(_ token: Int32) -> Bool {
        guard let next = constraint.advance(state, token) else { return false }
        state = next
        return true
    }

    /// Whether the text so far is a whole sentence.
    public var isAccepting: Bool { constraint.isAccepting(state) }
}
