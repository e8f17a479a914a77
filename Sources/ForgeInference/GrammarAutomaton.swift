// GrammarAutomaton: a grammar as a pushdown automaton over bytes, made deterministic as it runs.
//
// Each rule becomes a small NFA (Thompson's construction): nodes with byte-range edges, empty edges, and calls of
// other rules (push the node to return to, enter the rule; the rule's end pops). A configuration is a node and a
// stack; a state is the set of configurations reachable after the bytes so far (closed over empty edges, calls and
// returns), kept only at nodes that read a byte, plus whether the whole grammar could end here. States are interned
// as integers and each (state, byte) transition is computed once and stored in a table, so walking a token's bytes
// or the vocabulary trie is mostly array lookups. States are finite for non-recursive grammars; recursive ones
// (any JSON value, recursive $ref) gain states only as deep as the text actually nests. Not thread-safe: a
// `TokenConstraint` serializes its use.
import ForgeCore

final class GrammarAutomaton {
    struct Edge { var lo: UInt8; var hi: UInt8; var to: Int32 }

    // The NFA.
    var edges: [[Edge]] = []
    var empties: [[Int32]] = []
    var calls: [(rule: Int32, back: Int32)?] = []
    /// The rule a node ends (−1: none).
    var endsRule: [Int32] = []
    var ruleStart: [Int32] = []

    // Stacks as interned linked frames: frame 0 is the empty stack.
    var frames: [(back: Int32, parent: Int32, depth: Int32)] = [(-1, -1, 0)]
    var frameIndex: [UInt64: Int32] = [:]
    static let maxDepth: Int32 = 2048

    // Interned states.
    struct StateKey: Hashable { var configs: [UInt64]; var accepting: Bool }
    var states: [StateKey] = []
    var stateIndex: [StateKey: Int32] = [:]
    /// states × 256: the next state (−1: no such byte here, −2: not computed yet).
    var table: [Int32] = []
    /// The state before any byte.
    private(set) var start: Int32 = -1

    init(_ grammar: Grammar) {
        ruleStart = Array(repeating: -1, count: grammar.rules.count)
        for (r, expr) in grammar.rules.enumerated() {
            let s = node()
            ruleStart[r] = s
            let end = build(expr, from: s)
            endsRule[Int(end)] = Int32(r)
        }
        start = intern(closure([UInt64(UInt32(ruleStart[0])) << 32]))
    }

    // MARK: - Building the NFA

    func node() -> Int32 {
        edges.append([]); empties.append([]); calls.append(nil); endsRule.append(-1)
        return Int32(edges.count - 1)
    }

    /// Adds `e` starting at node `from`; returns the node where it ends (a fresh node with no edges out).
    func build(_ e: GrammarExpr, from: Int32) -> Int32 {
        switch e {
        case .bytes(let bytes):
            var at = from
            for b in bytes {
                let n = node()
                edges[Int(at)].append(Edge(lo: b, hi: b, to: n))
                at = n
            }
            return at
        case .byteRanges(let ranges):
            let n = node()
            for r in ranges { edges[Int(from)].append(Edge(lo: r.lowerBound, hi: r.upperBound, to: n)) }
            return n
        case .sequence(let parts):
            var at = from
            for p in parts { at = build(p, from: at) }
            return at
        case .choice(let options):
            let out = node()
            for o in options {
                let s = node()
                empties[Int(from)].append(s)
                empties[Int(build(o, from: s))].append(out)
            }
            return out
        case .repetition(let inner, let min, let max):
            var at = from
            for _ in 0..<min { at = build(inner, from: at) }
            let out = node()
            if let max {
                for _ in min..<Swift.max(min, max) {
                    empties[Int(at)].append(out)
                    at = build(inner, from: at)
                }
                empties[Int(at)].append(out)
            } else {
                let loop = node()
                empties[Int(at)].append(loop)
                empties[Int(build(inner, from: loop))].append(loop)
                empties[Int(loop)].append(out)
            }
            return out
        case .rule(let r):
            let c = node(), back = node()
            empties[Int(from)].append(c)
            calls[Int(c)] = (Int32(r), back)
            return back
        }
    }

    // MARK: - Running it

    func config(_ node: Int32, _ stack: Int32) -> UInt64 { UInt64(UInt32(node)) << 32 | UInt64(UInt32(stack)) }

    func push(_ back: Int32, on stack: Int32) -> Int32? {
        let key = UInt64(UInt32(back)) << 32 | UInt64(UInt32(stack))
        if let f = frameIndex[key] { return f }
        let depth = frames[Int(stack)].depth + 1
        guard depth <= Self.maxDepth else { return nil }
        frames.append((back, stack, depth))
        frameIndex[key] = Int32(frames.count - 1)
        return Int32(frames.count - 1)
    }

    /// Every configuration reachable from `seeds` without reading a byte: those that read one, and whether the
    /// grammar can end.
    func closure(_ seeds: [UInt64]) -> StateKey {
        var seen = Set<UInt64>()
        var work = seeds
        var kept: [UInt64] = []
        var accepting = false
        while let c = work.popLast() {
            guard seen.insert(c).inserted else { continue }
            let n = Int(c >> 32), stack = Int32(truncatingIfNeeded: c & 0xFFFF_FFFF)
            if !edges[n].isEmpty { kept.append(c) }
            for e in empties[n] { work.append(config(e, stack)) }
            if let call = calls[n], let s = push(call.back, on: stack) {
                work.append(config(ruleStart[Int(call.rule)], s))
            }
            if endsRule[n] >= 0 {
                if stack == 0 {
                    accepting = accepting || endsRule[n] == 0
                } else {
                    let f = frames[Int(stack)]
                    work.append(config(f.back, f.parent))
                }
            }
        }
        kept.sort()
        return StateKey(configs: kept, accepting: accepting)
    }

    func intern(_ key: StateKey) -> Int32 {
        if key.configs.isEmpty && !key.accepting { return -1 }
        if let s = stateIndex[key] { return s }
        states.append(key)
        stateIndex[key] = Int32(states.count - 1)
        table += repeatElement(-2, count: 256)
        return Int32(states.count - 1)
    }

    /// The state after `byte` (−1: the byte is not allowed).
    @inline(__always)
    func next(_ state: Int32, _ byte: UInt8) -> Int32 {
        let t = table[Int(state) << 8 | Int(byte)]
        return t != -2 ? t : computeNext(state, byte)
    }

    func computeNext(_ state: Int32, _ byte: UInt8) -> Int32 {
        var seeds: [UInt64] = []
        for c in states[Int(state)].configs {
            let stack = Int32(truncatingIfNeeded: c & 0xFFFF_FFFF)
            for e in edges[Int(c >> 32)] where e.lo <= byte && byte <= e.hi { seeds.append(config(e.to, stack)) }
        }
        let t = seeds.isEmpty ? -1 : intern(closure(seeds))
        table[Int(state) << 8 | Int(byte)] = t
        return t
    }

    /// The state after `bytes`, or nil when they leave the language.
    func walk(_ state: Int32, _ bytes: [UInt8]) -> Int32? {
        guard state >= 0 else { return nil }
        var s = state
        for b in bytes {
            s = next(s, b)
            if s < 0 { return nil }
        }
        return s
    }

    func isAccepting(_ state: Int32) -> Bool { states[Int(state)].accepting }

    /// Whether more bytes may follow in `state`.
    func canContinue(_ state: Int32) -> Bool { !states[Int(state)].configs.isEmpty }
}
