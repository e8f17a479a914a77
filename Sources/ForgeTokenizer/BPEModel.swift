// BPEModel: BPE over token ids. A piece starts as one token per byte (byte-level BPE) or per character
// (byte-fallback BPE, the Hugging Face form of SentencePiece vocabularies: a character missing from the
// vocabulary becomes its <0xXX> byte tokens); the adjacent pair with the lowest merge rank is merged
// (leftmost first) until no pair has a merge. Results are cached per distinct piece, which is what makes
// natural text fast: most pieces are repeated words.
import ForgeCore

/// Open-addressing map from (left id, right id) to (rank, merged id).
struct PairMap: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: PairMap.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) static func hash(_ k: UInt64) -> Int {
        var h = k &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }

    /// Inserts unless the pair is already present (the first merge listed wins).
    mutating func insert(_ a: Int32, _ b: Int32, rank: Int32, merged: Int32) {
        let k = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        var i = PairMap.hash(k) & mask
        while keys[i] != PairMap.empty {
            if keys[i] == k { return }
            i = (i + 1) & mask
        }
        keys[i] = k
        values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// (rank, merged) for a pair, if it merges.
    @inline(__always) func find(_ a: Int32, _ b: Int32) -> (rank: Int32, merged: Int32)? {
        let k = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        var i = PairMap.hash(k) & mask
        return keys.withUnsafeBufferPointer { kp in
            while kp[i] != PairMap.empty {
                if kp[i] == k {
                    let v = values[i]
                    return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
                }
                i = (i + 1) & mask
            }
            return nil
        }
    }
}

/// Open-addressing map from byte strings to Int32, keys stored in one arena.
struct BytesMap: Sendable {
    private var slots: [Int32]
    private var hashes: [UInt64] = []
    private var offsets: [Int32] = []
    private var lengths: [Int32] = []
    private(set) var values: [Int32] = []
    private var arena: [UInt8] = []
    private var mask: Int

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    var count: Int { values.count }

    func entryOffset(_ e: Int) -> Int32 { offsets[e] }
    func entryLength(_ e: Int) -> Int32 { lengths[e] }
    func arenaBytes<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R {
        arena.withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(bitPattern: 1)!) }
    }

    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(n)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x100_0000_01b3
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n { tail |= UInt64(p[i]) << shift; shift += 8; i += 1 }
        h = (h ^ tail) &* 0x9E37_79B9_7F4A_7C15
        return h ^ (h >> 31)
    }

    /// The value stored for `p[0..<n]`.
    @inline(__always) func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32? {
        let h = BytesMap.hash(p, n)
        return slots.withUnsafeBufferPointer { sl in
            hashes.withUnsafeBufferPointer { hs in
                lengths.withUnsafeBufferPointer { ls in
                    arena.withUnsafeBufferPointer { ar in
                        var i = Int(truncatingIfNeeded: h) & mask
                        while true {
                            let e = Int(sl[i])
                            if e < 0 { return nil }
                            if hs[e] == h && Int(ls[e]) == n && memcmpBytes(ar.baseAddress! + Int(offsets[e]), p, n) { return values[e] }
                            i = (i + 1) & mask
                        }
                    }
                }
            }
        }
    }

    func find(_ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { b in find(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, b.count) }
    }

    /// Inserts or replaces.
    mutating func insert(_ p: UnsafePointer<UInt8>, _ n: Int, _ value: Int32) {
        if values.count * 2 >= slots.count { grow() }
        let h = BytesMap.hash(p, n)
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] >= 0 {
            let e = Int(slots[i])
            if hashes[e] == h && Int(lengths[e]) == n {
                let off = Int(offsets[e])
                if arena.withUnsafeBufferPointer({ memcmpBytes($0.baseAddress! + off, p, n) }) { values[e] = value; return }
            }
            i = (i + 1) & mask
        }
        slots[i] = Int32(values.count)
        hashes.append(h)
        offsets.append(Int32(arena.count))
        lengths.append(Int32(n))
        values.append(value)
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
    }

    mutating func insert(_ bytes: [UInt8], _ value: Int32) {
        bytes.withUnsafeBufferPointer { b in insert(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, b.count, value) }
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for e in 0..<values.count {
            var i = Int(truncatingIfNeeded: hashes[e]) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(e)
        }
    }
}

@inline(__always) func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    while i + 8 <= n {
        if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) { return false }
        i += 8
    }
    while i < n { if a[i] != b[i] { return false }; i += 1 }
    return true
}

