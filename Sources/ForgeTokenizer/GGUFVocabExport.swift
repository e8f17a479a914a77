// GGUFVocabExport: a byte-level BPE tokenizer as GGUF `tokenizer.ggml.*` metadata (the inverse of
// GGUFVocab.loadByteLevel): tokens in id order, token types (added special tokens control, other added tokens
// user-defined), merges as "a b", the special token ids and the llama.cpp pre-tokenizer name whose regexes
// split text as this tokenizer does. A pre-tokenizer with no llama.cpp name is refused: llama.cpp would split
// text differently and the file would encode prompts unlike the model was trained on.
import ForgeCore

extension GGUFVocab {
    /// The names tried, in order, when naming a tokenizer's pre-tokenizer for llama.cpp.
    static let exportNames = ["gpt-2", "smollm", "llama-bpe", "qwen2", "default", "falcon", "deepseek-coder", "gpt-4o", "tekken"]

    /// The llama.cpp pre-tokenizer name of `t`, or an error describing its pre-tokenizer.
    public static func llamaCppPreTokenizerName(_ t: BPETokenizer) throws -> String {
        guard t.normalizer == nil else {
            throw ForgeError("the tokenizer has a normalizer; llama.cpp's byte-level BPE has none, so it has no GGUF form")
        }
        var regexes: [String] = []
        for step in t.preTokenizer.steps {
            switch step {
            case .split(let m, let behavior, let invert):
                guard behavior == .isolated, !invert else {
                    throw ForgeError("the tokenizer's Split pre-tokenizer (\(behavior.rawValue)\(invert ? ", inverted" : "")) has no llama.cpp form")
                }
                regexes.append(m.pattern)
            case .byteLevel(let prefix, let useRegex):
                guard !prefix else { throw ForgeError("the tokenizer adds a prefix space (ByteLevel add_prefix_space), which llama.cpp's BPE does not") }
                if useRegex { regexes.append(gpt2) }
            }
        }
        // A final `|\s+` alternative changes nothing when unmatched text is kept as pieces (Isolated splitting).
        let normalized = regexes.map { $0.hasSuffix(#"|\s+(?!\S)|\s+"#) && $0.hasPrefix("'s|'t|'re") ? String($0.dropLast(4)) : $0 }
        for name in exportNames {
            if let spec = preTokenizer(named: name), spec.regexes == normalized, spec.ignoreMerges == t.model.ignoreMerges { return name }
        }
        throw ForgeError("the tokenizer's pre-tokenizer (regexes \(regexes), ignore_merges \(t.model.ignoreMerges)) matches no pre-tokenizer llama.cpp knows")
    }

    /// `tokenizer.ggml.*` metadata for a byte-level BPE tokenizer, with an optional chat template.
    public static func ggufMetadata(_ tokenizer: any TextTokenizer, chatTemplate: String?) throws -> [(String, GGUFTypedValue)] {
        guard let t = tokenizer as? BPETokenizer else {
            throw ForgeError("only BPE tokenizers (byte-level, or SentencePiece-style with byte fallback) are written to GGUF (this one is \(type(of: tokenizer)))")
        }
        if t.model.byteFallback { return try sentencePieceMetadata(t, chatTemplate: chatTemplate) }
        let pre = try llamaCppPreTokenizerName(t)
        let n = t.vocabSize
        var tokens = [String](repeating: "", count: n), types = [Int32](repeating: 1, count: n)
        var filled = [Bool](repeating: false, count: n)
        for (i, s) in t.model.tokenStrings.enumerated() where i < n { tokens[i] = s; filled[i] = true }
        for a in t.addedTokens where Int(a.id) < n {
            tokens[Int(a.id)] = a.content
            types[Int(a.id)] = a.special ? 3 : 4
            filled[Int(a.id)] = true
        }
        for i in 0..<n where !filled[i] { tokens[i] = "[PAD\(i)]"; types[i] = 5 }
        let merges = t.model.merges.map { t.model.tokenStrings[Int($0.0)] + " " + t.model.tokenStrings[Int($0.1)] }
        var m: [(String, GGUFTypedValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .strings(tokens)), ("tokenizer.ggml.token_type", .int32s(types)),
            ("tokenizer.ggml.merges", .strings(merges)),
        ]
        if let b = t.bosId { m.append(("tokenizer.ggml.bos_token_id", .u32(UInt32(b)))) }
        if let e = t.eosId { m.append(("tokenizer.ggml.eos_token_id", .u32(UInt32(e)))) }
        if let p = t.padId { m.append(("tokenizer.ggml.padding_token_id", .u32(UInt32(p)))) }
        m.append(("tokenizer.ggml.add_bos_token", .bool(t.addsBOS)))
        if let c = chatTemplate { m.append(("tokenizer.chat_template", .string(c))) }
        return m
    }

    /// A SentencePiece-style vocabulary (BPE with byte fallback, as Hugging Face stores Gemma's and Llama 2's) as
    /// llama.cpp's SentencePiece model (`tokenizer.ggml.model` "llama"): tokens, token types (byte tokens, unknown,
    /// control and user-defined added tokens) and scores. The scores are rebuilt from the merges: a token made by the
    /// merge of rank r scores −r, so llama.cpp's highest-score-first bigram merging takes the merges in the BPE's
    /// order (the merges list every split of a token into two tokens, which is how the Hugging Face conversion wrote
    /// them from the original scores). The export reads the result back and compares encodings before it finishes.
    static func sentencePieceMetadata(_ t: BPETokenizer, chatTemplate: String?) throws -> [(String, GGUFTypedValue)] {
        let n = t.vocabSize, strings = t.model.tokenStrings
        var tokens = [String](repeating: "", count: n), types = [Int32](repeating: 1, count: n)
        for (i, s) in strings.enumerated() where i < n {
            tokens[i] = s
            if s.count == 6, s.hasPrefix("<0x"), s.hasSuffix(">"), UInt8(s.dropFirst(3).prefix(2), radix: 16) != nil { types[i] = 6 }
        }
        var filled = Set(0..<min(n, strings.count))
        for a in t.addedTokens where Int(a.id) < n {
            tokens[Int(a.id)] = a.content
            types[Int(a.id)] = a.special ? 3 : 4
            filled.insert(Int(a.id))
        }
        for i in 0..<n where !filled.contains(i) { tokens[i] = "[PAD\(i)]"; types[i] = 5 }
        if let u = t.model.unkId, Int(u) < n { types[Int(u)] = 2 }
        var scores = [Float](repeating: 0, count: n), scored = [Bool](repeating: false, count: n)
        for (rank, (a, b)) in t.model.merges.enumerated() {
            guard let m = t.model.id(ofBytes: Array((strings[Int(a)] + strings[Int(b)]).utf8)), Int(m) < n, !scored[Int(m)] else { continue }
            scores[Int(m)] = -Float(rank)
            scored[Int(m)] = true
        }
        // Tokens no merge makes (single characters, bytes, added tokens) are never bigram results; below every merge.
        let floor = -Float(t.model.merges.count + 1)
        for i in 0..<n where !scored[i] { scores[i] = floor }
        var prefix = false
        func visit(_ x: Normalizer?) {
            switch x {
            case .prepend(let p)?: if p == "\u{2581}" { prefix = true }
            case .sequence(let list)?: list.forEach(visit)
            default: break
            }
        }
        visit(t.normalizer)
        var m: [(String, GGUFTypedValue)] = [
            ("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .strings(tokens)), ("tokenizer.ggml.scores", .float32s(scores)),
            ("tokenizer.ggml.token_type", .int32s(types)),
        ]
        if let b = t.bosId { m.append(("tokenizer.ggml.bos_token_id", .u32(UInt32(b)))) }
        if let e = t.eosId { m.append(("tokenizer.ggml.eos_token_id", .u32(UInt32(e)))) }
        if let u = t.model.unkId { m.append(("tokenizer.ggml.unknown_token_id", .u32(UInt32(u)))) }
        if let p = t.padId { m.append(("tokenizer.ggml.padding_token_id", .u32(UInt32(p)))) }
        m += [("tokenizer.ggml.add_bos_token", .bool(t.addsBOS)), ("tokenizer.ggml.add_eos_token", .bool(false)),
              ("tokenizer.ggml.add_space_prefix", .bool(prefix))]
        if let c = chatTemplate { m.append(("tokenizer.chat_template", .string(c))) }
        return m
    }
}
