// ModelDir: a model saved in the Hugging Face layout, readable by other tools:
// config.json (HF field names), model.safetensors (HF tensor names and layouts), tokenizer.json,
// generation_config.json. GPT-2's Conv1D matrices are stored [in, out] there, [out, in] in Forge.
import ForgeCore
import ForgeTokenizer
import Foundation

/// Saving and loading model directories.
public enum ModelDir {
    /// GPT-2 parameters that Hugging Face stores transposed (Conv1D).
    static func isConv1D(_ name: String, _ arch: TransformerConfig.Architecture) -> Bool {
        arch == .gpt2 && name.hasSuffix(".weight") && (name.contains(".attn.c_") || name.contains(".mlp.c_"))
    }

    static func transposed(_ t: Tensor) -> Tensor {
        let (r, c) = (t.shape[0], t.shape[1])
        let out = Tensor(shape: [c, r], zeroed: false)
        for i in 0..<r { for j in 0..<c { out.data[j * r + i] = t.data[i * c + j] } }
        return out
    }

    /// Tensors in Hugging Face layout for `model`.
    public static func huggingFaceTensors(_ model: Transformer) -> [(String, Tensor)] {
        model.parameters.map { p in
            (p.name, isConv1D(p.name, model.config.architecture) ? transposed(p.value) : p.value)
        }
    }

    /// Writes the model (and tokenizer) to `dir`; each file is replaced atomically.
    public static func save(_ model: Transformer, tokenizer: TextTokenizer, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SafeTensors(tensors: huggingFaceTensors(model), metadata: ["format": "pt"]).write(to: dir + "/model.safetensors")
        try AtomicFile.write(dir + "/config.json", data: try encoder.encode(model.config))
        var generation: [String: Any] = ["_from_model_config": true]
        if let b = model.config.bosTokenId { generation["bos_token_id"] = b }
        if let e = model.config.eosTokenId { generation["eos_token_id"] = e }
        try AtomicFile.write(dir + "/generation_config.json",
                             data: try JSONSerialization.data(withJSONObject: generation, options: [.prettyPrinted, .sortedKeys]))
        try tokenizer.save(to: dir + "/tokenizer.json")
    }

    /// Reads config.json and model.safetensors from `dir`; errors name the file and the mismatch.
    public static func loadModel(from dir: String) throws -> Transformer {
        let configPath = dir + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw ForgeError.file(configPath, FileManager.default.fileExists(atPath: dir) ? "no such file" : "model directory does not exist")
        }
        let config: TransformerConfig
        do { config = try JSONDecoder().decode(TransformerConfig.self, from: data) }
        catch let e as ForgeError { throw ForgeError.file(configPath, e.description) }
        catch { throw ForgeError.file(configPath, "invalid config: \(describe(error))") }
        let weightsPath = dir + "/model.safetensors"
        let file = try SafeTensors.read(from: weightsPath)
        var weights: [String: Tensor] = [:]
        for (name, t) in file.tensors {
            let key = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            if config.tiedEmbeddings && key == "lm_head.weight" { continue }
            if key.hasSuffix(".attn.bias") || key.hasSuffix(".attn.masked_bias") { continue }  // old GPT-2 mask buffers
            if isConv1D(key, config.architecture) {
                guard t.shape.count == 2 else { throw ForgeError.file(weightsPath, "tensor '\(name)' is not a matrix: \(t.shape)") }
                weights[key] = transposed(t)
            } else {
                weights[key] = t
            }
        }
        do { return try Transformer(config: config, weights: weights) }
        catch let e as ForgeError { throw ForgeError("\(weightsPath) does not fit config.json: \(e.description)") }
    }

    /// Reads the tokenizer of a model dir.
    public static func loadTokenizer(from dir: String) throws -> TextTokenizer {
        try TokenizerJSON.load(from: dir + "/tokenizer.json")
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "bad value at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let ctx): return "not valid JSON (\(ctx.debugDescription))"
        default: return "\(error)"
        }
    }
}
