// Parity with Hugging Face `tokenizers` (PyPI): a tokenizer.json written by Forge loads there and
// encodes every text to the same ids, and a tokenizer trained by `tokenizers` loads in Forge and does
// the same; a SentencePiece vocabulary from a GGUF, written in Hugging Face's form (byte-fallback BPE),
// encodes there and read back by Forge as Forge encodes it from the GGUF. Texts: the tricky fixtures
// plus random strings; special tokens both recognised and not.
import ForgeCore
import ForgeTokenizer
import Foundation
import Testing

/// Runs Tests/python/hf_tokenizers.py and parses its JSON output.
func hfTokenizers(_ args: [String]) throws -> Any {
    try runPython("hf_tokenizers.py", args, hint: "the test command installs `tokenizers`")
}

func compareWithHF(_ tok: any TextTokenizer, path: String, texts: [String], dir: String) throws {
    let textsPath = dir + "/texts.json"
    try JSONSerialization.data(withJSONObject: texts).write(to: URL(fileURLWithPath: textsPath))
    for special in [false, true] {
        let theirs = try hfTokenizers(["encode", path, textsPath] + (special ? ["--special"] : [])) as! [[Int]]
        var differ = 0
        for (i, text) in texts.enumerated() {
            let ours = tok.encode(text, allowSpecial: special).map(Int.init)
            if ours != theirs[i] {
                differ += 1
                if differ <= 3 { Issue.record("special=\(special) \(String(reflecting: text))\nforge \(ours)\n  hf \(theirs[i])") }
            }
        }
        #expect(differ == 0, "\(differ) of \(texts.count) texts differ (special tokens recognised: \(special))")
    }
}

@Suite(.serialized) struct HuggingFaceParityTests {
    static let texts = trickyTexts + randomTexts(400, seed: 21) + ["a <|eos|> b<|bos|>c", "<|endoftext|>x <|endoftext|>"]

    @Test(arguments: [BPETrainingOptions.gpt2Pattern, BPETrainingOptions.llama3Pattern])
    func forgeTrainedTokenizerEncodesTheSameInHF(pattern: String) throws {
        let dir = temporaryDirectory("hf-forge")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = BPETrainingOptions()
        options.vocabSize = 1000
        options.pattern = pattern
        let corpus = trickyTexts + randomTexts(2000, seed: 22) + Array(repeating: "To be, or not to be, that is the question: 1234 5678", count: 50)
        let tok = try BPETrainer.train(try BPETrainer.count(corpus, pattern: pattern), options: options)
        try tok.save(to: dir + "/tokenizer.json")
        try compareWithHF(tok, path: dir + "/tokenizer.json", texts: Self.texts, dir: dir)
    }

    @Test func hfTrainedTokenizerEncodesTheSameInForge() throws {
        let dir = temporaryDirectory("hf-trained")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpusPath = dir + "/corpus.txt"
        try (trickyTexts + randomTexts(2000, seed: 23)).joined(separator: "\n").write(toFile: corpusPath, atomically: true, encoding: .utf8)
        _ = try hfTokenizers(["train", dir + "/hf.json", "800", corpusPath])
        let tok = try TokenizerJSON.load(from: dir + "/hf.json")
        try compareWithHF(tok, path: dir + "/hf.json", texts: Self.texts, dir: dir)
    }

    /// The Hugging Face form of a GGUF SentencePiece vocabulary: `tokenizers` and Forge's tokenizer.json reader
    /// both encode as the GGUF tokenizer does (itself llama.cpp's, see LlamaVocabTests and SentencePieceTests).
    func checkSentencePieceForm(_ gguf: String, texts: [String]) throws {
        let dir = temporaryDirectory("hf-spm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tok = try GGUFVocab.load(path: gguf)
        try tok.save(to: dir + "/tokenizer.json")
        try compareWithHF(tok, path: dir + "/tokenizer.json", texts: texts, dir: dir)
        let back = try TokenizerJSON.load(from: dir + "/tokenizer.json")
        #expect(back.vocabSize == tok.vocabSize && back.bosId == tok.bosId && back.addsBOS == tok.addsBOS)
        var differ = 0
        for text in texts {
            for special in [false, true] where back.encode(text, allowSpecial: special) != tok.encode(text, allowSpecial: special) {
                differ += 1
                if differ <= 3 { Issue.record("read back, special=\(special) \(String(reflecting: text))") }
            }
            if roundTrips(text) && back.decode(back.encode(text)) != text { Issue.record("read back: round trip \(String(reflecting: text))") }
        }
        #expect(differ == 0, "\(differ) of \(texts.count * 2) encodings differ once read back from tokenizer.json")
        // The same vocabulary as transformers assembles Gemma's (Split pre-tokenizer, no Prepend, no Strip),
        // written by tokenizers itself: Forge reads it and encodes as tokenizers does.
        _ = try hfTokenizers(["gemma-style", dir + "/hf.json", dir + "/tokenizer.json"])
        try compareWithHF(try TokenizerJSON.load(from: dir + "/hf.json"), path: dir + "/hf.json", texts: texts, dir: dir)
    }

    @Test func llamaSentencePieceFormEncodesTheSameInHFAndForge() throws {
        try checkSentencePieceForm(llamaModelsDir + "/ggml-vocab-llama-spm.gguf", texts: Self.texts + sentencePieceTexts)
    }

    @Test(.enabled(if: gemma3Path != nil, gemma3Missing))
    func gemma3SentencePieceFormEncodesTheSameInHFAndForge() throws {
        try checkSentencePieceForm(try #require(gemma3Path), texts: Self.texts + sentencePieceTexts)
    }
}
