// WordPieceTokenizer: BERT's tokenizer as Hugging Face `tokenizers` runs it from a tokenizer.json: added tokens
// matched in the raw text, BertNormalizer (clean text, spaces around CJK ideographs, accents stripped, lowercase),
// BertPreTokenizer (split on whitespace, punctuation isolated), greedy longest-match WordPiece with "##"
// continuations, and the [CLS] … [SEP] template. Anything else in the file is an error naming it.
import ForgeCore
import Foundation

/// BERT's WordPiece tokenizer, exact with Hugging Face `tokenizers`.
public final class WordPieceTokenizer: TextTokenizer, @unchecked Sendable {
    let vocab: [String: Int32]
    let pieces: [String]
    let unkId: Int32
    let prefix: String
    let maxCharsPerWord: Int
    let added: AddedVocabulary
    let normalizer: BertNormalization
    /// Ids the template puts before and after a single sequence ([CLS] and [SEP] for BERT).
    public let templatePrefix: [Int32], templateSuffix: [Int32]
    /// The padding and mask ids ([PAD], [MASK]) when the vocabulary has them.
    public let padId: Int32?, maskId: Int32?
    private let source: Data

    public var vocabSize: Int { pieces.count }
    public func id(of token: String) -> Int32? { vocab[token] }

