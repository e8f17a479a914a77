// llama.cpp's own tokenizer test vectors: every byte-level BPE and SentencePiece vocabulary shipped in the
// PyPI source package llama-cpp-python==0.3.36 (fetched by scripts/fetch_llama_vocab.py, not committed)
// encodes each .inp text to exactly the ids in .out (add_special = false, parse_special = false).
import ForgeCore
import ForgeTokenizer
import Foundation
import Testing

/// Where scripts/fetch_llama_vocab.py put llama.cpp's models directory.
let llamaModelsDir: String = ProcessInfo.processInfo.environment["FORGE_LLAMA_MODELS"]
    ?? (NSHomeDirectory() + "/.cache/forge/llama-cpp-python-0.3.36/models")

/// The (text, expected ids) pairs of one vocabulary's .inp/.out files.
func llamaVectors(_ name: String) throws -> [(String, [Int32])] {
    let base = llamaModelsDir + "/ggml-vocab-\(name).gguf"
    guard let inp = FileManager.default.contents(atPath: base + ".inp"), let out = FileManager.default.contents(atPath: base + ".out") else {
        throw ForgeError("llama.cpp test vectors missing in \(llamaModelsDir): run python3 scripts/fetch_llama_vocab.py (the test command does)")
    }
    let texts = String(decoding: inp, as: UTF8.self).components(separatedBy: "\n__ggml_vocab_test__\n")
    var lines = String(decoding: out, as: UTF8.self).components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    var cases: [(String, [Int32])] = []
    for (t, line) in zip(texts, lines) {
        cases.append((t, line.split(separator: " ").compactMap { Int32($0) }))
    }
    #expect(texts.count == lines.count || texts.count == lines.count + 1, "\(name): \(texts.count) inputs, \(lines.count) outputs")
    return cases
}

@Suite struct LlamaVocabTests {
    static let byteLevelVocabs = ["gpt-2", "llama-bpe", "qwen2", "qwen35", "starcoder", "refact", "command-r",
                                  "deepseek-llm", "deepseek-coder", "falcon", "mpt"]
    static let sentencePieceVocabs = ["llama-spm", "phi-3"]

    @Test(arguments: byteLevelVocabs + sentencePieceVocabs)
    func encodesExactlyAsLlamaCpp(name: String) throws {
        let tok = try GGUFVocab.load(path: llamaModelsDir + "/ggml-vocab-\(name).gguf")
        var failures = 0
        let cases = try llamaVectors(name)
        for (text, expected) in cases {
            let got = tok.encode(text)
            if got != expected {
                failures += 1
                if failures <= 3 { Issue.record("\(name): \(String(reflecting: text))\n got \(got)\nwant \(expected)") }
            }
            // Decoding gives the text back (these vocabularies are lossless on valid UTF-8; SentencePiece ones drop
            // the space they put in front).
            if got == expected && tok.decode(got) != text {
                Issue.record("\(name): decode(encode(x)) != x for \(String(reflecting: text))")
            }
        }
        #expect(failures == 0, "\(name): \(failures) of \(cases.count) texts differ")
    }

    @Test func otherVocabulariesAreClearlyRefused() throws {
        for name in ["bert-bge"] {
            #expect(throws: ForgeError.self) { try GGUFVocab.load(path: llamaModelsDir + "/ggml-vocab-\(name).gguf") }
        }
    }
}
