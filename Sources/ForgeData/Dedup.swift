// Dedup: exact duplicates by a hash of normalized content, and near duplicates by MinHash with
// LSH banding. Both keep the first document of a group (input order) and name it as the reason the
// others are removed; near-duplicate groups are reported as clusters.
import ForgeCore
import Foundation

/// Exact-dedup settings (pipeline file section "exact_dedup").
public struct ExactDedupOptions: Codable, Sendable, Equatable {
    public var enabled = true
    public init() {}
}

/// Near-dedup settings (pipeline file section "near_dedup"); defaults are the usual web settings
/// (word 5-grams, 128 permutations in 16 bands of 8, Jaccard 0.8).
public struct NearDedupOptions: Codable, Sendable, Equatable {
    public enum Shingle: String, Codable, Sendable { case word, char }
    public enum Spelling: String, Codable, Sendable {
        case none
        /// Early-modern English: v→u, j→i, doubled letters single, a final e dropped ("vnfold" = "unfold").
        case earlyModern = "early-modern"
    }
    public var enabled = true
    public var shingle: Shingle = .word
    public var shingleSize = 5
    public var permutations = 128
    public var bands = 16
    public var threshold = 0.8
    public var spelling: Spelling = .none
    public var seed: UInt64 = 42

    public init() {}
    enum CodingKeys: String, CodingKey { case enabled, shingle, shingleSize = "shingle_size", permutations, bands, threshold, spelling, seed }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        let x = NearDedupOptions()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? x.enabled
        shingle = try c.decodeIfPresent(Shingle.self, forKey: .shingle) ?? x.shingle
        shingleSize = try c.decodeIfPresent(Int.self, forKey: .shingleSize) ?? x.shingleSize
        permutations = try c.decodeIfPresent(Int.self, forKey: .permutations) ?? x.permutations
        bands = try c.decodeIfPresent(Int.self, forKey: .bands) ?? x.bands
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? x.threshold
        spelling = try c.decodeIfPresent(Spelling.self, forKey: .spelling) ?? x.spelling
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? x.seed
    }

    public func validate() throws {
        guard shingleSize > 0, permutations > 0, bands > 0, permutations % bands == 0 else {
            throw ForgeError("near_dedup: permutations (\(permutations)) must be a positive multiple of bands (\(bands)), shingle_size positive")
        }
        guard (0...1).contains(threshold) else { throw ForgeError("near_dedup: threshold must be in 0...1") }
    }
}

/// 64-bit hash of bytes (FNV-1a, then a final mix).
@inline(__always) func hash64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    h ^= h >> 33; h = h &* 0xff51_afd7_ed55_8ccd; h ^= h >> 33
    return h
}

/// Exact duplicates: lower-cased, whitespace-collapsed content, hashed to 128 bits.
public struct ExactDeduplicator {
    var seen: [UInt64: (UInt64, String)] = [:]
    public init() {}

    public static func key(_ text: String) -> (UInt64, UInt64) {
        let norm = TextScan.whitespaceWords(text.lowercased()).map { String(String.UnicodeScalarView($0)) }.joined(separator: " ")
        var u = Array(norm.utf8)
        let a = u.withUnsafeBytes { hash64($0) }
        u.append(0xFF)
        let b = u.withUnsafeBytes { hash64($0, seed: 0x9E37_79B9_7F4A_7C15) }
        return (a, b)
    }

    /// The id of the earlier document with the same content, or nil (and the key is remembered).
    public mutating func check(id: String, key: (UInt64, UInt64)) -> String? {
        if let (b, first) = seen[key.0], b == key.1 { return first }
        seen[key.0] = (key.1, id)
        return nil
    }
}

/// MinHash signatures and LSH banding.
public struct MinHasher: Sendable {
    public let options: NearDedupOptions
    let a: [UInt64], b: [UInt64]

    public init(_ options: NearDedupOptions) {
        self.options = options
        var rng = RNG(seed: options.seed)
        a = (0..<options.permutations).map { _ in rng.next() | 1 }
        b = (0..<options.permutations).map { _ in rng.next() }
    }

    /// Normalized words (lower-cased letters and digits; spelling normalized if asked).
    func words(_ text: String) -> [String] {
        let w = TextScan.alnumWords(text)
        return options.spelling == .earlyModern ? w.map(MinHasher.earlyModern) : w
    }

    public static func earlyModern(_ w: String) -> String {
        var s = ""
        var last: Character?
        for ch in w {
            let c: Character = ch == "v" ? "u" : ch == "j" ? "i" : ch
            if c != last { s.append(c) }
            last = c
        }
        if s.count > 2, s.hasSuffix("e") { s.removeLast() }
        return s
    }

