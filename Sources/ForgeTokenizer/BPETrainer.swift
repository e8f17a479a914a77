// BPETrainer: learns a byte-level BPE vocabulary from text.
//
// 1. Count: texts are pre-tokenized (on all workers, each with its own table) and only the distinct
//    pieces and their counts are kept, never the text, so memory follows the vocabulary of pieces.
// 2. Merge: pair counts are indexed by the words that contain them. Each step takes the most frequent
//    pair from a max-heap (stale entries are re-checked when popped), rewrites only the words that
//    contain it, and updates the counts of the pairs those words gain and lose.
// Ids: 0–255 are the bytes, merges follow in order, special tokens come last.
import ForgeCore
import Foundation

/// Settings of a training run.
public struct BPETrainingOptions: Sendable {
    public var vocabSize = 8192
    /// Pre-tokenizer regex (the GPT-2 pattern by default; `BPETrainingOptions.llama3Pattern` is the other usual one).
    public var pattern = BPETrainingOptions.gpt2Pattern
    public var specialTokens = ["<|bos|>", "<|eos|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    /// Pairs seen fewer times than this are never merged.
    public var minFrequency = 2

    public static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    public init() {}
}

/// Counts of distinct pre-tokenized pieces, mergeable across workers.
public struct PieceCounts {
    var map = BytesMap(capacity: 1 << 16)
    var counts: [Int] = []

    public init() {}

    public var distinct: Int { counts.count }

    mutating func add(_ p: UnsafePointer<UInt8>, _ n: Int, _ c: Int) {
        if let i = map.find(p, n) { counts[Int(i)] += c } else { map.insert(p, n, Int32(counts.count)); counts.append(c) }
    }

    /// Adds another table's counts.
    public mutating func merge(_ other: PieceCounts) {
        other.map.forEach { p, n, v in add(p, n, other.counts[Int(v)]) }
    }
}

extension BytesMap {
    /// Calls `body` with every key and its value.
    func forEach(_ body: (UnsafePointer<UInt8>, Int, Int32) -> Void) {
        arenaBytes { arena in
            for e in 0..<values.count { body(arena + Int(entryOffset(e)), Int(entryLength(e)), values[e]) }
        }
    }
}

public enum BPETrainer {
    /// Counts the pieces of `texts` under `pattern` on all workers.
    public static func count(_ texts: [String], pattern: String) throws -> PieceCounts {
        let pre = PreTokenizer(steps: [.split(try PatternMatcher(regex: pattern), behavior: .isolated, invert: false)])
        let parts = max(1, min(texts.count, Parallel.threads * 4))
        var tables = [PieceCounts](repeating: PieceCounts(), count: parts)
        tables.withUnsafeMutableBufferPointer { t in
            Parallel.forEachTask(parts) { part in
                var local = PieceCounts()
                for i in stride(from: part, to: texts.count, by: parts) {
                    let p = pre.split(Array(texts[i].utf8))
                    p.bytes.withUnsafeBufferPointer { b in
                        for r in p.pieces { local.add(b.baseAddress! + r.lowerBound, r.count, 1) }
                    }
                }
                t[part] = local
            }
        }
        var total = tables[0]
        for t in tables.dropFirst() { total.merge(t) }
        return total
    }

