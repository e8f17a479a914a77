// TokenizerJSON: Hugging Face `tokenizer.json` for byte-level BPE tokenizers, read and written.
//
// Read: model BPE (vocab, merges as "a b" strings or [a, b] pairs, ignore_merges, unk_token),
// added_tokens, normalizer (NFC/NFKC/NFD/NFKD/Lowercase/Prepend/Replace/Sequence), pre_tokenizer
// (ByteLevel, Split, Digits, Sequence), post_processor (TemplateProcessing, ByteLevel, Sequence),
// decoder ByteLevel. Anything else is an error naming it, rather than a tokenizer that silently
// encodes differently from the reference.
import ForgeCore
import Foundation

public enum TokenizerJSON {
    /// Loads a tokenizer.json file.
    public static func load(from path: String) throws -> BPETokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ForgeError.file(path, FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: data) }
        catch { throw ForgeError.file(path, "not valid JSON (truncated or damaged tokenizer.json)") }
        guard let json = obj as? [String: Any] else { throw ForgeError.file(path, "not a tokenizer.json object") }
        do { return try parse(json, origin: path) }
        catch let e as ForgeError { throw ForgeError.file(path, e.description) }
    }

    /// Builds a tokenizer from the parsed JSON object.
    public static func parse(_ json: [String: Any], origin: String) throws -> BPETokenizer {
        guard let model = json["model"] as? [String: Any] else { throw ForgeError("no 'model' section") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw ForgeError("model type '\(type)' is not supported (byte-level BPE only)") }
        if model["byte_fallback"] as? Bool == true { throw ForgeError("byte_fallback BPE (SentencePiece style) is not supported") }
        if let p = model["continuing_subword_prefix"] as? String, !p.isEmpty { throw ForgeError("continuing_subword_prefix is not supported") }
        if let p = model["end_of_word_suffix"] as? String, !p.isEmpty { throw ForgeError("end_of_word_suffix is not supported") }
        guard let vocabObj = model["vocab"] as? [String: Any] else { throw ForgeError("model.vocab is missing") }
        var vocab: [(String, Int32)] = []
        vocab.reserveCapacity(vocabObj.count)
        for (k, v) in vocabObj {
            guard let id = (v as? NSNumber)?.int32Value else { throw ForgeError("vocab entry \(String(reflecting: k)) has no integer id") }
            vocab.append((k, id))
        }
        var merges: [(String, String)] = []
        for m in model["merges"] as? [Any] ?? [] {
            if let s = m as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw ForgeError("merge \(String(reflecting: s)) is not two tokens") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let pair = m as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw ForgeError("a merge is neither \"a b\" nor [a, b]")
            }
        }
        let bpe = try BPEModel(vocab: vocab, merges: merges, ignoreMerges: model["ignore_merges"] as? Bool ?? false,
                               unkToken: model["unk_token"] as? String)

        var added: [AddedToken] = []
        for a in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = (a["id"] as? NSNumber)?.int32Value, let content = a["content"] as? String else {
                throw ForgeError("an added token lacks id or content")
            }
            if a["single_word"] as? Bool == true { throw ForgeError("added token \(String(reflecting: content)) uses single_word, which is not supported") }
            added.append(AddedToken(id: id, content: content, special: a["special"] as? Bool ?? false,
                                    lstrip: a["lstrip"] as? Bool ?? false, rstrip: a["rstrip"] as? Bool ?? false,
                                    normalized: a["normalized"] as? Bool ?? false))
        }

        let normalizer = try (json["normalizer"] as? [String: Any]).map(Normalizer.parse)
        let preJSON = json["pre_tokenizer"] ?? NSNull()
        var steps: [PreTokenizerStep] = []
        var byteLevel = false
        if let pre = preJSON as? [String: Any] { steps = try parsePreTokenizer(pre, byteLevel: &byteLevel) }
        if let dec = json["decoder"] as? [String: Any], containsType(dec, "ByteLevel", key: "decoders") { byteLevel = true }
        guard byteLevel else {
            throw ForgeError("not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer or decoder); only byte-level BPE is supported")
        }
        var prefix: [Int32] = [], suffix: [Int32] = []
        if let post = json["post_processor"] as? [String: Any] { try parsePostProcessor(post, prefix: &prefix, suffix: &suffix) }
        return BPETokenizer(model: bpe, preTokenizer: PreTokenizer(steps: steps), preTokenizerJSON: preJSON,
                            normalizer: normalizer, addedTokens: added, prefixIds: prefix, suffixIds: suffix, origin: origin)
    }

    static func containsType(_ j: [String: Any], _ type: String, key: String) -> Bool {
        if j["type"] as? String == type { return true }
        return (j[key] as? [[String: Any]] ?? []).contains { containsType($0, type, key: key) }
    }

    static func parsePreTokenizer(_ j: [String: Any], byteLevel: inout Bool) throws -> [PreTokenizerStep] {
        let type = j["type"] as? String ?? "?"
        switch type {
        case "Sequence":
            return try (j["pretokenizers"] as? [[String: Any]] ?? []).flatMap { try parsePreTokenizer($0, byteLevel: &byteLevel) }
        case "ByteLevel":
            byteLevel = true
            return [.byteLevel(addPrefixSpace: j["add_prefix_space"] as? Bool ?? false, useRegex: j["use_regex"] as? Bool ?? true)]
        case "Split":
            let pat = j["pattern"] as? [String: Any] ?? [:]
            let matcher: PatternMatcher
            if let r = pat["Regex"] as? String { matcher = try PatternMatcher(regex: r) }
            else if let s = pat["String"] as? String { matcher = try PatternMatcher(literal: s) }
            else { throw ForgeError("Split pre-tokenizer without a pattern") }
            let b = j["behavior"] as? String ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: b) else { throw ForgeError("split behavior '\(b)' is not supported") }
            return [.split(matcher, behavior: behavior, invert: j["invert"] as? Bool ?? false)]
        case "Digits":
            let individual = j["individual_digits"] as? Bool ?? false
            return [.split(try PatternMatcher(regex: individual ? #"\p{N}"# : #"\p{N}+"#), behavior: .isolated, invert: false)]
        default:
            throw ForgeError("pre_tokenizer type '\(type)' is not supported")
        }
    }

    static func parsePostProcessor(_ j: [String: Any], prefix: inout [Int32], suffix: inout [Int32]) throws {
        let type = j["type"] as? String ?? "?"
        switch type {
        case "ByteLevel": return
        case "Sequence":
            for p in j["processors"] as? [[String: Any]] ?? [] { try parsePostProcessor(p, prefix: &prefix, suffix: &suffix) }
        case "TemplateProcessing":
            let specials = j["special_tokens"] as? [String: [String: Any]] ?? [:]
            var seenSequence = false
            for item in j["single"] as? [[String: Any]] ?? [] {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let st = item["SpecialToken"] as? [String: Any], let name = st["id"] as? String,
                      let ids = specials[name]?["ids"] as? [NSNumber] else { throw ForgeError("template post-processor item is not understood") }
                if seenSequence { suffix += ids.map(\.int32Value) } else { prefix += ids.map(\.int32Value) }
            }
        case "RobertaProcessing", "BertProcessing":
            if let cls = j["cls"] as? [Any], cls.count == 2, let id = (cls[1] as? NSNumber)?.int32Value { prefix.append(id) }
            if let sep = j["sep"] as? [Any], sep.count == 2, let id = (sep[1] as? NSNumber)?.int32Value { suffix.append(id) }
        default:
            throw ForgeError("post_processor type '\(type)' is not supported")
        }
    }

    // MARK: - Writing

    /// Writes `t` as a tokenizer.json that Hugging Face `tokenizers` loads, atomically.
    public static func write(_ t: BPETokenizer, to path: String) throws {
        var vocab: [String: Int] = [:]
        for (id, s) in t.model.tokenStrings.enumerated() where !s.isEmpty || id == 0 { vocab[s] = id }
        for a in t.addedTokens { vocab[a.content] = Int(a.id) }
        let merges = t.model.merges.map { t.model.tokenStrings[Int($0.0)] + " " + t.model.tokenStrings[Int($0.1)] }
        var json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": t.addedTokens.map { a in
                ["id": Int(a.id), "content": a.content, "single_word": false, "lstrip": a.lstrip, "rstrip": a.rstrip,
                 "normalized": a.normalized, "special": a.special] as [String: Any]
            },
            "normalizer": t.normalizer?.json ?? NSNull(),
            "pre_tokenizer": t.preTokenizerJSON,
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": t.model.unkId.map { t.model.tokenStrings[Int($0)] } ?? NSNull(),
                      "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": false,
                      "byte_fallback": false, "ignore_merges": t.model.ignoreMerges, "vocab": vocab, "merges": merges] as [String: Any],
        ]
        if t.prefixIds.isEmpty && t.suffixIds.isEmpty {
            json["post_processor"] = NSNull()
        } else {
            func name(_ id: Int32) -> String { t.addedTokens.first { $0.id == id }?.content ?? t.model.tokenStrings[Int(id)] }
            var single: [[String: Any]] = t.prefixIds.map { ["SpecialToken": ["id": name($0), "type_id": 0]] }
            single.append(["Sequence": ["id": "A", "type_id": 0]])
            single += t.suffixIds.map { ["SpecialToken": ["id": name($0), "type_id": 0]] }
            var specials: [String: Any] = [:]
            for id in t.prefixIds + t.suffixIds { specials[name(id)] = ["id": name(id), "ids": [Int(id)], "tokens": [name(id)]] }
            json["post_processor"] = ["type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": specials]
        }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        try AtomicFile.write(path, data: data)
    }
}
