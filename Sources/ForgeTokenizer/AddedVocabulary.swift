// AddedVocabulary: tokens matched as whole strings in the raw text before anything else
// (special tokens such as <|im_start|>, and user-defined ones). Special tokens are recognised only
// when the caller asks; non-special added tokens always are. Matching is leftmost-longest.

/// One added token.
public struct AddedToken: Sendable, Equatable {
    public var id: Int32
    public var content: String
    public var special: Bool
    public var lstrip = false
    public var rstrip = false
    public var normalized = false

    public init(id: Int32, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false, normalized: Bool = false) {
        (self.id, self.content, self.special, self.lstrip, self.rstrip, self.normalized) = (id, content, special, lstrip, rstrip, normalized)
    }
}

/// A piece of input: text to pre-tokenize, or an added token already recognised.
enum Segment {
    case text(Range<Int>)
    case token(Int32)
}

struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    /// For each first byte, indices of tokens starting with it, longest first.
    private let byFirstByte: [[Int]]
    private let contents: [[UInt8]]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        let contents = tokens.map { Array($0.content.utf8) }
        var table = [[Int]](repeating: [], count: 256)
        for (i, c) in contents.enumerated() where !c.isEmpty { table[Int(c[0])].append(i) }
        for b in 0..<256 { table[b].sort { contents[$0].count > contents[$1].count } }
        self.contents = contents
        byFirstByte = table
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `bytes` into text segments and recognised tokens.
    func split(_ bytes: [UInt8], allowSpecial: Bool) -> [Segment] {
        guard !tokens.isEmpty else { return bytes.isEmpty ? [] : [.text(0..<bytes.count)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            var matched = -1
            for t in byFirstByte[Int(bytes[i])] where allowSpecial || !tokens[t].special {
                let c = contents[t]
                if i + c.count <= n && bytes[i..<(i + c.count)].elementsEqual(c) { matched = t; break }
            }
            guard matched >= 0 else { i += 1; continue }
            let tok = tokens[matched]
            var textEnd = i
            if tok.lstrip { while textEnd > textStart && isSpace(bytes[textEnd - 1]) { textEnd -= 1 } }
            if textEnd > textStart { out.append(.text(textStart..<textEnd)) }
            out.append(.token(tok.id))
            i += contents[matched].count
            if tok.rstrip { while i < n && isSpace(bytes[i]) { i += 1 } }
            textStart = i
        }
        if textStart < n { out.append(.text(textStart..<n)) }
        return out
    }

    private func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }
}
