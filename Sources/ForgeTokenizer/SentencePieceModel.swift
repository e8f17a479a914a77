// SentencePieceModel: llama.cpp's SPM tokenizer (llm_tokenizer_spm_session) over escaped text (spaces
// already "▁"). The text starts as UTF-8 characters; the adjacent pair whose concatenation is a
// vocabulary token of the highest score is merged (the leftmost on equal scores) until no pair forms a
// token; a final symbol that is not a token becomes its <0xXX> byte tokens.
//
// Speed: before merging, the text is cut where no token can span, namely before a "▁" whose preceding
// character never precedes "▁" inside any token (found once, from the vocabulary). No merge crosses such a
// cut, so each part merges exactly as it would inside the whole text; parts (mostly words) are cached per
// call, as BPEModel does, and the merge itself keeps llama.cpp's priority queue.
import ForgeCore

/// Spaces as SentencePiece writes them.
enum SentencePiece {
    /// "▁" (U+2581) in UTF-8.
    static let meta: [UInt8] = [0xE2, 0x96, 0x81]

    /// Appends `text` with every space as "▁" (llama_escape_whitespace), after one "▁" if `prefixSpace`.
    static func escape(_ text: ArraySlice<UInt8>, prefixSpace: Bool, into out: inout [UInt8]) {
        if prefixSpace { out += meta }
        for b in text { if b == 32 { out += meta } else { out.append(b) } }
    }

    /// Every "▁" back to a space.
    static func unescape(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == 0xE2 && i + 2 < b.count && b[i + 1] == 0x96 && b[i + 2] == 0x81 { out.append(32); i += 3 }
            else { out.append(b[i]); i += 1 }
        }
        return out
    }
}

/// A SentencePiece (BPE-kind) vocabulary: pieces and their scores.
public struct SentencePieceModel: Sendable {
    /// Token texts as stored (spaces as "▁", bytes as "<0xXX>").
    public let tokens: [String]
    public let scores: [Float]
    let byText: BytesMap
    /// Token for each byte of a character outside the vocabulary ("<0xXX>", else the byte itself, else unk); -1 if none.
    let byteToken: [Int32]
    /// Characters that precede "▁" inside some token: a "▁" after one of them is not a cut.
    let beforeMeta: Set<UInt32>
    let asciiBeforeMeta: [Bool]

    /// Builds the lookup tables; `scores` has one value per token, and the texts must differ byte for byte.
    init(tokens: [String], scores: [Float], unkId: Int32?) throws {
        self.tokens = tokens
        self.scores = scores
        var map = BytesMap(capacity: tokens.count)
        var before = Set<UInt32>()
        for (i, t) in tokens.enumerated() {
            let u = Array(t.utf8)
            if let j = map.find(u) { throw ForgeError("holds \(String(reflecting: t)) twice (ids \(j) and \(i))") }
            map.insert(u, Int32(i))
            var k = 1
            while k < u.count {
                if u[k] == 0xE2 && k + 2 < u.count && u[k + 1] == 0x96 && u[k + 2] == 0x81 {
                    var s = k - 1
                    while s > 0 && u[s] & 0xC0 == 0x80 { s -= 1 }
                    if let c = String(decoding: u[s..<k], as: UTF8.self).unicodeScalars.first { before.insert(c.value) }
                }
                k += 1
            }
        }
        byText = map
        beforeMeta = before
        asciiBeforeMeta = (0..<128).map { before.contains(UInt32($0)) }
        byteToken = (0..<256).map { b in
            map.find(Array(ByteFallback.name(b).utf8)) ?? (b < 0x80 ? map.find([UInt8(b)]) : nil) ?? unkId ?? -1
        }
    }

    /// The id of a token by its exact text.
    public func id(of text: String) -> Int32? { byText.find(Array(text.utf8)) }

    // MARK: - Encoding

    /// Appends the tokens of escaped `text`, cut into parts no token spans, each merged (or taken from `scratch.cache`).
    func encode(_ text: [UInt8], scratch: inout SentencePieceScratch, into out: inout [Int32]) {
        text.withUnsafeBufferPointer { buf in
            guard let p = buf.baseAddress, buf.count > 0 else { return }
            let n = buf.count
            var partStart = 0, i = 1
            while i + 2 < n {
                guard p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81 else { i += 1; continue }
                var prevStart = i - 1
                while prevStart > 0 && p[prevStart] & 0xC0 == 0x80 { prevStart -= 1 }
                let prev = p[prevStart] < 0x80 ? UInt32(p[prevStart]) : UTF8Decoding.decode(buf, prevStart, i).0
                if prev < 0x80 ? !asciiBeforeMeta[Int(prev)] : prev != 0x2581 && !beforeMeta.contains(prev) {
                    encodePart(p + partStart, i - partStart, scratch: &scratch, into: &out)
                    partStart = i
                }
                i += 3
            }
            encodePart(p + partStart, n - partStart, scratch: &scratch, into: &out)
        }
    }

