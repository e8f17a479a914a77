// PreTokenizer: splits text into pieces before BPE, as a sequence of steps over UTF-8 byte ranges.
// Covers the Hugging Face pre-tokenizers used by byte-level BPE models (Split, Digits, ByteLevel,
// Sequence) and llama.cpp's per-model regex lists.
import ForgeCore

/// One splitting step.
public enum PreTokenizerStep: Sendable {
    /// Split every piece on a pattern. `isolated` keeps matches and the text between them as
    /// pieces; `removed` drops the matches. `invert` swaps what counts as a match.
    case split(PatternMatcher, behavior: SplitBehavior, invert: Bool)
    /// Byte-level pre-tokenizer: optionally a space in front of each piece, then (with `useRegex`)
    /// the GPT-2 pattern.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
}

/// Hugging Face's split behaviours (the ones byte-level tokenizers use).
public enum SplitBehavior: String, Sendable {
    case isolated = "Isolated", removed = "Removed", mergedWithPrevious = "MergedWithPrevious",
         mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// A pattern: SplitRegex finds its matches; a fast splitter, when one exists, produces the
/// isolated pieces (matches and the text between them) directly.
public struct PatternMatcher: @unchecked Sendable {
    public let pattern: String
    let fast: PatternSplitter?
    let regex: SplitRegex

    /// Compiles `pattern` (a regular expression); `forceRegex` skips the fast splitters (tests).
    public init(regex pattern: String, forceRegex: Bool = false) throws {
        self.pattern = pattern
        regex = try SplitRegex(pattern)
        fast = forceRegex ? nil : PatternSplitter.known(pattern)
    }

    /// A literal string pattern.
    public init(literal: String) throws {
        var escaped = ""
        for u in literal.unicodeScalars {
            if "\\.^$|?*+()[]{}".unicodeScalars.contains(u) { escaped += "\\" }
            escaped.unicodeScalars.append(u)
        }
        try self.init(regex: escaped)
    }

