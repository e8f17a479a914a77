// DocumentChunker: a document's text cut into windows of at most N tokens that overlap by K, on word boundaries.
// Token counts are exact for tokenizers that split on whitespace first (WordPiece: a text's tokens are the sum of its
// words'), and each chunk remembers its character range and the heading it sits under (Markdown #, reST underlines),
// which answers cite. A heading starts a new chunk, and overlaps do not reach back into the previous section.
import ForgeCore
import Foundation

/// One window of a document.
public struct TextChunk: Sendable, Equatable {
    public var text: String
    /// Offsets in the document's characters (Unicode scalars).
    public var characters: Range<Int>
    /// Token offsets in the document.
    public var tokens: Range<Int>
    /// The heading the chunk starts under, if the document has headings.
    public var section: String?
}

/// Cuts texts into overlapping token windows.
public struct DocumentChunker: Sendable {
    public var maxTokens: Int
    public var overlap: Int

    public init(maxTokens: Int = 200, overlap: Int = 40) throws {
        guard maxTokens > 0, overlap >= 0, overlap < maxTokens else {
            throw ForgeError("chunking: need 0 ≤ overlap (\(overlap)) < tokens per chunk (\(maxTokens))")
        }
        (self.maxTokens, self.overlap) = (maxTokens, overlap)
    }

    /// The chunks of `text`; `tokenCount` gives a word's tokens (a word longer than a chunk is a chunk of its own).
    public func chunks(_ text: String, tokenCount: (Substring) -> Int) -> [TextChunk] {
        let scalars = Array(text.unicodeScalars)
        // Words with their scalar ranges and token counts, and the heading each starts under.
        var words: [(range: Range<Int>, tokens: Int, section: String?, part: Int)] = []
        let headings = Self.headings(scalars)
        var h = 0, section: String? = nil
        var i = 0
        while i < scalars.count {
            while i < scalars.count && scalars[i].properties.isWhitespace { i += 1 }
            let start = i
            while i < scalars.count && !scalars[i].properties.isWhitespace { i += 1 }
            guard i > start else { break }
            while h < headings.count && headings[h].offset <= start { section = headings[h].title; h += 1 }
            var word = String.UnicodeScalarView()
            word.append(contentsOf: scalars[start..<i])
            words.append((start..<i, max(1, tokenCount(Substring(String(word)))), section, h))
        }
        var out: [TextChunk] = []
        var first = 0, tokenStart = 0
        while first < words.count {
            var last = first, tokens = words[first].tokens
            // A chunk does not run past the end of its section (a heading starts a new chunk).
            while last + 1 < words.count && words[last + 1].part == words[first].part && tokens + words[last + 1].tokens <= maxTokens {
                last += 1; tokens += words[last].tokens
            }
            let range = words[first].range.lowerBound..<words[last].range.upperBound
            var chunkText = String.UnicodeScalarView()
            chunkText.append(contentsOf: scalars[range])
            out.append(TextChunk(text: String(chunkText), characters: range, tokens: tokenStart..<(tokenStart + tokens),
                                 section: words[first].section))
            guard last + 1 < words.count else { break }
            // Step back over whole words worth at most `overlap` tokens, always moving forward by at least one word.
            var next = last + 1, back = 0
            while next - 1 > first && words[next - 1].part == words[last + 1].part && back + words[next - 1].tokens <= overlap {
                next -= 1; back += words[next].tokens
            }
            tokenStart += tokens - back
            first = next
        }
        return out
    }

    /// Markdown ATX headings ("## Title") and reST titles (a line underlined by a run of = - ~ ^ * + # of its length).
    static func headings(_ s: [Unicode.Scalar]) -> [(offset: Int, title: String)] {
        var lines: [(start: Int, text: String)] = []
        var start = 0
        for (i, c) in s.enumerated() where c == "\n" {
            var t = String.UnicodeScalarView(); t.append(contentsOf: s[start..<i])
            lines.append((start, String(t)))
            start = i + 1
        }
        var tail = String.UnicodeScalarView(); tail.append(contentsOf: s[start..<s.count])
        lines.append((start, String(tail)))
        var out: [(Int, String)] = []
        for (n, line) in lines.enumerated() {
            let t = line.text.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("#") {
                let title = t.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
                if !title.isEmpty && t.prefix { $0 == "#" }.count <= 6 { out.append((line.start, title)) }
            } else if n + 1 < lines.count, !t.isEmpty {
                let u = lines[n + 1].text.trimmingCharacters(in: .whitespaces)
                if let c = u.first, "=-~^*+#".contains(c), u.count >= 3, u.allSatisfy({ $0 == c }), u.count >= t.count {
                    out.append((line.start, t))
                }
            }
        }
        return out
    }
}
