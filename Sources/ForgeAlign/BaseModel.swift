// BaseModel: the model a post-training run starts from (a GGUF file or a model dir), as a trainable Float32
// Transformer with its tokenizer and chat template.
import ForgeCore
import ForgeModels
import ForgeTokenizer
import Foundation

public struct BaseModel {
    public let transformer: Transformer
    public let tokenizer: TextTokenizer
    /// The model's own chat template source, if it has one.
    public let chatTemplate: String?

    public init(transformer: Transformer, tokenizer: TextTokenizer, chatTemplate: String?) {
        (self.transformer, self.tokenizer, self.chatTemplate) = (transformer, tokenizer, chatTemplate)
    }

    /// Loads a .gguf file (dequantized to Float32, or with `stored` its matrices left in their stored types, frozen:
    /// a base for LoRA only) or a Hugging Face / Forge model dir.
    public static func load(_ path: String, stored: Bool = false) throws -> BaseModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ForgeError.file(path, "no such file or directory") }
        if isDir.boolValue {
            if stored { throw ForgeError.file(path, "a quantized base (--qlora) must be a .gguf file") }
            return BaseModel(transformer: try ModelDir.loadModel(from: path), tokenizer: try ModelDir.loadTokenizer(from: path),
                             chatTemplate: ModelDir.chatTemplateSource(path))
        }
        let file = try GGUFFile(path: path)
        return BaseModel(transformer: try stored ? GGUFModel.storedTransformer(file) : GGUFModel.transformer(file), tokenizer: try GGUFVocab.load(file),
                         chatTemplate: file["tokenizer.chat_template"]?.string)
    }

    /// The token that fills the end of a sequence: the tokenizer's pad token, else end-of-sequence, else 0.
    public var padToken: Int32 { (tokenizer as? BPETokenizer)?.padId ?? tokenizer.eosId ?? 0 }

    /// The encoder for this model: its own template, else Forge's (a vocabulary with <|user|>, <|assistant|> and
    /// <|end|>, as Forge's BPE trainer makes), else ChatML (a vocabulary with its markers).
    public func chatEncoder() throws -> ChatEncoder {
        do { return ChatEncoder(template: try ChatTemplate(try templateSource()), tokenizer: tokenizer) }
        catch let e as ChatTemplateError { throw ForgeError("chat template: \(e.description)") }
    }

    /// The template fine-tuning renders with and writes into the model dir.
    public func templateSource() throws -> String {
        if let chatTemplate { return chatTemplate }
        if ["<|user|>", "<|assistant|>", "<|end|>"].allSatisfy({ tokenizer.id(of: $0) != nil }) { return ChatEncoder.forgeTemplate }
        guard tokenizer.id(of: "<|im_start|>") != nil, tokenizer.id(of: "<|im_end|>") != nil else {
            throw ForgeError("the model has no chat template and its vocabulary has neither Forge's <|user|>/<|assistant|>/<|end|> nor ChatML's markers")
        }
        return ChatEncoder.chatML
    }
}