    /// Match ranges (bytes) in `bytes[range]`.
    func matches(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, scratch: inout [UInt32], offsets: inout [Int]) -> [Range<Int>] {
        scratch.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var i = range.lowerBound
        while i < range.upperBound {
            let (cp, w) = UTF8Decoding.decode(bytes, i, range.upperBound)
            scratch.append(cp)
            offsets.append(i)
            i += w
        }
        offsets.append(range.upperBound)
        return scratch.withUnsafeBufferPointer { cps in
            regex.matches(in: cps, 0..<cps.count).map { offsets[$0.lowerBound]..<offsets[$0.upperBound] }
        }
    }
}

/// UTF-8 decoding that never traps: malformed bytes decode one at a time as U+FFFD.
enum UTF8Decoding {
    /// Length of the sequence a lead byte announces, as llama.cpp's unicode_len_utf8 reads it (1 for a stray continuation byte).
    @inline(__always) static func width(_ lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    @inline(__always)
    static func decode(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> (UInt32, Int) {
        let b0 = b[i]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        func cont(_ k: Int) -> UInt32? { i + k < end && b[i + k] & 0xC0 == 0x80 ? UInt32(b[i + k] & 0x3F) : nil }
        if b0 >= 0xC2 && b0 < 0xE0, let c1 = cont(1) { return ((UInt32(b0) & 0x1F) << 6 | c1, 2) }
        if b0 >= 0xE0 && b0 < 0xF0, let c1 = cont(1), let c2 = cont(2) {
            let v = (UInt32(b0) & 0x0F) << 12 | c1 << 6 | c2
            if v >= 0x800 && !(0xD800...0xDFFF).contains(v) { return (v, 3) }
        }
        if b0 >= 0xF0 && b0 < 0xF5, let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
            let v = (UInt32(b0) & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            if v >= 0x10000 && v <= 0x10FFFF { return (v, 4) }
        }
        return (0xFFFD, 1)
    }
}

/// Text being pre-tokenized: UTF-8 bytes and the pieces found so far.
public struct PreTokenized {
    public var bytes: [UInt8]
    public var pieces: [Range<Int>]
}

/// A sequence of steps.
public struct PreTokenizer: Sendable {
    public var steps: [PreTokenizerStep]

    public init(steps: [PreTokenizerStep]) { self.steps = steps }

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let gpt2Matcher = try! PatternMatcher(regex: gpt2Pattern)

    /// Splits `bytes` (one text segment) into pieces.
    public func split(_ bytes: [UInt8]) -> PreTokenized {
        var t = PreTokenized(bytes: bytes, pieces: bytes.isEmpty ? [] : [0..<bytes.count])
        if steps.count == 1, case .split(let m, .isolated, false) = steps[0], let fast = m.fast {
            // The common case: one fast split over the whole text.
            var pieces: [Range<Int>] = []
            pieces.reserveCapacity(bytes.count / 3)
            bytes.withUnsafeBufferPointer { fast.split($0, 0..<bytes.count, into: &pieces) }
            t.pieces = pieces
            return t
        }
        var scratch: [UInt32] = [], offsets: [Int] = []
        for step in steps {
            switch step {
            case .split(let m, let behavior, let invert):
                t.pieces = Self.apply(m, behavior: behavior, invert: invert, to: t, scratch: &scratch, offsets: &offsets)
            case .byteLevel(let addPrefixSpace, let useRegex):
                if addPrefixSpace { t = Self.prefixSpaces(t) }
                if useRegex {
                    t.pieces = Self.apply(Self.gpt2Matcher, behavior: .isolated, invert: false, to: t, scratch: &scratch, offsets: &offsets)
                }
            }
        }
        return t
    }

    static func apply(_ m: PatternMatcher, behavior: SplitBehavior, invert: Bool, to t: PreTokenized,
                      scratch: inout [UInt32], offsets: inout [Int]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(t.pieces.count * 2)
        t.bytes.withUnsafeBufferPointer { buf in
            for piece in t.pieces {
                if let fast = m.fast, behavior == .isolated, !invert {
                    fast.split(buf, piece, into: &out)
                    continue
                }
                // Classify into (range, isMatch) segments, then combine per behaviour.
                var segs: [(Range<Int>, Bool)] = []
                var last = piece.lowerBound
                for r in m.matches(buf, piece, scratch: &scratch, offsets: &offsets) {
                    if r.lowerBound > last { segs.append((last..<r.lowerBound, invert)) }
                    segs.append((r, !invert))
                    last = r.upperBound
                }
                if last < piece.upperBound { segs.append((last..<piece.upperBound, invert)) }
                switch behavior {
                case .isolated: out += segs.map(\.0)
                case .removed: out += segs.filter { !$0.1 }.map(\.0)
                case .mergedWithPrevious:
                    var cur: Range<Int>?
                    for (r, isMatch) in segs {
                        if isMatch, let c = cur { cur = c.lowerBound..<r.upperBound } else { if let c = cur { out.append(c) }; cur = r }
                    }
                    if let c = cur { out.append(c) }
                case .mergedWithNext:
                    var pending: Range<Int>?
                    for (r, isMatch) in segs {
                        let merged = pending.map { $0.lowerBound..<r.upperBound } ?? r
                        if isMatch { pending = merged } else { out.append(merged); pending = nil }
                    }
                    if let p = pending { out.append(p) }
                case .contiguous:
                    var cur: (Range<Int>, Bool)?
                    for (r, isMatch) in segs {
                        if let c = cur, c.1 && isMatch { cur = (c.0.lowerBound..<r.upperBound, true) }
                        else { if let c = cur { out.append(c.0) }; cur = (r, isMatch) }
                    }
                    if let c = cur { out.append(c.0) }
                }
            }
        }
        return out.filter { !$0.isEmpty }
    }

    /// Puts a space in front of every piece that does not start with one (Hugging Face ByteLevel).
    static func prefixSpaces(_ t: PreTokenized) -> PreTokenized {
        var bytes: [UInt8] = [], pieces: [Range<Int>] = []
        bytes.reserveCapacity(t.bytes.count + t.pieces.count)
        for p in t.pieces {
            let start = bytes.count
            if t.bytes[p.lowerBound] != 32 { bytes.append(32) }
            bytes += t.bytes[p]
            pieces.append(start..<bytes.count)
        }
        return PreTokenized(bytes: bytes, pieces: pieces)
    }
}

