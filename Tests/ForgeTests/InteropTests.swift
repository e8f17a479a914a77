// Formats against the reference libraries that read and write them: model.safetensors through Python's
// `safetensors` package, config.json with Hugging Face field names, GGUF files written by the `gguf` package.
import ForgeCore
import ForgeKernels
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

    /// A GGUF written by the `gguf` package (every metadata value type, arrays, alignment 64, a tensor of each
    /// type Forge runs) reads back as the package reads it, and so does the same file marked version 2.
    @Test func ggufFromTheReferenceWriter() throws {
        let dir = temporaryDirectory("gguf-writer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/all.gguf"
        let want = try runPythonJSON("gguf_write_all.py", [path])
        var v2 = try Data(contentsOf: URL(fileURLWithPath: path))
        v2[4] = 2
        try v2.write(to: URL(fileURLWithPath: dir + "/v2.gguf"))
        for (file, version) in [(try GGUFFile(path: path), 3), (try GGUFFile(path: dir + "/v2.gguf"), 2)] {
            #expect(file.version == UInt32(version) && file.alignment == 64)
            let meta = want["metadata"] as! [String: Any]
            for key in ["t.u8", "t.u16", "t.u32"] { #expect(file[key] == .uint(UInt64(meta[key] as! Int)), "\(key)") }
            for key in ["t.i8", "t.i16", "t.i32", "t.i64"] { #expect(file[key] == .int(Int64(meta[key] as! Int)), "\(key)") }
            #expect(file["t.u64"] == .uint((meta["t.u64"] as! NSNumber).uint64Value))
            #expect(file["t.f32"] == .float(Double(Float(meta["t.f32"] as! Double))))
            #expect(file["t.f64"] == .float(meta["t.f64"] as! Double))
            #expect(file["t.bool"] == .bool(true) && file["t.str"]?.string == meta["t.str"] as? String)
            #expect(file["t.ints"]?.ints == meta["t.ints"] as? [Int])
            #expect(file["t.strs"]?.strings == meta["t.strs"] as? [String])
            #expect(file["t.floats"]?.array?.compactMap(\.double) == meta["t.floats"] as? [Double])
            let tensors = want["tensors"] as! [String: [String: Any]]
            #expect(Set(file.tensors.map(\.name)) == Set(tensors.keys))
            for info in file.tensors {
                let ref = tensors[info.name]!
                #expect(info.dims == ref["dims"] as! [Int] && "\(info.type)".uppercased() == ref["type"] as! String, "\(info.name)")
                #expect(info.fileOffset % 64 == 0, "\(info.name) at \(info.fileOffset)")
                var values = [Float](repeating: 0, count: info.elementCount)
                file.withBytes(of: info) { raw in
                    values.withUnsafeMutableBufferPointer { QuantBlocks.dequantize(info.type, raw.baseAddress!, $0.baseAddress!, count: info.elementCount) }
                }
                // Unquantized types exactly; blocks to Float32 rounding (gguf multiplies and adds where Forge fuses).
                let refValues = ref["values"] as! [Double]
                if [.f32, .f16, .bf16].contains(info.type) {
                    #expect(values == refValues.map(Float.init), "\(info.name) values")
                } else {
                    #expect(relativeError(values.map(Double.init), refValues) < 1e-6, "\(info.name) values")
                }
            }
        }
    }
}
