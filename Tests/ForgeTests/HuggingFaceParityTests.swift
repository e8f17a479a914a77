// Parity with Hugging Face `tokenizers` (PyPI): a tokenizer.json written by Forge loads there and
// encodes every text to the same ids, and a tokenizer trained by `tokenizers` loads in Forge and does
// the same. Texts: the tricky fixtures plus random strings; special tokens both recognised and not.
import ForgeCore
import ForgeTokenizer
import Foundation
import Testing

/// Runs Tests/python/hf_tokenizers.py and parses its JSON output.
func hfTokenizers(_ args: [String]) throws -> Any {
    try runPython("hf_tokenizers.py", args, hint: "the test command installs `tokenizers`")
}

func compareWithHF(_ tok: BPETokenizer, path: String, texts: [String], dir: String) throws {
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
}
