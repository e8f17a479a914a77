// TokenizerJSON: Hugging Face `tokenizer.json` for BPE tokenizers, read and written: byte-level ones, and
// byte-fallback ones (the form of SentencePiece vocabularies such as Gemma's and Llama 2's).
//
// Read: model BPE (vocab, merges as "a b" strings or [a, b] pairs, ignore_merges, unk_token, byte_fallback,
// fuse_unk), added_tokens, normalizer (NFC/NFKC/NFD/NFKD/Lowercase/Prepend/Replace/Sequence), pre_tokenizer
// (ByteLevel, Split, Digits, Sequence), post_processor (TemplateProcessing, ByteLevel, Sequence), decoder
// ByteLevel, or Replace("▁", " ")/ByteFallback/Fuse/Strip(" ", n, 0). Anything else is an error naming it,
// rather than a tokenizer that silently encodes differently from the reference.
import ForgeCore
import Foundation

public enum TokenizerJSON {
    /// Loads a model dir's tokenizer: tokenizer.json, with the EOS, padding and BOS tokens tokenizer_config.json names
    /// (tokenizer.json alone knows only the BOS its template adds).
    public static func load(modelDir dir: String) throws -> BPETokenizer {
        let t = try load(from: dir + "/tokenizer.json")
        let path = dir + "/tokenizer_config.json"
        guard let data = FileManager.default.contents(atPath: path) else { return t }
        guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ForgeError.file(path, "not a JSON object")
        }
        func named(_ key: String) throws -> Int32? {
            // A token is written as its text or as an added-token object with "content".
            guard let value = config[key], !(value is NSNull) else { return nil }
            guard let text = (value as? String) ?? ((value as? [String: Any])?["content"] as? String) else {
                throw ForgeError.file(path, "\(key) is neither a string nor an object with \"content\"")
            }
            return t.id(of: text)  // a token the vocabulary lacks is left unset, as before
        }
        if let id = try named("eos_token") { t.eosId = id }
        if let id = try named("pad_token") { t.padId = id }
        if t.bosId == nil, let id = try named("bos_token") { t.bosId = id }
        return t
    }

    /// Loads a tokenizer.json file.
    public static func load(from path: String) throws -> BPETokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ForgeError.file(path, FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: data) }
        catch { throw ForgeError.file(path, "not valid JSON (truncated or damaged tokenizer.json)") }
        guard let json = obj as? [String: Any] else { throw ForgeError.file(path, "not a tokenizer.json object") }
        // A byte-fallback vocabulary and its merges are read again as written: JSONSerialization merges
        // canonically equal keys and drops U+FEFF from strings.
        let exact = (json["model"] as? [String: Any])?["byte_fallback"] as? Bool ?? false
        do {
            return try parse(json, origin: path, exactVocab: exact ? ExactJSON.members(data, path: ["model", "vocab"]) : nil,
                             exactMerges: exact ? ExactJSON.merges(data, path: ["model", "merges"]) : nil)
        }
        catch let e as ForgeError { throw ForgeError.file(path, e.description) }
    }

    /// Builds a tokenizer from the parsed JSON object; `exactVocab` and `exactMerges`, when given, replace its
    /// model.vocab and model.merges.
    public static func parse(_ json: [String: Any], origin: String, exactVocab: [(String, Int)]? = nil,
                             exactMerges: [(String, String)]? = nil) throws -> BPETokenizer {
        guard let model = json["model"] as? [String: Any] else { throw ForgeError("no 'model' section") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw ForgeError("model type '\(type)' is not supported (BPE only)") }
        let byteFallback = model["byte_fallback"] as? Bool ?? false
        if let p = model["continuing_subword_prefix"] as? String, !p.isEmpty { throw ForgeError("continuing_subword_prefix is not supported") }
        if let p = model["end_of_word_suffix"] as? String, !p.isEmpty { throw ForgeError("end_of_word_suffix is not supported") }
        guard let vocabObj = model["vocab"] as? [String: Any] else { throw ForgeError("model.vocab is missing") }
        var vocab: [(String, Int32)] = []
        vocab.reserveCapacity(vocabObj.count)
        if let exactVocab {
            vocab = exactVocab.map { ($0.0, Int32(truncatingIfNeeded: $0.1)) }
        } else {
            for (k, v) in vocabObj {
                guard let id = (v as? NSNumber)?.int32Value else { throw ForgeError("vocab entry \(String(reflecting: k)) has no integer id") }
                vocab.append((k, id))
            }
        }
        var merges: [(String, String)] = exactMerges ?? []
        for m in exactMerges == nil ? model["merges"] as? [Any] ?? [] : [] {
            if let s = m as? String {
                // Split on the space scalar: as Characters, a space and a following combining mark are one.
                let parts = s.unicodeScalars.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw ForgeError("merge \(String(reflecting: s)) is not two tokens") }
                merges.append((String(String.UnicodeScalarView(parts[0])), String(String.UnicodeScalarView(parts[1]))))
            } else if let pair = m as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw ForgeError("a merge is neither \"a b\" nor [a, b]")
            }
        }
        let bpe = try BPEModel(vocab: vocab, merges: merges, ignoreMerges: model["ignore_merges"] as? Bool ?? false,
                               unkToken: model["unk_token"] as? String, byteFallback: byteFallback, fuseUnk: model["fuse_unk"] as? Bool ?? false)

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
        var strip = 0
        if let dec = json["decoder"] as? [String: Any] { try parseDecoder(dec, byteLevel: &byteLevel, strip: &strip) }
        guard byteLevel || byteFallback else {
            throw ForgeError("neither byte-level (no ByteLevel pre-tokenizer or decoder) nor byte_fallback BPE; only those are supported")
        }
        var prefix: [Int32] = [], suffix: [Int32] = []
        if let post = json["post_processor"] as? [String: Any] { try parsePostProcessor(post, prefix: &prefix, suffix: &suffix) }
        let t = BPETokenizer(model: bpe, preTokenizer: PreTokenizer(steps: steps), preTokenizerJSON: preJSON,
                             normalizer: normalizer, addedTokens: added, prefixIds: prefix, suffixIds: suffix,
                             decodeStripsSpaces: strip, origin: origin)
        t.bosId = prefix.first   // the template's leading special token is the BOS it adds
        return t
    }

    /// Decoders Forge reproduces: ByteLevel, and SentencePiece's Replace("▁", " "), ByteFallback, Fuse and Strip(" ", n, 0).
    static func parseDecoder(_ j: [String: Any], byteLevel: inout Bool, strip: inout Int) throws {
        let type = j["type"] as? String ?? "?"
        switch type {
        case "Sequence": for d in j["decoders"] as? [[String: Any]] ?? [] { try parseDecoder(d, byteLevel: &byteLevel, strip: &strip) }
        case "ByteLevel": byteLevel = true
        case "ByteFallback", "Fuse": return
        case "Replace" where (j["pattern"] as? [String: Any])?["String"] as? String == "\u{2581}" && j["content"] as? String == " ": return
        case "Strip" where j["content"] as? String == " " && (j["stop"] as? Int ?? 0) == 0: strip = j["start"] as? Int ?? 0
        default: throw ForgeError("decoder \(type) \(type == "Replace" || type == "Strip" ? "with these settings " : "")is not supported")
        }
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
        // The vocabulary, one entry per id (added tokens by their content), written exactly (ExactJSON).
        var strings = t.model.tokenStrings
        for a in t.addedTokens {
            if Int(a.id) >= strings.count { strings += [String](repeating: "", count: Int(a.id) + 1 - strings.count) }
            strings[Int(a.id)] = a.content
        }
        let vocab = strings.enumerated().filter { !$0.1.isEmpty || $0.0 == 0 }.map { ($0.1, $0.0) }
        let vocabMark = "@@forge-vocab@@"
        // Byte-fallback vocabularies can hold tokens with spaces: their merges are written as pairs.
        let merges: [Any] = t.model.merges.map { m -> Any in
            let (a, b) = (t.model.tokenStrings[Int(m.0)], t.model.tokenStrings[Int(m.1)])
            return t.model.byteFallback ? [a, b] : a + " " + b
        }
        let meta = "\u{2581}"
        let decoder: [String: Any] = !t.model.byteFallback
            ? ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
            : ["type": "Sequence", "decoders": [["type": "Replace", "pattern": ["String": meta], "content": " "],
                                                ["type": "ByteFallback"], ["type": "Fuse"]]
                + (t.decodeStripsSpaces > 0 ? [["type": "Strip", "content": " ", "start": t.decodeStripsSpaces, "stop": 0]] : [])]
        var json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": t.addedTokens.map { a in
                ["id": Int(a.id), "content": a.content, "single_word": false, "lstrip": a.lstrip, "rstrip": a.rstrip,
                 "normalized": a.normalized, "special": a.special] as [String: Any]
            },
            "normalizer": t.normalizer?.json ?? NSNull(),
            "pre_tokenizer": t.preTokenizerJSON,
            "decoder": decoder,
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": t.model.unkId.map { t.model.tokenStrings[Int($0)] } ?? NSNull(),
                      "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": t.model.fuseUnk,
                      "byte_fallback": t.model.byteFallback, "ignore_merges": t.model.ignoreMerges, "vocab": vocabMark, "merges": merges] as [String: Any],
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
        var data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        guard let mark = data.range(of: Data(#""vocab":"\#(vocabMark)""#.utf8)) else { throw ForgeError("tokenizer.json: vocabulary slot not found") }
        data.replaceSubrange(mark, with: Data(#""vocab":"#.utf8) + ExactJSON.object(vocab))
        try AtomicFile.write(path, data: data)
    }
}
