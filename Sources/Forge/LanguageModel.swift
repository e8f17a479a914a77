// Forge, the library: what a Swift program needs to use a model. Load a GGUF file or a model dir (or wrap a model
// trained in memory), generate text (all at once or streamed), and chat with the model's own template. The
// `forge` command line is written on this API.
//
//     import Forge
//     let model = try LanguageModel.load("SmolLM2-135M-Instruct.Q4_1.gguf")
//     print(try model.generate("The capital of France is", maxTokens: 16))
//     let chat = model.chat(system: "You are concise.")
//     print(try chat.send("Name three primary colors."))
@_exported import ForgeInference
@_exported import ForgeModels
@_exported import ForgeTokenizer
import ForgeCore
import Foundation

/// A model with its tokenizer and chat template, ready to generate.
public final class LanguageModel {
    /// Weights, tokenizer, chat template and end-of-turn tokens.
    public let loaded: LoadedModel
    /// Positions a generation may use (prompt and reply).
    public let contextLength: Int
    public let cacheType: KVCacheType
    let generator: Generator

    /// Opens a `.gguf` file or a model directory; `contextLength` defaults to the model's (the cache is paged: memory
    /// is used as the conversation grows); `lora` is a PEFT LoRA adapter dir applied without merging.
    public static func load(_ path: String, lora: String? = nil, contextLength: Int? = nil, cacheType: KVCacheType = .f16) throws -> LanguageModel {
        try LanguageModel(try LoadedModel.open(path, lora: lora), contextLength: contextLength, cacheType: cacheType)
    }

    /// A model trained in memory (its tensors are used in place, no copy) with its tokenizer.
    public convenience init(_ trained: Transformer, tokenizer: TextTokenizer, chatTemplate: ChatTemplate? = nil,
                            contextLength: Int? = nil) throws {
        let model = try InferenceModel(trained)
        try self.init(LoadedModel(model: model, tokenizer: tokenizer, chatTemplate: chatTemplate), contextLength: contextLength)
    }

    public init(_ loaded: LoadedModel, contextLength: Int? = nil, cacheType: KVCacheType = .f16) throws {
        self.loaded = loaded
        self.contextLength = contextLength ?? loaded.model.config.contextLength
        self.cacheType = cacheType
        generator = try loaded.generator(contextLength: self.contextLength, cacheType: cacheType)
    }

    /// Memory the key/value cache holds now (blocks are allocated as the conversation grows).
    public var cacheUsage: KVCacheUsage { generator.session.engine.cache.usage }

    /// "SmolLM2-135M-Instruct.Q4_1.gguf (llama, 30 layers, Q4_1/Q8_0)".
    public var summary: String { loaded.model.summary }

    /// Token ids of `text` (a leading BOS when the model adds one; marker tokens written in the text count as such
    /// when `special`).
    public func encode(_ text: String, special: Bool = false) -> [Int32] { loaded.encode(text, special: special) }

    /// The text of token ids.
    public func decode(_ ids: [Int32]) -> String { loaded.tokenizer.decode(ids) }

    /// Continues `prompt`; `onText` receives the reply as it is produced (whole characters) and returns false to stop.
    public func generate(_ prompt: String, settings: GenerationSettings = GenerationSettings(), special: Bool = true,
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        try generate(tokens: encode(prompt, special: special), settings: settings, onText: onText)
    }

    /// Continues a prompt given as token ids.
    public func generate(tokens: [Int32], settings: GenerationSettings = GenerationSettings(),
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        try generator.generate(prompt: tokens, settings: settings, onText: onText)
    }

    /// The continuation of `prompt` as text: greedy unless `temperature` is set.
    public func generate(_ prompt: String, maxTokens: Int, temperature: Float = 0, seed: UInt64 = 0) throws -> String {
        var s = GenerationSettings()
        s.maxTokens = maxTokens
        s.sampling.temperature = temperature
        s.sampling.seed = seed
        return try generate(prompt, settings: s).text
    }

    /// The continuation of `prompt` as an asynchronous sequence of text pieces.
    public func stream(_ prompt: String, settings: GenerationSettings = GenerationSettings()) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            do {
                _ = try generate(prompt, settings: settings) { piece in
                    continuation.yield(piece)
                    return true
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }

    /// A conversation with this model, in its own chat template.
    public func chat(system: String? = nil) -> ChatSession { ChatSession(model: self, system: system) }
}
