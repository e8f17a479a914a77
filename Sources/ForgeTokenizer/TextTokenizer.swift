// TextTokenizer: what models, commands and the inference engine need from any tokenizer (byte-level BPE,
// SentencePiece, raw bytes), so that none of them has to know which kind it holds.
import ForgeCore
import Synchronization

/// What the models need from a tokenizer.
public protocol TextTokenizer: Sendable {
    var vocabSize: Int { get }
    /// Beginning- and end-of-sequence ids, when the vocabulary has them.
    var bosId: Int32? { get }
    var eosId: Int32? { get }
    /// Whether `encode(_:allowSpecial:addSpecialTokens: true)` puts BOS first.
    var addsBOS: Bool { get }
    /// Plain text to ids; special-token strings are treated as text.
    func encode(_ text: String) -> [Int32]
    /// Text to ids. `allowSpecial` recognises special tokens written in the text; `addSpecialTokens`
    /// adds the ones the vocabulary asks for (e.g. a leading BOS).
    func encode(_ text: String, allowSpecial: Bool, addSpecialTokens: Bool) -> [Int32]
    /// Raw bytes to ids, with a policy for invalid UTF-8 (errors give the byte offset).
    func encode(utf8 bytes: [UInt8], invalid: InvalidUTF8Policy, allowSpecial: Bool) throws -> [Int32]
    /// Many texts on all workers; results in input order.
    func encodeBatch(_ texts: [String], allowSpecial: Bool) -> [[Int32]]
    /// Ids to text; malformed UTF-8 becomes U+FFFD.
    func decode(_ ids: [Int32]) -> String
    func decode(_ ids: [Int32], skipSpecial: Bool) -> String
    /// Bytes of ids, token after token; `skipSpecial` leaves control tokens out.
    func bytes(of ids: [Int32], skipSpecial: Bool) -> [UInt8]
    /// The id of a token by its vocabulary string.
    func id(of token: String) -> Int32?
    /// A decoder for streaming: feed ids, get only complete UTF-8 characters back.
    func streamDecoder(skipSpecial: Bool) -> StreamDecoder
    /// Writes `tokenizer.json` (Hugging Face format) to `path`.
    func save(to path: String) throws
}

extension TextTokenizer {
    public var bosId: Int32? { nil }
    public var eosId: Int32? { nil }
    public var addsBOS: Bool { false }
    public func id(of token: String) -> Int32? { nil }
    public func encode(_ text: String, allowSpecial: Bool, addSpecialTokens: Bool) -> [Int32] {
        (addSpecialTokens && addsBOS ? bosId.map { [$0] } ?? [] : []) + encode(text)
    }
    public func encode(_ text: String, allowSpecial: Bool) -> [Int32] {
        encode(text, allowSpecial: allowSpecial, addSpecialTokens: false)
    }

    public func encode(utf8 bytes: [UInt8], invalid: InvalidUTF8Policy, allowSpecial: Bool) throws -> [Int32] {
        if let bad = BPETokenizer.firstInvalidUTF8(bytes), invalid == .error { throw ForgeError("invalid UTF-8 at byte \(bad)") }
        return encode(String(decoding: bytes, as: UTF8.self), allowSpecial: allowSpecial, addSpecialTokens: false)
    }
    public func encode(utf8 bytes: [UInt8], invalid: InvalidUTF8Policy) throws -> [Int32] {
        try encode(utf8: bytes, invalid: invalid, allowSpecial: false)
    }

    public func encodeBatch(_ texts: [String], allowSpecial: Bool) -> [[Int32]] {
        var results = [[Int32]](repeating: [], count: texts.count)
        let next = Atomic<Int>(0)
        results.withUnsafeMutableBufferPointer { res in
            Parallel.forEachTask(Parallel.threads) { _ in
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < texts.count else { break }
                    res[i] = encode(texts[i], allowSpecial: allowSpecial, addSpecialTokens: false)
                }
            }
        }
        return results
    }
    public func encodeBatch(_ texts: [String]) -> [[Int32]] { encodeBatch(texts, allowSpecial: false) }

    public func decode(_ ids: [Int32], skipSpecial: Bool) -> String { String(decoding: bytes(of: ids, skipSpecial: skipSpecial), as: UTF8.self) }
    public func bytes(of ids: [Int32], skipSpecial: Bool) -> [UInt8] { Array(decode(ids).utf8) }
    public func bytes(of ids: [Int32]) -> [UInt8] { bytes(of: ids, skipSpecial: false) }

    public func streamDecoder(skipSpecial: Bool) -> StreamDecoder {
        StreamDecoder { [self] id in bytes(of: [id], skipSpecial: skipSpecial) }
    }
    public func streamDecoder() -> StreamDecoder { streamDecoder(skipSpecial: false) }
}
