// GGUFVocab: the tokenizer stored in a GGUF file's `tokenizer.ggml.*` keys. Byte-level BPE ("gpt2") gets
// the pre-tokenizer that llama.cpp associates with `tokenizer.ggml.pre` (each name fixes a list of
// regexes applied in turn, and whether whole-word vocabulary hits skip the merges); SentencePiece
// ("llama") gets scores, token types and llama.cpp's defaults and name-based fixes of token types.
import ForgeCore

public enum GGUFVocab {
    /// llama.cpp's pre-tokenizer for a name: its regexes (each splits every piece, keeping matches and
    /// the text between them) and whether merges are ignored for words found whole in the vocabulary.
    public struct PreTokenizerSpec: Sendable {
        public let regexes: [String]
        public let ignoreMerges: Bool
    }

    static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    static let contractions = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"#
    static let llama3 = contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2 = contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen35 = contractions + #"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let tekken = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let gpt4o = #"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"# + "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
        + #"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"# + "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
        + #"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let cjkHangul = "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+"
    static let deepseekV3 = [#"\p{N}{1,3}"#, "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
                             ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##]

    /// Names llama.cpp knows for byte-level BPE vocabularies, and what each means.
    public static func preTokenizer(named name: String) -> PreTokenizerSpec? {
        func spec(_ r: [String], _ ignore: Bool = false) -> PreTokenizerSpec { PreTokenizerSpec(regexes: r, ignoreMerges: ignore) }
        switch name {
        case "default":
            return spec([#"[\p{P}\$\+<=>\^~\|]+"#, gpt2, #"\p{N}+"#, "[0-9][0-9][0-9]"])
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
            return spec([llama3], true)
        case "dbrx", "smaug-bpe", "chatglm-bpe":
            return spec([llama3])
        case "glm4", "glm5":
            return spec([llama3], true)
        case "deepseek-llm":
            return spec(["[\r\n]",
                         "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
                         "\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+", "\\s+$",
                         cjkHangul, #"\p{N}+"#])
        case "deepseek-coder":
            return spec(["[\r\n]", #"\s?\p{L}+"#, #"\s?\p{P}+"#, cjkHangul, #"\p{N}"#])
        case "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4":
            return spec(deepseekV3)
        case "falcon":
            return spec([#"[\p{P}\$\+<=>\^~\|`]+"#, gpt2, "[0-9][0-9][0-9]"])
        case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2":
            return spec([#"\p{N}"#, gpt2])
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
             "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4":
            return spec([gpt2])
        case "stablelm2", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "hunyuan", "solar-open":
            return spec([qwen2])
        case "qwen35":
            return spec([qwen35])
        case "poro-chat", "bloom", "gpt3-finnish":
            return spec([" ?[^(\\s|.,!?…。，、।۔،)]+"])
        case "viking":
            return spec([" ?[^(\\s|.,!?…。，、।۔،)]+", #"\p{N}"#])
        case "tekken":
            return spec([tekken], true)
        case "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2":
            return spec([gpt4o])
        case "seed-coder":
            return spec([contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#])
        case "grok-2":
            return spec([qwen2])
        case "bailingmoe", "bailingmoe2", "llada-moe":
            return spec([#"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#])
        case "kimi-k2":
            return spec([#"\p{Han}+"#])
        default:
            return nil
        }
    }

    /// Reads the tokenizer of an opened GGUF file.
    public static func load(_ file: GGUFFile) throws -> any TextTokenizer {
        let path = file.path
        guard let kind = file["tokenizer.ggml.model"]?.string else {
            throw ForgeError.file(path, "has no tokenizer (tokenizer.ggml.model is missing)")
        }
        switch kind {
        case "gpt2": return try loadByteLevel(file)
        case "llama": return try loadSentencePiece(file)
        default: throw ForgeError.file(path, "tokenizer model '\(kind)' is neither byte-level BPE ('gpt2') nor SentencePiece ('llama'); it is not supported yet")
        }
    }

    /// Reads the tokenizer of the GGUF file at `path`.
    public static func load(path: String) throws -> any TextTokenizer { try load(GGUFFile(path: path)) }

    static func loadByteLevel(_ file: GGUFFile) throws -> BPETokenizer {
        let path = file.path
        guard let tokens = file["tokenizer.ggml.tokens"]?.strings, !tokens.isEmpty else {
            throw ForgeError.file(path, "tokenizer.ggml.tokens is missing or empty")
        }
        let preName = file["tokenizer.ggml.pre"]?.string ?? "default"
        guard let pre = preTokenizer(named: preName) else {
            throw ForgeError.file(path, "unknown pre-tokenizer name '\(preName)' (tokenizer.ggml.pre)")
        }
        let types = file["tokenizer.ggml.token_type"]?.ints ?? []
        var merges: [(String, String)] = []
        for m in file["tokenizer.ggml.merges"]?.strings ?? [] {
            guard let space = m.firstIndex(of: " ") else { throw ForgeError.file(path, "merge \(String(reflecting: m)) is not two tokens") }
            merges.append((String(m[..<space]), String(m[m.index(after: space)...])))
        }
        var added: [AddedToken] = []
        var vocab: [(String, Int32)] = []
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            let type = i < types.count ? types[i] : 1
            // 3 control and 2 unknown: recognised only when asked; 4 user-defined: always.
            if type == 3 || type == 2 || type == 4 { added.append(AddedToken(id: Int32(i), content: t, special: type != 4)) }
            vocab.append((t, Int32(i)))
        }
        let model: BPEModel
        do { model = try BPEModel(vocab: vocab, merges: merges, ignoreMerges: pre.ignoreMerges, unkToken: nil) }
        catch let e as ForgeError { throw ForgeError.file(path, e.description) }
        let steps = try pre.regexes.map { PreTokenizerStep.split(try PatternMatcher(regex: $0), behavior: .isolated, invert: false) }
        // As a tokenizer.json this is: Sequence(Split(regex, Isolated)..., ByteLevel(use_regex: false)).
        let preJSON: [String: Any] = ["type": "Sequence", "pretokenizers":
            pre.regexes.map { ["type": "Split", "pattern": ["Regex": $0], "behavior": "Isolated", "invert": false] as [String: Any] }
            + [["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]]]
        let bos = file["tokenizer.ggml.bos_token_id"]?.int.map(Int32.init)
        let addBOS = file["tokenizer.ggml.add_bos_token"]?.bool ?? false
        let t = BPETokenizer(model: model, preTokenizer: PreTokenizer(steps: steps), preTokenizerJSON: preJSON, normalizer: nil,
                             addedTokens: added, prefixIds: addBOS ? bos.map { [$0] } ?? [] : [], origin: "\(path) (pre-tokenizer \(preName))")
        t.bosId = bos
        t.eosId = file["tokenizer.ggml.eos_token_id"]?.int.map(Int32.init)
        t.padId = file["tokenizer.ggml.padding_token_id"]?.int.map(Int32.init)
        return t
    }

    // MARK: - SentencePiece

    /// Texts llama.cpp makes control tokens wherever they occur (its end-of-generation list).
    static let endOfGenerationTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>",
        "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>",
        "<|tool_response>", "<\u{FF5C}end\u{2581}of\u{2581}sentence\u{FF5C}>", "[e~[",
    ]
    /// Fill-in-the-middle texts: when its id key is missing, llama.cpp makes the first one found a control token.
    static let fillInTheMiddleTexts: [(keys: [String], texts: [String])] = [
        (["fim_pre", "prefix"], ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\u{FF5C}fim\u{2581}begin\u{FF5C}>", "<PRE>",
                                 "\u{2581}<PRE>", "<|code_prefix|>", "<|prefix|>"]),
        (["fim_suf", "suffix"], ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\u{FF5C}fim\u{2581}hole\u{FF5C}>", "<SUF>",
                                 "\u{2581}<SUF>", "<|code_suffix|>", "<|suffix|>"]),
        (["fim_mid", "middle"], ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\u{FF5C}fim\u{2581}end\u{FF5C}>", "<MID>",
                                 "\u{2581}<MID>", "<|code_middle|>", "<|middle|>"]),
        (["fim_pad"], ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
        (["fim_rep"], ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
        (["fim_sep"], ["<|file_sep|>"]),
    ]

    /// Reads a SentencePiece vocabulary as llama.cpp's llama_vocab::load does for `tokenizer.ggml.model` "llama".
    static func loadSentencePiece(_ file: GGUFFile) throws -> SentencePieceTokenizer {
        let path = file.path
        func bad(_ key: String, _ problem: String) -> ForgeError { ForgeError.file(path, "\(key) \(problem)") }
        guard let tokenValues = file["tokenizer.ggml.tokens"]?.array, !tokenValues.isEmpty else {
            throw bad("tokenizer.ggml.tokens", "is missing or empty")
        }
        var tokens = tokenValues.compactMap(\.string)
        guard tokens.count == tokenValues.count else { throw bad("tokenizer.ggml.tokens", "holds values that are not strings") }
        let n = tokens.count
        guard let scoreValues = file["tokenizer.ggml.scores"]?.array else {
            throw bad("tokenizer.ggml.scores", "is missing (a SentencePiece vocabulary needs a score per token)")
        }
        let scores = scoreValues.compactMap { $0.double.map(Float.init) }
        guard scores.count == scoreValues.count else { throw bad("tokenizer.ggml.scores", "holds values that are not numbers") }
        guard scores.count >= n else { throw bad("tokenizer.ggml.scores", "has \(scores.count) values for \(n) tokens") }
        var attributes = [TokenAttributes](repeating: .normal, count: n)
        if let typeValues = file["tokenizer.ggml.token_type"]?.array {
            let types = typeValues.compactMap(\.int)
            guard types.count == typeValues.count else {
                throw bad("tokenizer.ggml.token_type", "holds values that are not integers")
            }
            guard types.count >= n else { throw bad("tokenizer.ggml.token_type", "has \(types.count) values for \(n) tokens") }
            for i in 0..<n { attributes[i] = TokenAttributes(ggufType: types[i]) }
        }
        for i in 0..<n where tokens[i].isEmpty { tokens[i] = "[EMPTY_\(i)]" }
        // Special ids: llama.cpp's SPM defaults (BOS 1, EOS 2, unknown 0) unless a key names one inside the vocabulary.
        func special(_ key: String, _ fallback: Int32?) -> Int32? {
            let valid = { (id: Int32?) in id.flatMap { $0 >= 0 && Int($0) < n ? $0 : nil } }
            return valid(file["tokenizer.ggml.\(key)_token_id"]?.int.map(Int32.init)) ?? valid(fallback)
        }
        let unk = special("unknown", 0)
        let model: SentencePieceModel
        do { model = try SentencePieceModel(tokens: tokens, scores: Array(scores.prefix(n)), unkId: unk) }
        catch let e as ForgeError { throw bad("tokenizer.ggml.tokens", e.description) }
        fixAttributes(&attributes, model: model, file: file)
        return SentencePieceTokenizer(
            model: model, attributes: attributes,
            bosId: special("bos", 1), eosId: special("eos", 2), unkId: unk, padId: special("padding", nil),
            addBOS: file["tokenizer.ggml.add_bos_token"]?.bool ?? true, addEOS: file["tokenizer.ggml.add_eos_token"]?.bool ?? false,
            addSpacePrefix: file["tokenizer.ggml.add_space_prefix"]?.bool ?? true, origin: "\(path) (SentencePiece)")
    }

    /// llama.cpp's corrections of token types by text: end-of-generation and fill-in-the-middle markers become
    /// control tokens, control tokens named "unused" unused, a few model-specific markers ordinary, and every
    /// special token of a Phi-3 strips the whitespace after it.
    static func fixAttributes(_ a: inout [TokenAttributes], model: SentencePieceModel, file: GGUFFile) {
        let idOf = { (t: String) in model.id(of: t) }
        for (keys, texts) in fillInTheMiddleTexts where !keys.contains(where: { file["tokenizer.ggml.\($0)_token_id"] != nil }) {
            if let id = texts.compactMap(idOf).min() { a[Int(id)].insert(.control) }
        }
        for (id, text) in model.tokens.enumerated() where a[id].contains(.control) && text.contains("unused") {
            a[id].insert(.unused)
        }
        for text in endOfGenerationTexts { if let id = idOf(text) { a[Int(id)].insert(.control) } }
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let id = idOf(text) { a[Int(id)] = .userDefined }
        }
        let has = { (t: String) in idOf(t) != nil }
        if let end = idOf("<|end|>"), has("<|return|>") && has("<|call|>") || has("<|calls|>") && has("<|flush|>") {
            a[Int(end)] = .userDefined
        }
        let eos = file["tokenizer.ggml.eos_token_id"]?.int
        if let s = idOf("</s>"), has("<|tool_response>") || (eos != nil && idOf("<|plamo:eos|>").map(Int.init) == eos) {
            a[Int(s)] = .normal
        }
        let name = (file["general.name"]?.string ?? "").lowercased()
        if name.contains("phi-3") || name.contains("phi3") {
            for i in a.indices where !a[i].isDisjoint(with: [.control, .userDefined, .unknown]) { a[i].insert(.rstrip) }
            if let id = idOf("</s>") { a[Int(id)].insert(.rstrip) }
            for t in ["<unk>", "<s>", "<|endoftext|>"] { if let id = idOf(t) { a[Int(id)].remove(.rstrip) } }
        }
    }
}