    /// Loads a WordPiece tokenizer.json (errors name the file and the part Forge does not run).
    public static func load(from path: String) throws -> WordPieceTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "no such file or cannot be read") }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ForgeError.file(path, "not a tokenizer.json object")
        }
        do { return try WordPieceTokenizer(json: json, source: data) } catch let e as ForgeError { throw ForgeError.file(path, e.description) }
    }

    init(json: [String: Any], source: Data) throws {
        guard let model = json["model"] as? [String: Any], model["type"] as? String == "WordPiece",
              let v = model["vocab"] as? [String: Any] else { throw ForgeError("model is not a WordPiece model with a vocab") }
        var vocab: [String: Int32] = [:]
        var pieces = [String](repeating: "", count: v.count)
        for (piece, id) in v {
            guard let i = (id as? NSNumber)?.intValue, i >= 0, i < v.count else { throw ForgeError("vocab id of '\(piece)' is not in 0..<\(v.count)") }
            vocab[piece] = Int32(i)
            pieces[i] = piece
        }
        let unk = model["unk_token"] as? String ?? "[UNK]"
        guard let unkId = vocab[unk] else { throw ForgeError("unk_token '\(unk)' is not in the vocab") }
        (self.vocab, self.pieces, self.unkId, self.source) = (vocab, pieces, unkId, source)
        prefix = model["continuing_subword_prefix"] as? String ?? "##"
        maxCharsPerWord = (model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100

        var tokens: [AddedToken] = []
        for case let t as [String: Any] in json["added_tokens"] as? [Any] ?? [] {
            guard let id = (t["id"] as? NSNumber)?.int32Value, let content = t["content"] as? String else { throw ForgeError("an added token lacks id or content") }
            if t["single_word"] as? Bool == true || t["normalized"] as? Bool == true {
                throw ForgeError("added token '\(content)': single_word or normalized added tokens are not supported")
            }
            tokens.append(AddedToken(id: id, content: content, special: t["special"] as? Bool ?? false,
                                     lstrip: t["lstrip"] as? Bool ?? false, rstrip: t["rstrip"] as? Bool ?? false))
        }
        added = AddedVocabulary(tokens)

        guard let n = json["normalizer"] as? [String: Any], n["type"] as? String == "BertNormalizer" else {
            throw ForgeError("normalizer \((json["normalizer"] as? [String: Any])?["type"] ?? "null") is not supported (BertNormalizer is)")
        }
        let lowercase = n["lowercase"] as? Bool ?? true
        normalizer = BertNormalization(cleanText: n["clean_text"] as? Bool ?? true, chineseChars: n["handle_chinese_chars"] as? Bool ?? true,
                                       stripAccents: (n["strip_accents"] as? Bool) ?? lowercase, lowercase: lowercase)
        guard (json["pre_tokenizer"] as? [String: Any])?["type"] as? String == "BertPreTokenizer" else {
            throw ForgeError("pre_tokenizer \((json["pre_tokenizer"] as? [String: Any])?["type"] ?? "null") is not supported (BertPreTokenizer is)")
        }
        var before: [Int32] = [], after: [Int32] = []
        if let post = json["post_processor"] as? [String: Any] {
            switch post["type"] as? String {
            case "TemplateProcessing":
                var seenSequence = false
                for case let item as [String: Any] in post["single"] as? [Any] ?? [] {
                    if item["Sequence"] != nil { seenSequence = true; continue }
                    guard let s = item["SpecialToken"] as? [String: Any], let name = s["id"] as? String, let id = vocab[name] else {
                        throw ForgeError("post_processor template item \(item) is not a known special token")
                    }
                    if seenSequence { after.append(id) } else { before.append(id) }
                }
            case "BertProcessing":
                guard let cls = post["cls"] as? [Any], let sep = post["sep"] as? [Any],
                      let c = (cls.last as? NSNumber)?.int32Value, let s = (sep.last as? NSNumber)?.int32Value else {
                    throw ForgeError("BertProcessing without cls/sep")
                }
                (before, after) = ([c], [s])
            case let other: throw ForgeError("post_processor \(other ?? "?") is not supported")
            }
        }
        (templatePrefix, templateSuffix) = (before, after)
        padId = vocab["[PAD]"]
        maskId = vocab["[MASK]"]
    }

    /// Loads the tokenizer.json of a model dir.
    public static func load(modelDir dir: String) throws -> WordPieceTokenizer { try load(from: dir + "/tokenizer.json") }

    // MARK: - Encoding

    public func encode(_ text: String) -> [Int32] { encode(text, allowSpecial: false, addSpecialTokens: false) }

    /// Text to ids; `allowSpecial` recognises [CLS], [MASK]… written in the text (as `tokenizers` does by default),
    /// `addSpecialTokens` wraps the result in the template.
    public func encode(_ text: String, allowSpecial: Bool, addSpecialTokens: Bool) -> [Int32] {
        var out: [Int32] = addSpecialTokens ? templatePrefix : []
        let bytes = Array(text.utf8)
        for segment in added.split(bytes, allowSpecial: allowSpecial) {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let r): encodeText(String(decoding: bytes[r], as: UTF8.self), into: &out)
            }
        }
        if addSpecialTokens { out += templateSuffix }
        return out
    }

    /// The ids a sentence encoder sees: the template around the text, the text cut so the whole fits `maxLength`.
    public func encodeForModel(_ text: String, maxLength: Int) -> [Int32] {
        var ids = encode(text, allowSpecial: true, addSpecialTokens: false)
        let room = max(0, maxLength - templatePrefix.count - templateSuffix.count)
        if ids.count > room { ids.removeLast(ids.count - room) }
        return templatePrefix + ids + templateSuffix
    }

    /// `encodeForModel` of many texts on all workers, in input order.
    public func encodeBatchForModel(_ texts: [String], maxLength: Int) -> [[Int32]] {
        var results = [[Int32]](repeating: [], count: texts.count)
        results.withUnsafeMutableBufferPointer { res in
            let base = UncheckedPointer(res.baseAddress!)
            Parallel.forEach(texts.count) { r in for i in r { base.p[i] = encodeForModel(texts[i], maxLength: maxLength) } }
        }
        return results
    }

    func encodeText(_ text: String, into out: inout [Int32]) {
        let normalized = normalizer.normalize(text)
        var word: [Unicode.Scalar] = []
        func flush() {
            if !word.isEmpty { wordPiece(word, into: &out); word.removeAll(keepingCapacity: true) }
        }
        for s in normalized.unicodeScalars {
            if s.properties.isWhitespace { flush(); continue }
            if BertNormalization.isPunctuation(s) { flush(); wordPiece([s], into: &out); continue }
            word.append(s)
        }
        flush()
    }

    /// Greedy longest match from the left; a word with an unmatched remainder is one [UNK].
    func wordPiece(_ word: [Unicode.Scalar], into out: inout [Int32]) {
        guard word.count <= maxCharsPerWord else { out.append(unkId); return }
        var ids: [Int32] = []
        var start = 0
        while start < word.count {
            var end = word.count, found: Int32? = nil
            while start < end {
                var piece = start > 0 ? prefix : ""
                piece.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocab[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { out.append(unkId); return }
            ids.append(id)
            start = end
        }
        out += ids
    }

    // MARK: - Decoding

    public func decode(_ ids: [Int32]) -> String { decode(ids, skipSpecial: false) }

    /// Pieces joined by spaces, "##" continuations glued on, and `tokenizers`' cleanup of spaces before punctuation.
    public func decode(_ ids: [Int32], skipSpecial: Bool) -> String {
        let special = Set(added.tokens.filter(\.special).map(\.id))
        var text = ""
        for id in ids where id >= 0 && Int(id) < pieces.count && !(skipSpecial && special.contains(id)) {
            let p = pieces[Int(id)]
            if p.hasPrefix(prefix) { text += p.dropFirst(prefix.count) } else { text += (text.isEmpty ? "" : " ") + p }
        }
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                       (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            text = text.replacingOccurrences(of: a, with: b)
        }
        return text
    }

    /// Writes the tokenizer.json it was read from.
    public func save(to path: String) throws { try AtomicFile.write(path, data: source) }
}

struct UncheckedPointer<T>: @unchecked Sendable { let p: UnsafeMutablePointer<T>; init(_ p: UnsafeMutablePointer<T>) { self.p = p } }

/// BertNormalizer's steps, in `tokenizers`' order.
struct BertNormalization: Sendable {
    let cleanText, chineseChars, stripAccents, lowercase: Bool

    func normalize(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
                if Self.isWhitespace(s) { scalars.append(" "); continue }
            }
            if chineseChars && Self.isChinese(s.value) { scalars.append(" "); scalars.append(s); scalars.append(" "); continue }
            scalars.append(s)
        }
        var out = String(scalars)
        if stripAccents {
            var kept = String.UnicodeScalarView()
            for s in out.decomposedStringWithCanonicalMapping.unicodeScalars where s.properties.generalCategory != .nonspacingMark {
                kept.append(s)
            }
            out = String(kept)
        }
        if lowercase {
            // Code point by code point, as Rust's char::to_lowercase (no final-sigma context).
            var lower = String.UnicodeScalarView()
            for s in out.unicodeScalars {
                if s.properties.changesWhenLowercased { lower.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars) }
                else { lower.append(s) }
            }
            out = String(lower)
        }
        return out
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool { s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace }

    /// Unicode "Other" (Cc, Cf, Cs, Co, Cn) except tab, newline and carriage return.
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// The CJK ideograph blocks `tokenizers` surrounds with spaces.
    static func isChinese(_ c: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(c) || (0x3400...0x4DBF).contains(c) || (0x20000...0x2A6DF).contains(c)
            || (0x2A700...0x2B73F).contains(c) || (0x2B740...0x2B81F).contains(c) || (0x2B920...0x2CEAF).contains(c)
            || (0xF900...0xFAFF).contains(c) || (0x2F800...0x2FA1F).contains(c)
    }

    /// ASCII punctuation (symbols such as $ + < included) or a Unicode punctuation category.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v)
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }
}