    /// 64-bit hashes of the document's shingles (distinct).
    public func shingles(_ text: String) -> [UInt64] {
        var hashes: [UInt64] = []
        let k = options.shingleSize
        switch options.shingle {
        case .word:
            let wh: [UInt64] = words(text).map { w in var w = w; return w.withUTF8 { hash64(UnsafeRawBufferPointer($0)) } }
            if wh.count < k { if !wh.isEmpty { hashes.append(wh.reduce(0) { ($0 &* 0x9E37_79B9_7F4A_7C15) ^ $1 }) } ; break }
            hashes.reserveCapacity(wh.count - k + 1)
            for i in 0...(wh.count - k) {
                var h: UInt64 = 0
                for j in 0..<k { h = (h &* 0x9E37_79B9_7F4A_7C15 &+ 0x632B_E59B_D9B4_E019) ^ wh[i + j] }
                hashes.append(h)
            }
        case .char:
            let chars = Array(words(text).joined(separator: " ").unicodeScalars.map(\.value))
            if chars.count >= k {
                for i in 0...(chars.count - k) {
                    var h: UInt64 = 0
                    for j in 0..<k { h = (h &* 0x9E37_79B9_7F4A_7C15 &+ 0x632B_E59B_D9B4_E019) ^ UInt64(chars[i + j]) }
                    hashes.append(h)
                }
            }
        }
        return Array(Set(hashes))
    }

    /// The signature: for each permutation, the minimum of (a·h + b) >> 32 over the shingles.
    public func signature(_ text: String) -> [UInt32] {
        let hs = shingles(text)
        let p = options.permutations
        var sig = [UInt32](repeating: UInt32.max, count: p)
        guard !hs.isEmpty else { return sig }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                sig.withUnsafeMutableBufferPointer { sp in
                    var i = 0
                    while i + 8 <= p {
                        let av = UnsafeRawPointer(ap.baseAddress! + i).loadUnaligned(as: SIMD8<UInt64>.self)
                        let bv = UnsafeRawPointer(bp.baseAddress! + i).loadUnaligned(as: SIMD8<UInt64>.self)
                        var m = SIMD8<UInt64>(repeating: UInt64.max)
                        for h in hs {
                            let v = (av &* SIMD8(repeating: h) &+ bv) &>> 32
                            m = m.replacing(with: v, where: v .< m)
                        }
                        for j in 0..<8 { sp[i + j] = UInt32(truncatingIfNeeded: m[j]) }
                        i += 8
                    }
                    while i < p {
                        var m = UInt64.max
                        for h in hs { m = min(m, (ap[i] &* h &+ bp[i]) >> 32) }
                        sp[i] = UInt32(truncatingIfNeeded: m)
                        i += 1
                    }
                }
            }
        }
        return sig
    }

    /// Estimated Jaccard similarity: the fraction of equal signature entries.
    public static func similarity(_ x: [UInt32], _ y: [UInt32]) -> Double {
        var eq = 0
        for i in 0..<min(x.count, y.count) where x[i] == y[i] { eq += 1 }
        return Double(eq) / Double(max(1, min(x.count, y.count)))
    }
}

/// Streaming near-dedup: each document is compared with the earlier documents it shares an LSH
/// bucket with; it is a duplicate when one of them is at least `threshold` similar.
public struct NearDeduplicator {
    public let options: NearDedupOptions
    var buckets: [[UInt64: [Int32]]]
    var signatures: [[UInt32]] = []
    var ids: [String] = []
    var parent: [Int32] = []
    /// Pairs found similar: (earlier index, later index, estimated Jaccard).
    public private(set) var pairs: [(Int, Int, Double)] = []

    public init(_ options: NearDedupOptions) {
        self.options = options
        buckets = Array(repeating: [:], count: options.bands)
    }

    func find(_ i: Int32) -> Int32 {
        var r = i
        while parent[Int(r)] != r { r = parent[Int(r)] }
        return r
    }

    /// Adds a document; returns (id of the most similar earlier document, similarity) if it is a near duplicate.
    public mutating func add(id: String, signature sig: [UInt32]) -> (String, Double)? {
        let index = Int32(signatures.count)
        let rows = options.permutations / options.bands
        var candidates = Set<Int32>()
        var keys: [UInt64] = []
        for band in 0..<options.bands {
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(band + 1)
            for r in 0..<rows { h = (h ^ UInt64(sig[band * rows + r])) &* 0x100_0000_01b3; h ^= h >> 29 }
            keys.append(h)
            for c in buckets[band][h] ?? [] { candidates.insert(c) }
        }
        var best: (Int32, Double)?
        for c in candidates.sorted() {
            let s = MinHasher.similarity(sig, signatures[Int(c)])
            if s >= options.threshold {
                pairs.append((Int(c), Int(index), s))
                if best == nil || s > best!.1 { best = (c, s) }
            }
        }
        signatures.append(sig)
        ids.append(id)
        parent.append(index)
        for (band, h) in keys.enumerated() { buckets[band][h, default: []].append(index) }
        if let (c, s) = best {
            // Join the earlier document's cluster.
            parent[Int(index)] = find(c)
            return (ids[Int(c)], s)
        }
        return nil
    }

    /// Clusters of more than one document: (first id, other ids).
    public func clusters() -> [(kept: String, removed: [String])] {
        var groups: [Int32: [Int]] = [:]
        for i in 0..<ids.count { groups[find(Int32(i)), default: []].append(i) }
        return groups.values.filter { $0.count > 1 }.map { g in (ids[g[0]], g.dropFirst().map { ids[$0] }) }.sorted { $0.kept < $1.kept }
    }
}
