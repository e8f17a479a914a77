// ModelDir: a model saved in the Hugging Face layout, readable by other tools: config.json (the family's
// field names), model.safetensors (Hugging Face tensor names and layouts), tokenizer.json,
// tokenizer_config.json (special tokens and the chat template), generation_config.json. Reads the same
// layout written by Hugging Face (F32, F16 or BF16 tensors, one file or shards with an index).
import ForgeAutograd
import ForgeCore
import ForgeTokenizer
import Foundation

/// Saving and loading model directories.
public enum ModelDir {
    static func transposed(_ t: Tensor) -> Tensor {
        let (r, c) = (t.shape[0], t.shape[1])
        let out = Tensor(shape: [c, r], zeroed: false)
        for i in 0..<r { for j in 0..<c { out.data[j * r + i] = t.data[i * c + j] } }
        return out
    }

    /// Tensors in Hugging Face layout for `model`.
    public static func huggingFaceTensors(_ model: Transformer) -> [(String, Tensor)] {
        zip(model.specs, model.parameters).map { spec, p in (p.name, spec.huggingFaceTransposed ? transposed(p.value) : p.value) }
    }

    /// Writes the model, its tokenizer and chat template to `dir`; each file is replaced atomically.
    public static func save(_ model: Transformer, tokenizer: TextTokenizer, chatTemplate: String? = nil, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let c = model.config
        let heads = model.heads.keys.sorted().map { ($0, model.heads[$0]!.value) }
        try SafeTensors(tensors: huggingFaceTensors(model) + heads, metadata: ["format": "pt"]).write(to: dir + "/model.safetensors")
        var config = model.family.huggingFaceConfig(c)
        if let score = model.heads["score.weight"], let causal = (config["architectures"] as? [String])?.first {
            // A reward model: Hugging Face's sequence classification class of the family, one label.
            config["architectures"] = [causal.replacingOccurrences(of: "ForCausalLM", with: "ForSequenceClassification")
                .replacingOccurrences(of: "LMHeadModel", with: "ForSequenceClassification")]
            config["num_labels"] = score.shape[0]
            config["id2label"] = ["0": "LABEL_0"]
            config["label2id"] = ["LABEL_0": 0]
            config["pad_token_id"] = (tokenizer as? BPETokenizer)?.padId.map(Int.init) ?? tokenizer.eosId.map(Int.init)
        }
        try writeJSON(config, to: dir + "/config.json")
        var generation: [String: Any] = ["_from_model_config": true]
        generation["bos_token_id"] = c.bosTokenId
        generation["eos_token_id"] = c.eosTokenId
        try writeJSON(generation, to: dir + "/generation_config.json")
        try tokenizer.save(to: dir + "/tokenizer.json")
        var tc: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c.contextLength,
                                 "clean_up_tokenization_spaces": false]
        let text = { (id: Int32) in String(decoding: tokenizer.bytes(of: [id]), as: UTF8.self) }
        tc["bos_token"] = tokenizer.bosId.map(text)
        tc["eos_token"] = tokenizer.eosId.map(text)
        tc["pad_token"] = (tokenizer as? BPETokenizer)?.padId.map(text)
        tc["add_bos_token"] = tokenizer.addsBOS
        tc["chat_template"] = chatTemplate
        try writeJSON(tc, to: dir + "/tokenizer_config.json")
    }

    static func writeJSON(_ object: [String: Any], to path: String) throws {
        try AtomicFile.write(path, data: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]))
    }

    /// The config of a model dir (config.json through its family's keys); errors name the file and the key.
    public static func loadConfig(from dir: String) throws -> TransformerConfig {
        let configPath = dir + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw ForgeError.file(configPath, FileManager.default.fileExists(atPath: dir) ? "no such file" : "model directory does not exist")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ForgeError.file(configPath, "not a JSON object")
        }
        do {
            var keys = ConfigKeys(json: json)
            // Multimodal Gemma 3 configs keep the language model's keys under text_config.
            if let text = json["text_config"] as? [String: Any] {
                var merged = text
                merged["model_type"] = text["model_type"] ?? json["model_type"]
                keys = ConfigKeys(json: merged)
            }
            guard let type = try keys.string("model_type") else { throw ForgeError("missing field 'model_type'") }
            let config = try Architectures.forModelType(type).config(huggingFace: keys)
            try config.validate()
            try config.checkFitsInMemory()  // a model dir is read in Float32
            return config
        } catch let e as ForgeError {
            throw ForgeError.file(configPath, e.description)
        }
    }

    /// Reads config.json and the safetensors weights of `dir`; errors name the file and the mismatch.
    public static func loadModel(from dir: String) throws -> Transformer {
        let config = try loadConfig(from: dir)
        let family = try config.family
        let specs = family.parameters(config)
        let transposedInHF = Set(specs.filter(\.huggingFaceTransposed).map(\.name))
        let wanted = Set(specs.map(\.name))
        var weights: [String: Tensor] = [:], heads: [String: Tensor] = [:]
        let files = try weightFiles(dir)
        for path in files {
            let file = try SafeTensors.read(from: path)
            for (name, t) in file.tensors {
                var key = name
                if family.ignoresTensor(key) { continue }
                for prefix in ["transformer.", "language_model.", "bert."] where key.hasPrefix(prefix) { key = String(key.dropFirst(prefix.count)) }
                if !wanted.contains(key) && wanted.contains("model." + key) { key = "model." + key }
                if family.ignoresTensor(key) { continue }
                if config.tiedEmbeddings && key == "lm_head.weight" { continue }
                if key.hasSuffix(".attn.bias") || key.hasSuffix(".attn.masked_bias") { continue }  // old GPT-2 mask buffers
                if key.hasPrefix("vision_tower.") || key.hasPrefix("multi_modal_projector.") { continue }
                if Transformer.headNames.contains(key) { heads[key] = t; continue }
                if transposedInHF.contains(key) {
                    guard t.shape.count == 2 else { throw ForgeError.file(path, "tensor '\(name)' is not a matrix: \(t.shape)") }
                    weights[key] = transposed(t)
                } else {
                    weights[key] = t
                }
            }
        }
        do {
            let model = try Transformer(config: config, weights: weights)
            for (name, t) in heads {
                guard t.shape.count == 2, t.shape[1] == config.width else { throw ForgeError("head '\(name)' has shape \(t.shape), not [n, \(config.width)]") }
                model.heads[name] = Variable(t, requiresGrad: true, name: name)
            }
            return model
        } catch let e as ForgeError { throw ForgeError("\(files.count == 1 ? files[0] : dir) does not fit config.json: \(e.description)") }
    }

    /// model.safetensors, or the shards listed by model.safetensors.index.json.
    static func weightFiles(_ dir: String) throws -> [String] {
        let single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: single) { return [single] }
        guard let data = FileManager.default.contents(atPath: index) else { throw ForgeError.file(single, "no such file") }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else { throw ForgeError.file(index, "no weight_map") }
        return Set(map.values).sorted().map { dir + "/" + $0 }
    }

    /// Reads the tokenizer of a model dir, with the special tokens tokenizer_config.json names.
    public static func loadTokenizer(from dir: String) throws -> TextTokenizer {
        try TokenizerJSON.load(modelDir: dir)
    }

    /// The chat template text of a model dir (tokenizer_config.json or chat_template.jinja), if any.
    public static func chatTemplateSource(_ dir: String) -> String? {
        if let data = FileManager.default.contents(atPath: dir + "/tokenizer_config.json"),
           let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let s = json["chat_template"] as? String {
            return s
        }
        return FileManager.default.contents(atPath: dir + "/chat_template.jinja").map { String(decoding: $0, as: UTF8.self) }
    }
}
