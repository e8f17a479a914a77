// ByteTokenizer: one token per UTF-8 byte (vocab 256), saved as a Hugging Face byte-level BPE
// tokenizer.json with no merges, so `tokenizers` reads it and produces the same ids.
import ForgeCore
import Foundation

/// Bytes as tokens: id = byte value.
public struct ByteTokenizer: TextTokenizer {
    public init() {}
    public var vocabSize: Int { 256 }

    public func encode(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }

    /// Bytes back to text; invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: ids.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
    }

    /// The bytes themselves (one id may be part of a longer character).
    public func bytes(of ids: [Int32], skipSpecial: Bool) -> [UInt8] { ids.map { UInt8(truncatingIfNeeded: $0) } }

    public func save(to path: String) throws {
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(Unicode.Scalar(ByteLevel.byteToScalar[b])!)] = b }
        let json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": [Any](),
            "normalizer": NSNull(), "post_processor": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": [String]()],
        ]
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(path, data: data)
    }

    /// Reads a tokenizer.json, accepting the byte-level, merge-free form this type writes.
    public static func load(from path: String) throws -> ByteTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "no such file") }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let model = json["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Int] else {
            throw ForgeError.file(path, "not a Hugging Face tokenizer.json (no model.vocab)")
        }
        let merges = model["merges"] as? [Any] ?? []
        guard vocab.count == 256, merges.isEmpty,
              (0..<256).allSatisfy({ vocab[String(Unicode.Scalar(ByteLevel.byteToScalar[$0])!)] == $0 }) else {
            throw ForgeError.file(path, "only the 256-token byte-level tokenizer is supported here (vocab \(vocab.count), \(merges.count) merges)")
        }
        return ByteTokenizer()
    }
}
