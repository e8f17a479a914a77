// SentencePieceTokenizer: llama.cpp's "llama" (SPM) tokenizer, as the GGUF files of Llama 2, Gemma, Phi-3 ...
// store it. Special tokens are cut out of the raw text (SpecialTokenPartition); each text fragment is
// escaped (spaces → "▁", plus a leading "▁" with add_space_prefix when the fragment starts the text or
// follows a special token) and merged by score (SentencePieceModel). Decoding is llama.cpp's token_to_piece
// and detokenize. `save(to:)` writes the Hugging Face form: byte-fallback BPE, merges derived from scores.
import ForgeCore
import Foundation
import Synchronization

/// llama.cpp's token attributes (llama_token_attr): the GGUF token type, plus its name-based fixes.
public struct TokenAttributes: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unknown = TokenAttributes(rawValue: 1 << 0)
    public static let unused = TokenAttributes(rawValue: 1 << 1)
    public static let normal = TokenAttributes(rawValue: 1 << 2)
    public static let control = TokenAttributes(rawValue: 1 << 3)
    public static let userDefined = TokenAttributes(rawValue: 1 << 4)
    public static let byte = TokenAttributes(rawValue: 1 << 5)
    public static let lstrip = TokenAttributes(rawValue: 1 << 7)
    public static let rstrip = TokenAttributes(rawValue: 1 << 8)

    /// The attribute of a `tokenizer.ggml.token_type` value (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    public init(ggufType t: Int) {
        let table: [TokenAttributes] = [[], .normal, .unknown, .control, .userDefined, .unused, .byte]
        self = t >= 0 && t < table.count ? table[t] : []
    }
}

/// A SentencePiece tokenizer that encodes and decodes exactly as llama.cpp does.
public final class SentencePieceTokenizer: TextTokenizer, Sendable {
    public let model: SentencePieceModel
    public let attributes: [TokenAttributes]
    public let bosId: Int32?, eosId: Int32?, unkId: Int32?, padId: Int32?
    /// Whether encoding with special tokens adds BOS first / EOS last.
    public let addBOS: Bool, addEOS: Bool
    /// A "▁" before the text and after each special token (llama.cpp's add_space_prefix).
    public let addSpacePrefix: Bool
    /// Where the tokenizer came from, for messages.
    public let origin: String
    let specials: SpecialTokenPartition
    /// The bytes each id prints (llama.cpp's token_to_piece with special = true), in one arena.
    let pieces: [UInt8]
    let pieceStart: [Int32]

    /// Builds the tokenizer from a model and one attribute per token (GGUFVocab reads and checks them).
    init(model: SentencePieceModel, attributes: [TokenAttributes], bosId: Int32?, eosId: Int32?, unkId: Int32?,
         padId: Int32?, addBOS: Bool, addEOS: Bool, addSpacePrefix: Bool, origin: String) {
        self.model = model
        self.attributes = attributes
        (self.bosId, self.eosId, self.unkId, self.padId) = (bosId, eosId, unkId, padId)
        (self.addBOS, self.addEOS, self.addSpacePrefix, self.origin) = (addBOS, addEOS, addSpacePrefix, origin)
        var specialTokens: [(id: Int32, text: [UInt8], alwaysParsed: Bool, lstrip: Bool, rstrip: Bool)] = []
        var pieces: [UInt8] = [], starts: [Int32] = [0]
        pieces.reserveCapacity(model.tokens.count * 8)
        for (i, t) in model.tokens.enumerated() {
            let a = attributes[i], text = Array(t.utf8)
            if !a.isDisjoint(with: [.control, .userDefined, .unknown]) {
                let alwaysParsed = a.isDisjoint(with: [.control, .unknown])
                specialTokens.append((Int32(i), text, alwaysParsed, a.contains(.lstrip), a.contains(.rstrip)))
                pieces += text
            } else if a.contains(.normal) {
                pieces += SentencePiece.unescape(text)
            } else if a.contains(.byte) {
                pieces.append(text.count >= 5 ? UInt8(String(decoding: text[3..<5], as: UTF8.self), radix: 16) ?? 0 : 0)
            }
            starts.append(Int32(pieces.count))
        }
        self.pieces = pieces
        pieceStart = starts
        specials = SpecialTokenPartition(specialTokens)
    }

    public var vocabSize: Int { model.tokens.count }
    public var addsBOS: Bool { addBOS && bosId != nil }
    public func id(of token: String) -> Int32? { model.id(of: token) }

    // MARK: - Encoding

    public func encode(_ text: String) -> [Int32] { encode(text, allowSpecial: false, addSpecialTokens: false) }

