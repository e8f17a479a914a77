// PatternSplitters: hand-written matchers, straight over UTF-8, for the pre-tokenizer patterns that
// nearly every byte-level BPE tokenizer uses. Each gives exactly the pieces SplitRegex gives for its
// pattern (checked in tests on tricky and random text) at a fraction of the cost.
//
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//           (Qwen 2 uses \p{N} for \p{N}{1,3}; Qwen 3.5 uses [\p{L}\p{M}] for \p{L})

/// A fast matcher for one of the known pattern families.
public struct PatternSplitter: Sendable, Equatable {
    public enum Family: Sendable, Equatable {
        case gpt2, llama3
        /// \p{N} (each number character alone) or \p{N}+ (runs), as the Digits pre-tokenizer.
        case numbers(runs: Bool)
    }
    public var family: Family
    /// Longest digit run in one piece (llama3 family).
    public var maxDigits: Int = 3
    /// Letters include marks (Qwen 3.5).
    public var lettersIncludeMarks = false

    /// The splitter for `pattern` if it is one of the known ones (either the Hugging Face spelling or
    /// llama.cpp's adapted one), else nil.
    public static func known(_ pattern: String) -> PatternSplitter? {
        if pattern == #"\p{N}"# { return PatternSplitter(family: .numbers(runs: false)) }
        if pattern == #"\p{N}+"# { return PatternSplitter(family: .numbers(runs: true)) }
        let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
        if pattern == gpt2 || pattern == gpt2 + #"|\s+"# { return PatternSplitter(family: .gpt2) }
        let contractionsHF = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)"#
        let contractionsCpp = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"#
        for c in [contractionsHF, contractionsCpp] {
            let tail = #"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            if pattern == c + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"# + tail { return PatternSplitter(family: .llama3, maxDigits: 3) }
            if pattern == c + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"# + tail { return PatternSplitter(family: .llama3, maxDigits: 1) }
            if pattern == c + #"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"# {
                return PatternSplitter(family: .llama3, maxDigits: 1, lettersIncludeMarks: true)
            }
        }
        return nil
    }

    /// Appends to `out` the pieces of `bytes[range]` (matches and the text between them, in order).
    public func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        let s = Scanner(bytes: bytes, hi: range.upperBound, splitter: self)
        var i = range.lowerBound
        var gapStart = i
        while i < range.upperBound {
            if let e = s.match(at: i) {
                if gapStart < i { out.append(gapStart..<i) }
                out.append(i..<e)
                i = e
                gapStart = e
            } else {
                i += s.width(at: i)
            }
        }
        if gapStart < range.upperBound { out.append(gapStart..<range.upperBound) }
    }

    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        let hi: Int
        let splitter: PatternSplitter

        /// Byte length of the UTF-8 sequence at i (1 for stray bytes).
        @inline(__always) func width(at i: Int) -> Int {
            let b = bytes[i]
            let n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            return min(n, hi - i)
        }

        /// Code point at i (U+FFFD for malformed sequences, which classify as symbols).
        @inline(__always) func scalar(at i: Int) -> UInt32 {
            let b0 = UInt32(bytes[i])
            if b0 < 0x80 { return b0 }
            let w = width(at: i)
            switch w {
            case 2: return (b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F)
            case 3: return (b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F)
            case 4: return (b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F)
            default: return 0xFFFD
            }
        }

        @inline(__always) func cls(at i: Int) -> UnicodeClass { UnicodeClass.of(scalar(at: i)) }

        @inline(__always) func isLetter(_ c: UnicodeClass) -> Bool {
            splitter.lettersIncludeMarks ? !c.isDisjoint(with: [.letter, .mark]) : c.contains(.letter)
        }
        @inline(__always) func isOther(_ c: UnicodeClass) -> Bool {  // [^\s\p{L}\p{N}] (and \p{M} with marks)
            !c.contains(.whitespace) && !isLetter(c) && !c.contains(.number)
        }

        /// End of the contraction at i ('s 't 'm 'd 're 've 'll), if any.
        func contraction(at i: Int, caseless: Bool) -> Int? {
            guard bytes[i] == 39, i + 1 < hi else { return nil }
            func lower(_ b: UInt8) -> UInt8 { caseless && b >= 65 && b <= 90 ? b + 32 : b }
            let a = lower(bytes[i + 1])
            if a == 115 || a == 116 || a == 109 || a == 100 { return i + 2 }  // s t m d
            guard i + 2 < hi else { return nil }
            let b = lower(bytes[i + 2])
            if (a == 114 && b == 101) || (a == 118 && b == 101) || (a == 108 && b == 108) { return i + 3 }  // re ve ll
            return nil
        }

        /// End of the run of code points from i satisfying `pred` (at most `limit` of them).
        @inline(__always) func run(from i: Int, limit: Int = Int.max, _ pred: (UnicodeClass) -> Bool) -> Int {
            var j = i, n = 0
            while j < hi, n < limit, pred(cls(at: j)) { j += width(at: j); n += 1 }
            return j
        }

        /// `\s+(?!\S)|\s+` at a whitespace position i: the run, less its last code point when text follows.
        func whitespace(at i: Int) -> Int {
            var j = i, last = i
            while j < hi, cls(at: j).contains(.whitespace) { last = j; j += width(at: j) }
            if j == hi || last == i { return j }
            return last
        }

        func match(at i: Int) -> Int? {
            switch splitter.family {
            case .gpt2: return matchGPT2(at: i)
            case .llama3: return matchLlama3(at: i)
            case .numbers(let runs):
                // ASCII letters, spaces and punctuation are never numbers: skip the table lookup.
                let b = bytes[i]
                if b < 0x80 && !(b >= 48 && b <= 57) { return nil }
                guard cls(at: i).contains(.number) else { return nil }
                return runs ? run(from: i) { $0.contains(.number) } : i + width(at: i)
            }
        }

        func matchGPT2(at i: Int) -> Int? {
            if let e = contraction(at: i, caseless: false) { return e }
            let j = bytes[i] == 32 && i + 1 < hi ? i + 1 : i
            let c = cls(at: j)
            if c.contains(.letter) { return run(from: j) { $0.contains(.letter) } }
            if c.contains(.number) { return run(from: j) { $0.contains(.number) } }
            if !c.contains(.whitespace) { return run(from: j) { !$0.contains(.whitespace) && !$0.contains(.letter) && !$0.contains(.number) } }
            return whitespace(at: i)
        }

        func matchLlama3(at i: Int) -> Int? {
            if let e = contraction(at: i, caseless: true) { return e }
            let c0 = cls(at: i)
            if isLetter(c0) { return run(from: i, isLetter) }
            let b0 = bytes[i]
            if b0 != 13 && b0 != 10 && !c0.contains(.number) {
                let j = i + width(at: i)
                if j < hi, isLetter(cls(at: j)) { return run(from: j, isLetter) }
            }
            if c0.contains(.number) { return run(from: i, limit: splitter.maxDigits) { $0.contains(.number) } }
            let j = b0 == 32 && i + 1 < hi ? i + 1 : i
            if isOther(cls(at: j)) {
                var e = run(from: j, isOther)
                while e < hi, bytes[e] == 13 || bytes[e] == 10 { e += 1 }
                return e
            }
            if c0.contains(.whitespace) {
                var j = i, lastNewline = -1
                while j < hi, cls(at: j).contains(.whitespace) {
                    if bytes[j] == 13 || bytes[j] == 10 { lastNewline = j }
                    j += width(at: j)
                }
                if lastNewline >= 0 { return lastNewline + 1 }
                return whitespace(at: i)
            }
            return nil
        }
    }
}
