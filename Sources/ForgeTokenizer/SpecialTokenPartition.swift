// SpecialTokenPartition: how llama.cpp cuts special tokens out of raw text (tokenizer_st_partition).
// Tokens are taken one at a time, longest first; each claims its occurrences left to right in the text
// not yet claimed, so a longer token wins over an overlapping shorter one wherever it starts. Control and
// unknown tokens count only when special tokens are parsed; user-defined ones always. A token marked
// lstrip/rstrip also swallows the whitespace beside it.
//
// llama.cpp scans the text once per token; here one pass over a trie of the token texts finds every
// occurrence, and the occurrences are then claimed in llama.cpp's order.

/// The special tokens of a vocabulary, ready to be found in text.
struct SpecialTokenPartition: Sendable {
    struct Entry: Sendable {
        let id: Int32
        let length: Int
        let alwaysParsed: Bool   // user-defined: recognised even when special tokens are not parsed
        let lstrip: Bool, rstrip: Bool
    }
    /// In llama.cpp's order: longest text first (ties by id; llama.cpp's sort leaves them unordered).
    let entries: [Entry]
    /// Byte trie: node → (byte, child) edges; `ends[node]` is the entry whose text ends there, or -1.
    private let edges: [[(UInt8, Int32)]]
    private let ends: [Int32]
    /// The root's edges as a table (every text byte looks there).
    private let root: [Int32]

    init(_ tokens: [(id: Int32, text: [UInt8], alwaysParsed: Bool, lstrip: Bool, rstrip: Bool)]) {
        let sorted = tokens.filter { !$0.text.isEmpty }.sorted { $0.text.count != $1.text.count ? $0.text.count > $1.text.count : $0.id < $1.id }
        entries = sorted.map { Entry(id: $0.id, length: $0.text.count, alwaysParsed: $0.alwaysParsed, lstrip: $0.lstrip, rstrip: $0.rstrip) }
        var edges: [[(UInt8, Int32)]] = [[]], ends: [Int32] = [-1]
        for (e, t) in sorted.enumerated() {
            var node = 0
            for b in t.text {
                if let child = edges[node].first(where: { $0.0 == b })?.1 { node = Int(child); continue }
                edges[node].append((b, Int32(edges.count)))
                node = edges.count
                edges.append([])
                ends.append(-1)
            }
            if ends[node] < 0 { ends[node] = Int32(e) }
        }
        self.edges = edges
        self.ends = ends
        var root = [Int32](repeating: -1, count: 256)
        for (b, child) in edges[0] { root[Int(b)] = child }
        self.root = root
    }

    /// Splits `bytes` into text and special tokens, in order.
    func split(_ bytes: [UInt8], parseSpecial: Bool) -> [Segment] {
        let n = bytes.count
        guard n > 0 else { return [] }
        // Every occurrence of every eligible token, as (entry, start).
        var found: [(entry: Int32, start: Int32)] = []
        bytes.withUnsafeBufferPointer { b in
            for i in 0..<n where root[Int(b[i])] >= 0 {
                var node = Int(root[Int(b[i])]), j = i + 1
                while true {
                    let e = ends[node]
                    if e >= 0 && (parseSpecial || entries[Int(e)].alwaysParsed) { found.append((e, Int32(i))) }
                    guard j < n, let child = edges[node].first(where: { $0.0 == b[j] })?.1 else { break }
                    node = Int(child)
                    j += 1
                }
            }
        }
        guard !found.isEmpty else { return [.text(0..<n)] }
        found.sort { $0.entry != $1.entry ? $0.entry < $1.entry : $0.start < $1.start }
        // Claim them token by token; `taken` marks bytes already cut out (tokens and stripped spaces).
        var taken = [Bool](repeating: false, count: n)
        var cuts: [(start: Int, end: Int, id: Int32)] = []
        var k = 0
        while k < found.count {
            let entry = found[k].entry, e = entries[Int(entry)]
            var resume = 0
            while k < found.count && found[k].entry == entry {
                let s = Int(found[k].start), end = s + e.length
                k += 1
                guard s >= resume, !taken[s..<end].contains(true) else { continue }
                var lo = s, hi = end
                if e.lstrip { while lo > 0 && !taken[lo - 1] && isSpace(bytes[lo - 1]) { lo -= 1 } }
                if e.rstrip { while hi < n && !taken[hi] && isSpace(bytes[hi]) { hi += 1 } }
                for t in lo..<hi { taken[t] = true }
                cuts.append((lo, hi, e.id))
                resume = hi
            }
        }
        cuts.sort { $0.start < $1.start }
        var out: [Segment] = []
        var at = 0
        for c in cuts {
            if c.start > at { out.append(.text(at..<c.start)) }
            out.append(.token(c.id))
            at = c.end
        }
        if at < n { out.append(.text(at..<n)) }
        return out
    }

    /// C's isspace, which llama.cpp strips with.
    private func isSpace(_ b: UInt8) -> Bool { b == 32 || (9...13).contains(b) }
}
