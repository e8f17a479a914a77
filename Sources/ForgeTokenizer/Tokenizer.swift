// Tokenizer: a BPE tokenizer pipeline — added tokens, normalizer, pre-tokenizer, BPE, optional template
// of special tokens — and its decoders (byte-level, or SentencePiece's ▁ and <0xXX> byte fallback).
// Loaded from a Hugging Face tokenizer.json (TokenizerJSON.swift), a GGUF file (GGUFVocab.swift), or
// trained (BPETrainer.swift).
import ForgeCore
import Foundation
import Synchronization

/// What to do with bytes that are not valid UTF-8.
public enum InvalidUTF8Policy: String, Sendable, CaseIterable {
    /// Replace each malformed sequence with U+FFFD.
    case replace
    /// Refuse the input.
    case error
}

/// A BPE tokenizer (byte-level, or byte-fallback as Hugging Face writes SentencePiece vocabularies).
public final class BPETokenizer: TextTokenizer, @unchecked Sendable {
    public let model: BPEModel
    public let preTokenizer: PreTokenizer
    public let normalizer: Normalizer?
    public let addedTokens: [AddedToken]
    let added: AddedVocabulary
    /// Ids put before and after a sequence when special tokens are added (template post-processor).
    public let prefixIds: [Int32]
    public let suffixIds: [Int32]
    public var bosId: Int32?
    public var eosId: Int32?
    public var padId: Int32?
    /// Whether the template puts BOS first.
    public var addsBOS: Bool { bosId != nil && prefixIds.first == bosId }
    /// The Hugging Face JSON of the pre-tokenizer (kept to write tokenizer.json faithfully).
    let preTokenizerJSON: Any
    /// Where the tokenizer came from, for messages ("tokenizer.json", "GGUF pre-tokenizer smollm", ...).
    public let origin: String
    /// Bytes each id decodes to (added tokens: their content).
    let idBytes: [[UInt8]]
    let specialIds: Set<Int32>
    let hasNonSpecialAdded: Bool
    /// Leading spaces `decode` removes (a Hugging Face `Strip` decoder, written with a `Prepend("▁")` normalizer).
    public let decodeStripsSpaces: Int