/// Vocabulary and merges of a BPE model.
public struct BPEModel: Sendable {
    /// Raw bytes of every token id (byte-level strings decoded; other tokens, and all of a byte-fallback
    /// vocabulary, as UTF-8).
    public let tokenBytes: [[UInt8]]
    /// Token strings as the vocabulary spells them (byte-level for ordinary tokens).
    public let tokenStrings: [String]
    /// Merges in rank order, as token ids.
    public let merges: [(Int32, Int32)]
    /// Use a piece's whole token when it is in the vocabulary, before any merge (Llama 3).
    public let ignoreMerges: Bool
    public let unkId: Int32?
    /// Pieces start as characters; one missing from the vocabulary becomes its `<0xXX>` tokens (Hugging Face `byte_fallback`).
    public let byteFallback: Bool
    /// Consecutive unknown characters give one unknown token (Hugging Face `fuse_unk`).
    public let fuseUnk: Bool
    /// Token of each byte: its byte-level character, or with byte fallback its `<0xXX>` token; -1 if none.
    let byteToken: [Int32]
    let pairs: PairMap
    let byBytes: BytesMap

    /// Builds a model from (token string, id) pairs and merges of token strings.
    public init(vocab: [(String, Int32)], merges mergeStrings: [(String, String)], ignoreMerges: Bool, unkToken: String?,
                byteFallback: Bool = false, fuseUnk: Bool = false) throws {
        let size = Int(vocab.map(\.1).max() ?? -1) + 1
        var strings = [String](repeating: "", count: size)
        var bytes = [[UInt8]](repeating: [], count: size)
        var byString: [String: Int32] = [:]
        var byBytes = BytesMap(capacity: size)
        for (s, id) in vocab {
            guard id >= 0 else { throw ForgeError("negative token id \(id) for \(String(reflecting: s))") }
            strings[Int(id)] = s
            let b = byteFallback ? Array(s.utf8) : ByteLevel.decode(s) ?? Array(s.utf8)
            bytes[Int(id)] = b
            if !byteFallback { byString[s] = id }
            if byBytes.find(b) == nil { byBytes.insert(b, id) }
        }
        // Byte-fallback tokens are found by their exact bytes (Swift strings would merge canonically equal ones).
        func lookup(_ s: String) -> Int32? { byteFallback ? byBytes.find(Array(s.utf8)) : byString[s] }
        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let name = byteFallback ? ByteFallback.name(b) : String(Unicode.Scalar(ByteLevel.byteToScalar[b])!)
            byteToken[b] = lookup(name) ?? -1
        }
        var pairs = PairMap(capacity: mergeStrings.count)
        var list: [(Int32, Int32)] = []
        list.reserveCapacity(mergeStrings.count)
        for (rank, (a, b)) in mergeStrings.enumerated() {
            guard let ia = lookup(a), let ib = lookup(b) else {
                throw ForgeError("merge \(rank) (\(String(reflecting: a)) \(String(reflecting: b))) uses a token missing from the vocabulary")
            }
            guard let merged = lookup(a + b) else {
                throw ForgeError("merge \(rank) makes \(String(reflecting: a + b)), which is missing from the vocabulary")
            }
            pairs.insert(ia, ib, rank: Int32(rank), merged: merged)
            list.append((ia, ib))
        }
        self.tokenStrings = strings
        self.tokenBytes = bytes
        self.merges = list
        self.ignoreMerges = ignoreMerges
        self.unkId = unkToken.flatMap(lookup)
        self.byteFallback = byteFallback
        self.fuseUnk = fuseUnk
        self.byteToken = byteToken
        self.pairs = pairs
        self.byBytes = byBytes
    }

    public var vocabSize: Int { tokenBytes.count }

    /// The id of a token given by its raw bytes.
    public func id(ofBytes b: [UInt8]) -> Int32? { byBytes.find(b) }

    /// Appends the tokens of one piece to `out`, using and filling `cache`.
    @inline(__always)
    func encode(_ p: UnsafePointer<UInt8>, _ n: Int, cache: inout PieceCache, into out: inout [Int32]) {
        if n == 1 && !byteFallback {
            let t = byteToken[Int(p[0])]
            if t >= 0 { out.append(t) } else if let u = unkId { out.append(u) }
            return
        }
        if let hit = cache.map.find(p, n) {
            let r = cache.ranges[Int(hit)]
            if r.1 == 1 { out.append(cache.tokens[Int(r.0)]); return }
            cache.tokens.withUnsafeBufferPointer { t in out.append(contentsOf: UnsafeBufferPointer(rebasing: t[Int(r.0)..<Int(r.0 + r.1)])) }
            return
        }
        let start = out.count
        if ignoreMerges, let whole = byBytes.find(p, n) {
            out.append(whole)
        } else {
            merge(p, n, into: &out)
        }
        if cache.map.count < PieceCache.limit {
            cache.ranges.append((Int32(cache.tokens.count), Int32(out.count - start)))
            cache.tokens.append(contentsOf: out[start...])
            cache.map.insert(p, n, Int32(cache.ranges.count - 1))
        }
    }

    /// The merge loop: lowest rank first, leftmost on ties.
    func merge(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int32]) {
        var sym = [Int32]()
        sym.reserveCapacity(n)
        if byteFallback {
            characterSymbols(p, n, into: &sym)
        } else {
            for i in 0..<n {
                let t = byteToken[Int(p[i])]
                if t >= 0 { sym.append(t) } else if let u = unkId { sym.append(u) }
            }
        }
        if sym.count > 256 {
            mergeLong(&sym)
            out.append(contentsOf: sym)
        } else {
            sym.withUnsafeMutableBufferPointer { s in
                var count = s.count
                while count > 1 {
                    var best = Int32.max, at = -1, merged: Int32 = 0
                    for i in 0..<(count - 1) {
                        if let m = pairs.find(s[i], s[i + 1]), m.rank < best { best = m.rank; at = i; merged = m.merged }
                    }
                    if at < 0 { break }
                    s[at] = merged
                    for j in (at + 1)..<(count - 1) { s[j] = s[j + 1] }
                    count -= 1
                }
                out.append(contentsOf: s[0..<count])
            }
        }
    }

    /// Byte fallback's first symbols: each character's token, else its byte tokens (when all exist), else unk.
    func characterSymbols(_ p: UnsafePointer<UInt8>, _ n: Int, into sym: inout [Int32]) {
        var i = 0
        var lastUnknown = false
        while i < n {
            let w = min(n - i, UTF8Decoding.width(p[i]))
            if let t = byBytes.find(p + i, w) {
                sym.append(t)
                lastUnknown = false
            } else if (0..<w).allSatisfy({ byteToken[Int(p[i + $0])] >= 0 }) {
                for k in 0..<w { sym.append(byteToken[Int(p[i + k])]) }
                lastUnknown = false
            } else if let u = unkId {
                if !(fuseUnk && lastUnknown) { sym.append(u) }
                lastUnknown = true
            }
            i += w
        }
    }

    /// Heap-driven merging for long pieces (linked symbols, stale heap entries skipped).
    func mergeLong(_ sym: inout [Int32]) {
        let n = sym.count
        var next = Array(1...n), prev = Array(-1..<(n - 1))
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        // heap of (rank, left position, left id, right id)
        var heap = BinaryHeap<(Int32, Int, Int32, Int32)> { ($0.0, $0.1) < ($1.0, $1.1) }
        func push(_ i: Int) {
            let j = next[i]
            guard i >= 0, j >= 0, let m = pairs.find(sym[i], sym[j]) else { return }
            heap.push((m.rank, i, sym[i], sym[j]))
        }
        for i in 0..<(n - 1) { push(i) }
        while let (_, i, a, b) = heap.pop() {
            guard alive[i], sym[i] == a, next[i] >= 0, sym[next[i]] == b, let m = pairs.find(a, b) else { continue }
            let j = next[i]
            sym[i] = m.merged
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { prev[next[j]] = i }
            if prev[i] >= 0 { push(prev[i]) }
            push(i)
        }
        var result: [Int32] = []
        var i = 0
        while i >= 0 { result.append(sym[i]); i = next[i] }
        sym = result
    }
}

/// Tokens of pieces already seen in this encode call.
struct PieceCache {
    static let limit = 1 << 18
    var map = BytesMap(capacity: 4096)
    var ranges: [(Int32, Int32)] = []
    var tokens: [Int32] = []
}

/// A binary min-heap ordered by `less`.
struct BinaryHeap<T> {
    var items: [T] = []
    let less: (T, T) -> Bool
    init(less: @escaping (T, T) -> Bool) { self.less = less }

    mutating func push(_ x: T) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !less(items[i], items[p]) { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> T? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && less(items[l], items[m]) { m = l }
                if r < items.count && less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

