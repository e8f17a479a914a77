// UTF8Ranges: a set of Unicode scalars as byte patterns. Each range is cut where the encoded length changes and
// where a continuation byte wraps, until every piece encodes as one sequence of byte ranges (the construction of
// RE2 and Rust's regex-syntax). Surrogates (U+D800–U+DFFF) are never produced: they are not valid UTF-8.

/// Scalar ranges as the UTF-8 byte sequences that encode them.
public enum UTF8Ranges {
    /// A grammar expression matching exactly one scalar of `ranges`, encoded in UTF-8.
    public static func expr(_ ranges: [ClosedRange<UInt32>]) -> GrammarExpr {
        var sequences: [[ClosedRange<UInt8>]] = []
        for r in normalized(ranges) { sequences += byteSequences(r) }
        // One-byte pieces merge into a single class.
        let single = sequences.filter { $0.count == 1 }.map { $0[0] }
        var options: [GrammarExpr] = single.isEmpty ? [] : [.byteRanges(single)]
        for s in sequences where s.count > 1 { options.append(.seq(s.map { .byteRanges([$0]) })) }
        return options.isEmpty ? .choice([]) : .alt(options)
    }

    /// Sorted, merged, clipped to valid scalars.
    public static func normalized(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var pieces: [ClosedRange<UInt32>] = []
        for r in ranges {
            let lo = r.lowerBound, hi = min(r.upperBound, 0x10FFFF)
            guard lo <= hi else { continue }
            // Without the surrogates.
            if lo < 0xD800 { pieces.append(lo...min(hi, 0xD7FF)) }
            if hi > 0xDFFF { pieces.append(max(lo, 0xE000)...hi) }
        }
        pieces.sort { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<UInt32>] = []
        for p in pieces {
            if let last = out.last, p.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, p.upperBound)
            } else {
                out.append(p)
            }
        }
        return out
    }

    /// The complement of `ranges` among all scalars.
    public static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in normalized(ranges) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return normalized(out)
    }

    static func byteSequences(_ r: ClosedRange<UInt32>) -> [[ClosedRange<UInt8>]] {
        // Cut at the encoded-length boundaries first.
        for boundary: UInt32 in [0x7F, 0x7FF, 0xFFFF] where r.lowerBound <= boundary && r.upperBound > boundary {
            return byteSequences(r.lowerBound...boundary) + byteSequences((boundary + 1)...r.upperBound)
        }
        let lo = r.lowerBound, hi = r.upperBound
        let n = encode(lo).count
        if n > 1 {
            for i in 1..<n {
                let m: UInt32 = (1 << (6 * UInt32(i))) - 1
                if lo & ~m != hi & ~m {
                    if lo & m != 0 { return byteSequences(lo...(lo | m)) + byteSequences(((lo | m) + 1)...hi) }
                    if hi & m != m { return byteSequences(lo...((hi & ~m) - 1)) + byteSequences((hi & ~m)...hi) }
                }
            }
        }
        return [zip(encode(lo), encode(hi)).map { $0...$1 }]
    }

    /// The UTF-8 bytes of a scalar value.
    static func encode(_ v: UInt32) -> [UInt8] {
        switch v {
        case ..<0x80: return [UInt8(v)]
        case ..<0x800: return [UInt8(0xC0 | v >> 6), UInt8(0x80 | v & 0x3F)]
        case ..<0x10000: return [UInt8(0xE0 | v >> 12), UInt8(0x80 | v >> 6 & 0x3F), UInt8(0x80 | v & 0x3F)]
        default: return [UInt8(0xF0 | v >> 18), UInt8(0x80 | v >> 12 & 0x3F), UInt8(0x80 | v >> 6 & 0x3F), UInt8(0x80 | v & 0x3F)]
        }
    }
}