    /// Learns merges from piece counts and returns the tokenizer.
    public static func train(_ counts: PieceCounts, options: BPETrainingOptions,
                             progress: ((Int, Int) -> Void)? = nil) throws -> BPETokenizer {
        let specials = options.specialTokens
        guard options.vocabSize >= 256 + specials.count else {
            throw ForgeError("vocabulary size \(options.vocabSize) is smaller than 256 bytes + \(specials.count) special tokens")
        }
        guard Set(specials).count == specials.count else { throw ForgeError("special tokens repeat") }
        let targetMerges = options.vocabSize - 256 - specials.count

        // Words as symbol arrays.
        var words: [[Int32]] = []
        var freq: [Int] = []
        counts.map.forEach { p, n, v in
            guard n > 1 else { return }
            words.append((0..<n).map { Int32(p[$0]) })
            freq.append(counts.counts[Int(v)])
        }
        var pairCount: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        for (w, word) in words.enumerated() {
            for i in 0..<(word.count - 1) {
                let k = key(word[i], word[i + 1])
                pairCount[k, default: 0] += freq[w]
                pairWords[k, default: []].append(Int32(w))
            }
        }
        // Max-heap on (count, then smaller pair key).
        var heap = BinaryHeap<(Int, UInt64)> { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        for (k, c) in pairCount { heap.push((c, k)) }

        var tokenBytes: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var merges: [(Int32, Int32)] = []
        while merges.count < targetMerges, let (c, k) = heap.pop() {
            let current = pairCount[k] ?? 0
            if current != c { if current > 0 { heap.push((current, k)) }; continue }
            if c < options.minFrequency { break }
            let a = Int32(truncatingIfNeeded: k >> 32), b = Int32(truncatingIfNeeded: k)
            let newId = Int32(tokenBytes.count)
            tokenBytes.append(tokenBytes[Int(a)] + tokenBytes[Int(b)])
            merges.append((a, b))
            var touched = Set<UInt64>()
            var seen = Set<Int32>()
            for w32 in pairWords[k] ?? [] where seen.insert(w32).inserted {
                let w = Int(w32)
                var word = words[w]
                guard word.count > 1 else { continue }
                // Take out the word's pairs, merge, put the new pairs in.
                for i in 0..<(word.count - 1) { pairCount[key(word[i], word[i + 1]), default: 0] -= freq[w] }
                var out: [Int32] = []
                out.reserveCapacity(word.count)
                var i = 0
                while i < word.count {
                    if i + 1 < word.count && word[i] == a && word[i + 1] == b { out.append(newId); i += 2 } else { out.append(word[i]); i += 1 }
                }
                word = out
                for j in 0..<max(0, word.count - 1) {
                    let nk = key(word[j], word[j + 1])
                    pairCount[nk, default: 0] += freq[w]
                    if word[j] == newId || word[j + 1] == newId {
                        pairWords[nk, default: []].append(w32)
                        touched.insert(nk)
                    }
                }
                words[w] = word
            }
            pairCount[k] = nil
            pairWords[k] = nil
            for nk in touched { if let c = pairCount[nk], c > 0 { heap.push((c, nk)) } }
            progress?(merges.count, targetMerges)
        }

        // Assemble the tokenizer.
        var vocab: [(String, Int32)] = tokenBytes.enumerated().map { (ByteLevel.encode($0.element), Int32($0.offset)) }
        let mergeStrings = merges.map { (ByteLevel.encode(tokenBytes[Int($0.0)]), ByteLevel.encode(tokenBytes[Int($0.1)])) }
        var added: [AddedToken] = []
        for (i, s) in specials.enumerated() {
            let id = Int32(tokenBytes.count + i)
            vocab.append((s, id))
            added.append(AddedToken(id: id, content: s, special: true))
        }
        let model = try BPEModel(vocab: vocab, merges: mergeStrings, ignoreMerges: false, unkToken: nil)
        let preJSON: [String: Any] = ["type": "Sequence", "pretokenizers": [
            ["type": "Split", "pattern": ["Regex": options.pattern], "behavior": "Isolated", "invert": false] as [String: Any],
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
        ]]
        let pre = PreTokenizer(steps: [.split(try PatternMatcher(regex: options.pattern), behavior: .isolated, invert: false),
                                       .byteLevel(addPrefixSpace: false, useRegex: false)])
        let t = BPETokenizer(model: model, preTokenizer: pre, preTokenizerJSON: preJSON, normalizer: nil, addedTokens: added,
                             origin: "trained (vocab \(options.vocabSize))")
        t.bosId = added.first { $0.content == "<|bos|>" }?.id
        t.eosId = added.first { $0.content == "<|eos|>" }?.id
        t.padId = added.first { $0.content == "<|pad|>" }?.id
        return t
    }
}