    public func encode(_ text: String, allowSpecial: Bool, addSpecialTokens: Bool) -> [Int32] {
        var scratch = SentencePieceScratch()
        var out: [Int32] = []
        encode(Array(text.utf8), allowSpecial: allowSpecial, addSpecialTokens: addSpecialTokens, scratch: &scratch, into: &out)
        return out
    }

    /// Encodes many texts on all workers (each keeps its cache of parts); results in input order.
    public func encodeBatch(_ texts: [String], allowSpecial: Bool) -> [[Int32]] {
        var results = [[Int32]](repeating: [], count: texts.count)
        let next = Atomic<Int>(0)
        results.withUnsafeMutableBufferPointer { res in
            Parallel.forEachTask(Parallel.threads) { _ in
                var scratch = SentencePieceScratch()
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < texts.count else { break }
                    var out: [Int32] = []
                    encode(Array(texts[i].utf8), allowSpecial: allowSpecial, addSpecialTokens: false, scratch: &scratch, into: &out)
                    res[i] = out
                }
            }
        }
        return results
    }

    /// llama.cpp's llama_vocab::tokenize for SPM vocabularies.
    func encode(_ bytes: [UInt8], allowSpecial: Bool, addSpecialTokens: Bool, scratch: inout SentencePieceScratch,
                into out: inout [Int32]) {
        if addSpecialTokens && addBOS, let b = bosId { out.append(b) }
        var escaped: [UInt8] = []
        var afterSpecial = true
        for segment in specials.split(bytes, parseSpecial: allowSpecial) {
            switch segment {
            case .token(let id):
                out.append(id)
                afterSpecial = true
            case .text(let r):
                escaped.removeAll(keepingCapacity: true)
                SentencePiece.escape(bytes[r], prefixSpace: addSpacePrefix && afterSpecial, into: &escaped)
                model.encode(escaped, scratch: &scratch, into: &out)
                afterSpecial = false
            }
        }
        if addSpecialTokens && addEOS, let e = eosId { out.append(e) }
    }

    // MARK: - Decoding

    /// The bytes of ids one after another (token_to_piece); `skipSpecial` leaves out control and unknown tokens.
    public func bytes(of ids: [Int32], skipSpecial: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < attributes.count {
            if skipSpecial && !attributes[Int(id)].isDisjoint(with: [.control, .unknown]) { continue }
            out += pieces[Int(pieceStart[Int(id)])..<Int(pieceStart[Int(id) + 1])]
        }
        return out
    }

    public func decode(_ ids: [Int32]) -> String { decode(ids, skipSpecial: false) }

    /// llama.cpp's detokenize: with add_space_prefix, the first token loses one leading space.
    public func decode(_ ids: [Int32], skipSpecial: Bool) -> String {
        var b = bytes(of: ids, skipSpecial: skipSpecial)
        if addSpacePrefix, let first = ids.first, b.first == 32, bytes(of: [first], skipSpecial: skipSpecial).first == 32 {
            b.removeFirst()
        }
        return String(decoding: b, as: UTF8.self)
    }

    // MARK: - Hugging Face form

    /// This vocabulary as Hugging Face writes SentencePiece ones (Gemma, Llama): byte-fallback BPE with merges
    /// from the scores, Replace(" ", "▁") (after Prepend("▁") with add_space_prefix), the special tokens as added tokens.
    public func huggingFaceForm() throws -> BPETokenizer {
        let bpe = try BPEModel(vocab: model.tokens.enumerated().map { ($1, Int32($0)) }, merges: model.merges(), ignoreMerges: false,
                               unkToken: unkId.map { model.tokens[Int($0)] }, byteFallback: true, fuseUnk: true)
        var added: [AddedToken] = []
        for (i, a) in attributes.enumerated() where !a.isDisjoint(with: [.control, .userDefined, .unknown]) {
            added.append(AddedToken(id: Int32(i), content: model.tokens[i], special: !a.isDisjoint(with: [.control, .unknown]),
                                    lstrip: a.contains(.lstrip), rstrip: a.contains(.rstrip)))
        }
        let escape = Normalizer.replace(pattern: " ", content: "\u{2581}")
        let t = BPETokenizer(model: bpe, preTokenizer: PreTokenizer(steps: []), preTokenizerJSON: NSNull(),
                             normalizer: addSpacePrefix ? .sequence([.prepend("\u{2581}"), escape]) : escape, addedTokens: added,
                             prefixIds: addBOS ? bosId.map { [$0] } ?? [] : [], suffixIds: addEOS ? eosId.map { [$0] } ?? [] : [],
                             decodeStripsSpaces: addSpacePrefix ? 1 : 0, origin: origin + " (Hugging Face form)")
        (t.bosId, t.eosId, t.padId) = (bosId, eosId, padId)
        return t
    }

    /// Writes the Hugging Face form as tokenizer.json.
    public func save(to path: String) throws { try TokenizerJSON.write(huggingFaceForm(), to: path) }
}