    @inline(__always)
    func encodePart(_ p: UnsafePointer<UInt8>, _ n: Int, scratch: inout SentencePieceScratch, into out: inout [Int32]) {
        if let hit = scratch.cache.map.find(p, n) {
            let r = scratch.cache.ranges[Int(hit)]
            scratch.cache.tokens.withUnsafeBufferPointer { t in
                out.append(contentsOf: UnsafeBufferPointer(rebasing: t[Int(r.0)..<Int(r.0 + r.1)]))
            }
            return
        }
        let start = out.count
        merge(p, n, scratch: &scratch, into: &out)
        if scratch.cache.map.count < PieceCache.limit {
            scratch.cache.ranges.append((Int32(scratch.cache.tokens.count), Int32(out.count - start)))
            scratch.cache.tokens.append(contentsOf: out[start...])
            scratch.cache.map.insert(p, n, Int32(scratch.cache.ranges.count - 1))
        }
    }

    /// llama.cpp's merge loop on one part: symbols are characters (start, length, prev, next); a queue of
    /// adjacent pairs that form tokens, highest score first, then leftmost; stale pairs are skipped.
    func merge(_ p: UnsafePointer<UInt8>, _ n: Int, scratch s: inout SentencePieceScratch, into out: inout [Int32]) {
        s.reset()
        var i = 0
        while i < n {
            let w = min(n - i, UTF8Decoding.width(p[i]))
            let k = Int32(s.start.count)
            s.start.append(Int32(i)); s.length.append(Int32(w)); s.token.append(-1)
            s.prev.append(k - 1); s.next.append(i + w < n ? k + 1 : -1)
            i += w
        }
        func tryAdd(_ left: Int32, _ right: Int32, _ s: inout SentencePieceScratch) {
            guard left >= 0, right >= 0 else { return }
            let size = s.length[Int(left)] + s.length[Int(right)]
            guard let id = byText.find(p + Int(s.start[Int(left)]), Int(size)) else { return }
            s.push(Bigram(score: scores[Int(id)], left: left, right: right, size: size, id: id))
        }
        for k in 1..<Int32(s.start.count) { tryAdd(k - 1, k, &s) }
        while let b = s.pop() {
            let l = Int(b.left), r = Int(b.right)
            if s.length[l] == 0 || s.length[r] == 0 || s.length[l] + s.length[r] != b.size { continue }
            s.length[l] += s.length[r]
            s.length[r] = 0
            s.token[l] = b.id
            s.next[l] = s.next[r]
            if s.next[r] >= 0 { s.prev[Int(s.next[r])] = b.left }
            tryAdd(s.prev[l], b.left, &s)
            tryAdd(b.left, s.next[l], &s)
        }
        // llama.cpp's resegment: a merged symbol is always a token; a lone character may not be, and then its bytes are.
        var k: Int32 = 0
        while k >= 0 {
            let start = Int(s.start[Int(k)]), len = Int(s.length[Int(k)])
            if s.token[Int(k)] >= 0 { out.append(s.token[Int(k)]) }
            else if let id = byText.find(p + start, len) { out.append(id) }
            else { for j in 0..<len where byteToken[Int(p[start + j])] >= 0 { out.append(byteToken[Int(p[start + j])]) } }
            k = s.next[Int(k)]
        }
    }

    // MARK: - Hugging Face merges

    /// Merges as transformers' SentencePieceExtractor derives them (generate_merges): every split of a token
    /// into two tokens, ordered by the token's score (highest first), then longer left, then longer right;
    /// ties keep vocabulary order.
    public func merges() -> [(String, String)] {
        var found: [(left: Int32, right: Int32, score: Float, lengths: (Int, Int))] = []
        for (merged, t) in tokens.enumerated() {
            let scalars = Array(t.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(Int32, Int32, Int)] = []
            var left = String.UnicodeScalarView()
            for k in 1..<scalars.count {
                left.append(scalars[k - 1])
                var right = String.UnicodeScalarView()
                right.append(contentsOf: scalars[k...])
                if let l = id(of: String(left)), let r = id(of: String(right)) { local.append((l, r, k)) }
            }
            local.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            for (l, r, k) in local { found.append((l, r, scores[merged], (k, scalars.count - k))) }
        }
        let order = found.indices.sorted { a, b in
            let x = found[a], y = found[b]
            if x.score != y.score { return x.score > y.score }
            if x.lengths.0 != y.lengths.0 { return x.lengths.0 > y.lengths.0 }
            if x.lengths.1 != y.lengths.1 { return x.lengths.1 > y.lengths.1 }
            return a < b
        }
        return order.map { (tokens[Int(found[$0].left)], tokens[Int(found[$0].right)]) }
    }
}

/// A candidate merge: two adjacent symbols whose text is token `id`.
struct Bigram {
    var score: Float
    var left: Int32, right: Int32
    var size: Int32
    var id: Int32

    /// llama.cpp's queue order: higher score first, then the leftmost.
    @inline(__always) func before(_ o: Bigram) -> Bool { score > o.score || (score == o.score && left < o.left) }
}

/// Buffers reused across the parts of one encode call, and its cache of parts seen.
struct SentencePieceScratch {
    var start: [Int32] = [], length: [Int32] = [], prev: [Int32] = [], next: [Int32] = [], token: [Int32] = []
    var heap: [Bigram] = []
    var cache = PieceCache()

    mutating func reset() {
        start.removeAll(keepingCapacity: true); length.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true); next.removeAll(keepingCapacity: true)
        token.removeAll(keepingCapacity: true); heap.removeAll(keepingCapacity: true)
    }

    mutating func push(_ b: Bigram) {
        heap.append(b)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].before(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Bigram? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l].before(heap[m]) { m = l }
                if r < heap.count && heap[r].before(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