    public init(model: BPEModel, preTokenizer: PreTokenizer, preTokenizerJSON: Any, normalizer: Normalizer?,
                addedTokens: [AddedToken], prefixIds: [Int32] = [], suffixIds: [Int32] = [], decodeStripsSpaces: Int = 0,
                origin: String) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.preTokenizerJSON = preTokenizerJSON
        self.normalizer = normalizer
        self.addedTokens = addedTokens
        self.added = AddedVocabulary(addedTokens)
        self.prefixIds = prefixIds
        self.suffixIds = suffixIds
        self.origin = origin
        self.decodeStripsSpaces = decodeStripsSpaces
        // Byte fallback decodes as Hugging Face's Replace("▁", " ") + ByteFallback decoders.
        var table = model.byteFallback ? model.tokenStrings.map(Self.sentencePieceBytes) : model.tokenBytes
        let size = max(model.vocabSize, Int(addedTokens.map(\.id).max() ?? -1) + 1)
        if table.count < size { table += [[UInt8]](repeating: [], count: size - table.count) }
        for a in addedTokens { table[Int(a.id)] = Array(a.content.utf8) }
        idBytes = table
        specialIds = Set(addedTokens.filter(\.special).map(\.id))
        hasNonSpecialAdded = addedTokens.contains { !$0.special }
    }

    public var vocabSize: Int { idBytes.count }

    /// The id of a token by its vocabulary string or added-token content.
    public func id(of token: String) -> Int32? {
        if let a = addedTokens.first(where: { $0.content == token }) { return a.id }
        return model.id(ofBytes: model.byteFallback ? Array(token.utf8) : ByteLevel.decode(token) ?? Array(token.utf8))
    }

    // MARK: - Encoding

    /// Plain text to ids; special-token strings are treated as text.
    public func encode(_ text: String) -> [Int32] { encode(text, allowSpecial: false) }

    /// Text to ids. `allowSpecial` recognises special tokens written in the text; `addSpecialTokens`
    /// applies the template (e.g. a leading BOS).
    public func encode(_ text: String, allowSpecial: Bool, addSpecialTokens: Bool) -> [Int32] {
        var cache = PieceCache()
        var out: [Int32] = []
        encode(Array(text.utf8), allowSpecial: allowSpecial, addSpecialTokens: addSpecialTokens, cache: &cache, into: &out)
        return out
    }

    /// Raw bytes to ids, with a policy for invalid UTF-8 (errors give the byte offset).
    public func encode(utf8 bytes: [UInt8], invalid: InvalidUTF8Policy, allowSpecial: Bool) throws -> [Int32] {
        var text = bytes
        if let bad = Self.firstInvalidUTF8(bytes) {
            if invalid == .error { throw ForgeError("invalid UTF-8 at byte \(bad)") }
            text = Array(String(decoding: bytes, as: UTF8.self).utf8)
        }
        var cache = PieceCache()
        var out: [Int32] = []
        encode(text, allowSpecial: allowSpecial, addSpecialTokens: false, cache: &cache, into: &out)
        return out
    }

    /// Encodes many texts on all workers (each takes the next text, largest first); results are in input order.
    public func encodeBatch(_ texts: [String], allowSpecial: Bool) -> [[Int32]] {
        var results = [[Int32]](repeating: [], count: texts.count)
        let order = texts.indices.sorted { texts[$0].utf8.count > texts[$1].utf8.count }
        let next = Atomic<Int>(0)
        results.withUnsafeMutableBufferPointer { res in
            Parallel.forEachTask(Parallel.threads) { _ in
                var cache = PieceCache()
                while true {
                    let k = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard k < order.count else { break }
                    let i = order[k]
                    var out: [Int32] = []
                    encode(Array(texts[i].utf8), allowSpecial: allowSpecial, addSpecialTokens: false, cache: &cache, into: &out)
                    res[i] = out
                }
            }
        }
        return results
    }

    func encode(_ bytes: [UInt8], allowSpecial: Bool, addSpecialTokens: Bool, cache: inout PieceCache, into out: inout [Int32]) {
        if addSpecialTokens { out += prefixIds }
        out.reserveCapacity(out.count + bytes.count / 3)
        if normalizer == nil && (allowSpecial ? added.isEmpty : !hasNonSpecialAdded) {
            // Nothing to split out or rewrite: pre-tokenize the bytes as they are.
            let pre = preTokenizer.split(bytes)
            pre.bytes.withUnsafeBufferPointer { buf in
                for p in pre.pieces { model.encode(buf.baseAddress! + p.lowerBound, p.count, cache: &cache, into: &out) }
            }
            if addSpecialTokens { out += suffixIds }
            return
        }
        for segment in added.split(bytes, allowSpecial: allowSpecial) {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let r):
                var text = Array(bytes[r])
                if let normalizer { text = Array(normalizer.apply(String(decoding: text, as: UTF8.self)).utf8) }
                let pre = preTokenizer.split(text)
                pre.bytes.withUnsafeBufferPointer { buf in
                    for p in pre.pieces { model.encode(buf.baseAddress! + p.lowerBound, p.count, cache: &cache, into: &out) }
                }
            }
        }
        if addSpecialTokens { out += suffixIds }
    }

    /// Byte offset of the first malformed UTF-8 sequence, or nil.
    public static func firstInvalidUTF8(_ b: [UInt8]) -> Int? {
        b.withUnsafeBufferPointer { buf in
            var i = 0
            while i < buf.count {
                if buf[i] < 0x80 { i += 1; continue }
                let (cp, w) = UTF8Decoding.decode(buf, i, buf.count)
                if cp == 0xFFFD && w == 1 && !(i + 2 < buf.count && buf[i] == 0xEF && buf[i + 1] == 0xBF && buf[i + 2] == 0xBD) { return i }
                i += w
            }
            return nil
        }
    }

    // MARK: - Decoding

    /// Ids to text; malformed UTF-8 (from partial tokens) becomes U+FFFD. Unknown ids are skipped.
    public func decode(_ ids: [Int32]) -> String { decode(ids, skipSpecial: false) }

    public func decode(_ ids: [Int32], skipSpecial: Bool) -> String {
        var b = bytes(of: ids, skipSpecial: skipSpecial)
        let strip = b.prefix(decodeStripsSpaces).prefix { $0 == 32 }.count
        if strip > 0 { b.removeFirst(strip) }
        return String(decoding: b, as: UTF8.self)
    }

    /// Bytes of a SentencePiece-style token: "<0xXX>" is that byte, "▁" a space.
    static func sentencePieceBytes(_ token: String) -> [UInt8] {
        if let b = ByteFallback.byte(token) { return [b] }
        return SentencePiece.unescape(Array(token.utf8))
    }

    /// Raw bytes of ids.
    public func bytes(of ids: [Int32], skipSpecial: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < idBytes.count {
            if skipSpecial && specialIds.contains(id) { continue }
            out += idBytes[Int(id)]
        }
        return out
    }

    public func isSpecial(_ id: Int32) -> Bool { specialIds.contains(id) }

    // MARK: - Saving

    public func save(to path: String) throws { try TokenizerJSON.write(self, to: path) }
}

/// Turns a stream of ids into text, holding back bytes until they form complete UTF-8 characters.
public struct StreamDecoder {
    let bytesOf: (Int32) -> [UInt8]
    var pending: [UInt8] = []

    /// A decoder over any id → bytes mapping (a tokenizer's vocabulary).
    public init(bytesOf: @escaping (Int32) -> [UInt8]) { self.bytesOf = bytesOf }

    /// Text completed by this id (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        pending += bytesOf(id)
        let keep = StreamDecoder.incompleteTail(pending)
        let ready = pending.count - keep
        guard ready > 0 else { return "" }
        let text = String(decoding: pending[0..<ready], as: UTF8.self)
        pending.removeFirst(ready)
        return text
    }

    /// Whatever is left (an incomplete character comes out as U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of a trailing, still-incomplete (but so far valid) UTF-8 sequence.
    static func incompleteTail(_ b: [UInt8]) -> Int {
        let n = b.count
        var k = 1
        while k <= min(3, n) {
            let c = b[n - k]
            if c & 0xC0 == 0x80 { k += 1; continue }       // continuation byte: look further back
            let need = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1
            return need > k ? k : 0
        }
        return 0
    }
}
