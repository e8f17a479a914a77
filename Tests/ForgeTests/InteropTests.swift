// Formats against the reference libraries that read them: model.safetensors through Python's
// `safetensors` package, config.json with Hugging Face field names.
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation
import Testing

/// Runs a python3 script from Tests/python and parses its JSON output.
func runPython(_ script: String, _ args: [String], hint: String) throws -> Any {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", root.appendingPathComponent("python/" + script).path] + args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0, let json = try? JSONSerialization.jsonObject(with: data) else {
        throw ForgeError("python3 \(script) failed (\(hint)): \(errText)")
    }
    return json
}

/// `runPython` for scripts that print one JSON object.
func runPythonJSON(_ script: String, _ args: [String]) throws -> [String: Any] {
    guard let obj = try runPython(script, args, hint: "the test command installs numpy, safetensors and gguf") as? [String: Any] else {
        throw ForgeError("python3 \(script) did not print a JSON object")
    }
    return obj
}

@Suite struct InteropTests {
    @Test(arguments: [tinyGPT, tinyLlama])
    func pythonSafetensorsReadsTheModelDir(config: TransformerConfig) throws {
        let dir = temporaryDirectory("interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Transformer(config: config, seed: 9)
        perturbAll(model, seed: 10)
        try ModelDir.save(model, tokenizer: ByteTokenizer(), to: dir)
        let seen = try runPythonJSON("read_model_dir.py", [dir])
        let tensors = seen["tensors"] as! [String: [String: Any]]
        let expected = ModelDir.huggingFaceTensors(model)
        #expect(Set(tensors.keys) == Set(expected.map(\.0)))
        for (name, t) in expected {
            let info = tensors[name]!
            #expect(info["dtype"] as? String == "float32")
            #expect(info["shape"] as? [Int] == t.shape, "\(name) shape")
            let first = (info["first"] as! [Double]).map { Float($0) }
            #expect(first == Array(t.array.prefix(4)), "\(name) values")
            #expect(Float(info["last"] as! Double) == t.array.last!)
            let sum = t.array.reduce(0.0) { $0 + Double($1) }
            #expect(abs((info["sum"] as! Double) - sum) <= 1e-9 * max(1, abs(sum)), "\(name) sum")
        }
        // GPT-2's Conv1D weights are [in, out] in the file, as Hugging Face stores them.
        if config.architecture == .gpt2 {
            #expect(tensors["h.0.attn.c_attn.weight"]!["shape"] as? [Int] == [config.width, 3 * config.width])
        }
        let cfg = seen["config"] as! [String: Any]
        #expect(cfg["model_type"] as? String == config.architecture.rawValue)
        if config.architecture == .gpt2 {
            #expect(cfg["n_embd"] as? Int == config.width && cfg["n_layer"] as? Int == config.layers && cfg["n_head"] as? Int == config.heads)
        } else {
            #expect(cfg["hidden_size"] as? Int == config.width && cfg["num_key_value_heads"] as? Int == config.kvHeads)
            #expect(cfg["intermediate_size"] as? Int == config.ffnWidth && cfg["tie_word_embeddings"] as? Bool == config.tiedEmbeddings)
        }
    }
}
